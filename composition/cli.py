"""The ``llmport`` command: ``llmport chat "prompt"``, ``llmport config``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence

from llmport.domain import CompletionRequest, LLMError, Message, StreamEnd, TextDelta, Usage, UsageUpdate

from .container import open_llm
from .money_cli import models_command, usage_command
from .providers_cli import providers_command
from .settings import SettingsError, is_secret_header, load_settings


async def _chat(prompt: str, model: str, system: str | None) -> int:
    request = CompletionRequest(model=model, messages=[Message.user(prompt)], system=system)
    usage = Usage()  # a stream need not carry a UsageUpdate
    async with open_llm() as llm, llm.stream(request) as events:
        async for event in events:
            if isinstance(event, TextDelta):
                sys.stdout.write(event.text)
                sys.stdout.flush()
            elif isinstance(event, UsageUpdate):
                usage = event.usage
            elif isinstance(event, StreamEnd):
                sys.stdout.write("\n")
                where = "/".join(p for p in (event.provider, event.model) if p)
                cost = "" if event.request_cost is None else f", ${event.request_cost:.6f}"
                print(f"[{where}: {event.stop_reason.kind}, {usage.input_tokens} in / {usage.output_tokens} out{cost}]",
                      file=sys.stderr)
    return 0


def _config() -> int:
    settings = load_settings()
    shown = {
        name: p.model_dump(mode="json", exclude_defaults=True)  # SecretStr dumps as "**********"
        for name, p in settings.ordered_providers.items()
    }
    for provider in shown.values():
        headers = provider.get("extra_headers", {})
        for header in headers:
            if is_secret_header(header):
                headers[header] = "**********"
    print(json.dumps({"providers": shown, "aliases": settings.aliases, "policy": settings.policy}, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llmport", description="llmport: the LLM layer of a Python backend")
    sub = parser.add_subparsers(dest="command", required=True)
    chat = sub.add_parser("chat", help="stream an answer from whatever the environment configures")
    chat.add_argument("prompt")
    chat.add_argument("--model", default="default", help="alias, provider/model or model (default: 'default')")
    chat.add_argument("--system", default=None)
    sub.add_parser("config", help="print the configuration read from the environment (secrets hidden)")
    sub.add_parser("providers", help="print the providers found, their sources and key fingerprints (never keys)")
    sub.add_parser("models", help="print the catalog of the configured routes: limits, capabilities, prices")
    usage = sub.add_parser("usage", help="print spend from the usage ledger by tenant, provider and model")
    usage.add_argument("--hours", type=float, default=None, help="only the last N hours")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "chat":
            return asyncio.run(_chat(args.prompt, args.model, args.system))
        if args.command == "providers":
            return providers_command()
        if args.command == "models":
            return models_command()
        if args.command == "usage":
            return asyncio.run(usage_command(args.hours))
        return _config()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    except LLMError as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
