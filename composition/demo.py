"""``make demo``: failover across three providers on the built-in emulator, no keys needed.

Starts the emulator, configures the providers through the same ``LLMPORT_*`` environment settings a
deployment uses (an OpenAI-compatible primary, Anthropic and Gemini backups: whichever adapters are
installed), makes the primary fail (503s, then a 429 with Retry-After), streams a real answer through
the real SDKs, then prints what happened: attempts, routes, outcomes, latencies, breaker states.
"""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass

from dependency_injector import providers as di

from llmport.adapters.testing.emulator import VendorEmulator
from llmport.adapters.testing.emulator.script import Fault, Reply
from llmport.domain import CompletionRequest, LLMError, Message, TextDelta
from llmport.ports import FailoverPolicy, RecordingObserver

from .container import Container, start, stop
from .demo_pipeline import pipeline_environment, show_pipeline
from .families import family_of

ANSWER = ("Failover worked: the primary returned two 503s and then a 429 with Retry-After, the policy "
          "retried it with backoff, failed over at once instead of waiting out the Retry-After (another "
          "provider could serve), opened its circuit breaker, and this answer is streaming from a backup "
          "provider through its official SDK.")


@dataclass(frozen=True)
class DemoProvider:
    name: str
    kind: str
    model: str
    url_suffix: str = ""


CANDIDATES = (
    DemoProvider("primary", "openai_compatible", "gpt-4o-mini", "/v1"),
    DemoProvider("claude", "anthropic", "claude-haiku-4-5"),
    DemoProvider("gemini", "google", "gemini-2.5-flash"),
)


def available(candidates: tuple[DemoProvider, ...] = CANDIDATES) -> list[DemoProvider]:
    """The providers whose adapter factory (and SDK) is installed."""
    found = []
    for p in candidates:
        try:
            family_of(p.kind).factory()
        except ImportError:
            continue
        found.append(p)
    return found


def configure_environment(emu: VendorEmulator, providers: list[DemoProvider]) -> None:
    """Exactly the variables a deployment would set (the keys are placeholders the emulator accepts)."""
    env = {
        "LLMPORT_ORDER": ",".join(p.name for p in providers),
        "LLMPORT_ALIASES__SMART": ",".join(f"{p.name}/{p.model}" for p in providers),
        "LLMPORT_DEFAULT_MODEL": "smart",
        "LLMPORT_POLICY__RETRY__PRESET": "balanced",
        "LLMPORT_POLICY__RETRY__MAX_ATTEMPTS": "4",
        "LLMPORT_POLICY__RETRY__BASE_DELAY": "0.05",
        "LLMPORT_POLICY__BREAKER__FAILURE_THRESHOLD": "3",
        "LLMPORT_POLICY__TIMEOUT": "20",
        "LLMPORT_LOGGING__LEVEL": "error",
        "LLMPORT_LOGGING__CONFIGURE": "true",
    }
    env.update(pipeline_environment())  # team guidance and a cached alias (see demo_pipeline)
    for p in providers:
        prefix = f"LLMPORT_PROVIDERS__{p.name.upper()}__"
        env[prefix + "KIND"] = p.kind
        env[prefix + "BASE_URL"] = emu.url_for(p.name) + p.url_suffix
        env[prefix + "API_KEY"] = f"demo-{p.name}-key"
        env[prefix + "DEFAULT_MODEL"] = p.model
    os.environ.update(env)


def script_faults(emu: VendorEmulator, providers: list[DemoProvider]) -> None:
    primary, backups = providers[0], providers[1:]
    emu.script(Fault.http(503), Fault.http(503), Fault.rate_limited(retry_after=0.5), Fault.http(503),
               tag=primary.name, then=Fault.http(503))
    for p in backups:
        emu.script(then=Reply(ANSWER, chunk_size=6, chunk_delay=0.01), tag=p.name)


def print_table(recorder: RecordingObserver, policy: FailoverPolicy) -> None:
    rows = [("#", "request", "route", "try", "outcome", "error", "status", "latency", "ttft", "breaker")]
    for i, e in enumerate(recorder.attempts, 1):
        rows.append((str(i), e.target, e.route, str(e.attempt), e.outcome, e.error or "", str(e.status or ""),
                     f"{e.latency * 1000:.0f} ms",
                     "" if e.time_to_first_token is None else f"{e.time_to_first_token * 1000:.0f} ms", e.breaker))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    print("\nattempts:")
    for n, row in enumerate(rows):
        print(("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))).rstrip())
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))
    print("\nbreaker changes:")
    for t in recorder.transitions:
        print(f"  {t.route}: {t.old} -> {t.new} ({t.reason})")
    print("\nbreakers now:")
    for s in policy.breaker_states():
        print(f"  {s['route']}: {s['state']} (retry in {s['retry_in']} s)")


async def run(emu: VendorEmulator) -> int:
    providers = available()
    if len(providers) < 2:
        print("the demo needs at least two provider SDKs installed (pip install 'llmport[all]')", file=sys.stderr)
        return 2
    configure_environment(emu, providers)
    script_faults(emu, providers)
    print(f"emulator on {emu.url}; providers: " + ", ".join(f"{p.name} ({p.kind})" for p in providers))
    print(f"primary {providers[0].name!r} will answer 503, 503, 429 (Retry-After 0.5 s), then 503\n")
    container = Container()
    recorder = RecordingObserver()
    container.observer.override(di.Object(recorder))  # a host's observer, next to llmport's logging
    llm = await start(container)
    policy: object = llm
    while not isinstance(policy, FailoverPolicy):  # unwrap the steps around the policy (loop guard, metering)
        policy = policy.inner  # type: ignore[attr-defined]
    try:
        request = CompletionRequest(model="smart", messages=[Message.user("Did failover work?")])
        try:
            async with llm.stream(request) as events:
                print(f"streaming from {'smart'!r}:\n> ", end="", flush=True)
                async for event in events:
                    if isinstance(event, TextDelta):
                        print(event.text, end="", flush=True)
                print(f"\n(answered by {getattr(events, 'route', None)})")
            # A second request: the primary's breaker is open, so it is skipped without any network.
            second = await llm.complete(CompletionRequest(model="smart", messages=[Message.user("And now?")]))
            print(f"second request answered by {second.provider}/{second.model}, primary skipped by its breaker")
            await show_pipeline(llm, emu, request, providers[1].name)
        except LLMError as exc:
            print(f"\nerror: {type(exc).__name__}: {exc}", file=sys.stderr)
            print_table(recorder, policy)
            return 1
        print_table(recorder, policy)
    finally:
        await stop(container)
    return 0


def main() -> int:
    with VendorEmulator() as emu:
        return asyncio.run(run(emu))


if __name__ == "__main__":
    raise SystemExit(main())
