"""The ``llmport`` command: ``llmport chat "prompt"``, ``llmport config [--check]``.

``llmport config`` prints the configuration read from the environment (secrets masked) and checks
everything start-up checks, without any network call; ``--check`` only checks. Both exit 2 listing
every problem when start-up would fail, so a deployment pipeline can gate on them.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import sys
from collections.abc import Sequence
from logging.handlers import BufferingHandler

from llmport.domain import CompletionRequest, LLMError, Message, StreamEnd, TextDelta, Usage, UsageUpdate

from .container import open_llm
from .logging import LOGGER
from .money_cli import models_command, usage_command
from .providers_cli import providers_command
from .settings import Settings, SettingsError, load_settings


async def _chat(prompt: str, model: str, system: str | None) -> int:
    request = CompletionRequest(model=model, messages=[Message.user(prompt)], system=system)
    usage = Usage()  # a stream need not carry a UsageUpdate
    settings = load_settings()
    # llmport's log lines are held back while the answer streams, then written to stderr: they never
    # interleave with the answer. With LLMPORT_LOGGING__CONFIGURE llmport's own stderr handler prints
    # them, so stderr itself is held; otherwise a buffer on the ``llmport`` logger holds them.
    real_stderr, held_stderr = sys.stderr, io.StringIO()
    held = BufferingHandler(capacity=10_000)
    held.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger(LOGGER)
    saved = (logger.level, logger.propagate)
    if not settings.logging.configure:
        logger.addHandler(held)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    summary: str | None = None
    sys.stderr = held_stderr
    try:
        async with open_llm(settings) as llm, llm.stream(request) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    sys.stdout.write(event.text)
                    sys.stdout.flush()
                elif isinstance(event, UsageUpdate):
                    usage = event.usage
                elif isinstance(event, StreamEnd):
                    sys.stdout.write("\n")
                    sys.stdout.flush()
                    where = "/".join(p for p in (event.provider, event.model) if p)
                    cost = "" if event.request_cost is None else f", ${event.request_cost:.6f}"
                    summary = (f"[{where}: {event.stop_reason.kind}, {usage.input_tokens} in / "
                               f"{usage.output_tokens} out{cost}]")
    finally:
        sys.stderr = real_stderr
        logger.removeHandler(held)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
        if summary is not None:
            print(summary, file=real_stderr)
        real_stderr.write(held_stderr.getvalue())
        for record in held.buffer:
            print(held.format(record), file=real_stderr)
    return 0


async def check(settings: Settings) -> None:
    """Everything start-up checks, without any network call: builds the clients, adapters and
    policy, then closes them. ``SettingsError`` listing every problem."""
    async with open_llm(settings):
        pass


def _config(check_only: bool) -> int:
    settings = load_settings()
    if not check_only:
        shown = settings.model_dump(mode="json", exclude_defaults=True)  # secrets masked by the models
        shown["providers"] = {name: settings.providers[name].model_dump(mode="json", exclude_defaults=True)
                              for name in settings.ordered_providers}
        print(json.dumps(shown, indent=2))
    asyncio.run(check(settings))
    print(f"llmport configuration OK: {len(settings.providers)} provider(s)", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llmport", description="llmport: the LLM layer of a Python backend")
    sub = parser.add_subparsers(dest="command", required=True)
    chat = sub.add_parser("chat", help="stream an answer from whatever the environment configures")
    chat.add_argument("prompt")
    chat.add_argument("--model", default="default", help="alias, provider/model or model (default: 'default')")
    chat.add_argument("--system", default=None)
    config = sub.add_parser("config", help="print the configuration read from the environment (secrets hidden) "
                                           "and check it; exit 2 listing every problem")
    config.add_argument("--check", action="store_true", help="only check (no output when it is fine)")
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
        return _config(args.check)
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
