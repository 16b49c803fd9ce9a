"""The script store: which step (Reply or Fault) answers a call, and the default answer."""

from __future__ import annotations

import dataclasses
import json
import math
import threading
from collections import deque
from dataclasses import dataclass, field

from .script import Fault, FaultRate, Reply, ScriptedUsage, Step

CHARS_PER_TOKEN = 4


@dataclass(frozen=True, slots=True)
class Selector:
    """Which calls a script applies to; None matches anything."""

    vendor: str | None = None
    model: str | None = None
    tag: str | None = None
    endpoint: str | None = None
    key: str | None = None  # an API key fingerprint

    def matches(self, vendor: str, model: str, tag: str | None, endpoint: str, key: str = "") -> bool:
        return ((self.key is None or self.key == key) and (self.vendor is None or self.vendor == vendor)
                and (self.model is None or self.model == model)
                and (self.tag is None or self.tag == tag) and (self.endpoint is None or self.endpoint == endpoint))

    @property
    def specificity(self) -> tuple[bool, int, bool, bool, bool, bool]:
        tag, model, endpoint, vendor = (v is not None for v in (self.tag, self.model, self.endpoint, self.vendor))
        return (self.key is not None, tag + model + endpoint + vendor, tag, model, endpoint, vendor)


@dataclass(slots=True)
class _Script:
    steps: deque[Step] = field(default_factory=deque)
    then: Step | None = None

    @property
    def available(self) -> bool:
        return bool(self.steps) or self.then is not None


class ScriptStore:
    """Queued steps and fault rates per selector. Thread-safe: tests write, the server thread reads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scripts: dict[Selector, _Script] = {}
        self._rates: dict[Selector, FaultRate] = {}

    def script(self, steps: tuple[Step, ...], selector: Selector, then: Step | None = None) -> None:
        for step in (*steps, then):
            if step is not None and not isinstance(step, (Reply, Fault)):
                raise TypeError(f"a script step must be a Reply or a Fault, not {type(step).__name__}")
        with self._lock:
            script = self._scripts.setdefault(selector, _Script())
            script.steps.extend(steps)
            if then is not None:
                script.then = then

    def fail_rate(self, rate: FaultRate, selector: Selector) -> None:
        if not 0.0 <= rate.rate <= 1.0:
            raise ValueError(f"a fault rate is a fraction in [0, 1], got {rate.rate}")
        with self._lock:
            self._rates[selector] = rate

    def clear(self) -> None:
        with self._lock:
            self._scripts.clear()
            self._rates.clear()

    def pending(self, selector: Selector | None = None) -> int:
        """How many queued steps are not consumed yet (all selectors when None)."""
        with self._lock:
            if selector is not None:
                script = self._scripts.get(selector)
                return len(script.steps) if script else 0
            return sum(len(s.steps) for s in self._scripts.values())

    def pick(self, vendor: str, model: str, tag: str | None, endpoint: str, key: str = "") -> Step | None:
        """The step for one call: a drawn fault rate first, then the most specific script with
        a step left; None means "answer with the default reply"."""
        with self._lock:
            rates = [(s, r) for s, r in self._rates.items() if s.matches(vendor, model, tag, endpoint, key)]
            if rates:
                _, rate = max(rates, key=lambda sr: sr[0].specificity)
                if rate.draw():
                    return rate.choose()
            scripts = [(s, sc) for s, sc in self._scripts.items()
                       if sc.available and s.matches(vendor, model, tag, endpoint, key)]
            if not scripts:
                return None
            _, script = max(scripts, key=lambda ss: ss[0].specificity)
            return script.steps.popleft() if script.steps else script.then


def default_reply(model: str, prompt: str) -> Reply:
    """The answer when nothing is scripted: deterministic, derived from the prompt."""
    lines = [line.strip() for line in prompt.splitlines() if line.strip()]
    said = lines[-1] if lines else ""
    if len(said) > 60:
        said = said[:60] + "..."
    return Reply(text=f"Hello from the llmport emulator ({model or 'unknown model'}). You said: {said}")


def estimate_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / CHARS_PER_TOKEN)) if text else 0


def resolve_usage(reply: Reply, prompt: str) -> Reply:
    """``reply`` with concrete input/output token numbers (estimated at ~4 characters a token)."""
    usage = reply.usage
    if usage.input_tokens is not None and usage.output_tokens is not None:
        return reply
    input_tokens = usage.input_tokens
    if input_tokens is None:
        input_tokens = max(1, estimate_tokens(prompt))
    output_tokens = usage.output_tokens
    if output_tokens is None:
        answer = reply.text + reply.reasoning + "".join(
            call.name + json.dumps(dict(call.arguments), default=str) for call in reply.tool_calls)
        output_tokens = max(1, estimate_tokens(answer)) if answer else 0
    resolved: ScriptedUsage = dataclasses.replace(usage, input_tokens=input_tokens, output_tokens=output_tokens)
    return dataclasses.replace(reply, usage=resolved)
