"""Several API keys for one provider behind one ``LLMPort``.

``KeyRotatingAdapter`` holds one adapter per key, all built over the provider's one SDK client
(``client.with_options(api_key=...)`` shares the client's HTTP connection pool). Within one
call it tries the keys in ``KeyRing`` order: a 429 cools that key for its Retry-After and moves
the call to the next key at once; a 401/403 takes the key out of rotation (logged once, by
fingerprint) and moves on. Only when no key can serve does the call fail, so the failover
policy's retries and breaker take over. Every call is counted per key and outcome; with a shared
``KeyStates`` (``RedisKeyStates``) cooling, retirement and counts are the fleet's.
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

from llmport.domain import Completion, CompletionRequest, StreamEvent
from llmport.domain.errors import AuthenticationFailed, LLMError, PermissionDenied, RateLimited
from llmport.domain.frozen import valueclass
from llmport.ports.clock import SYSTEM_CLOCK, Clock
from llmport.ports.keyring import KeyRing, KeySlot, fingerprint
from llmport.ports.keyring_state import KeyStates, KeyUsage, key_id
from llmport.ports.llm import LLMPort

log = logging.getLogger("llmport.keys")

#: Seconds a key cools after a 429 that carried no Retry-After.
DEFAULT_COOL = 1.0


@valueclass
class WeightedKey:
    """One API key and its share of the requests. The key never appears in repr."""

    key: str
    weight: float = 1.0

    def __repr__(self) -> str:
        return f"WeightedKey({fingerprint(self.key)}, weight={self.weight:g})"


class KeyRotatingAdapter:
    """An ``LLMPort`` over one adapter per key (``ports[i]`` serves ``ring.slots[i]``)."""

    def __init__(self, ports: Sequence[LLMPort], ring: KeyRing, *, provider: str,
                 default_cool: float = DEFAULT_COOL) -> None:
        if len(ports) != len(ring.slots):
            raise ValueError("one adapter per key is needed")
        self.provider = provider
        self.ports = tuple(ports)
        self.ring = ring
        self._default_cool = default_cool

    def __repr__(self) -> str:
        keys = ", ".join(s.fingerprint for s in self.ring.slots)
        return f"KeyRotatingAdapter({self.provider}, keys=[{keys}])"

    def share_state(self, states: KeyStates) -> None:
        """Keep the ring's key state in ``states`` (a store the replicas share) instead of this
        process's; called by the composition root before the first call."""
        self.ring.states = states
        states.watch(self.ring.name)

    def redact(self, secrets: Iterable[str]) -> None:
        """Scrub these values (every key, the provider's other credentials) from every error."""
        values = tuple(secrets)
        for port in self.ports:
            redact = getattr(port, "redact", None)
            if redact is not None:
                redact(values)

    # --- key bookkeeping --------------------------------------------------------------------
    def _order(self) -> list[int]:
        order = self.ring.order()
        if order:
            return order
        raise self._exhausted(None)

    def _exhausted(self, last: LLMError | None) -> LLMError:
        """The error once no key can serve: a 429 with the soonest comeback while a key only
        cools, else the last credential error (or a fresh one)."""
        soonest = self.ring.soonest()
        if soonest is not None:
            return RateLimited(f"every API key of {self.provider} is cooling after a 429", provider=self.provider,
                               status=429, retry_after=soonest)
        if isinstance(last, (AuthenticationFailed, PermissionDenied)):
            return last
        return AuthenticationFailed(f"every API key of {self.provider} is out of rotation",
                                    provider=self.provider, status=401)

    def _absorb(self, index: int, error: LLMError, *, count: bool = True) -> bool:
        """Record ``error`` from key ``index`` (in the usage counts when ``count``); True when the
        next key should take the call."""
        ring = self.ring
        if isinstance(error, RateLimited):
            if count:
                ring.record(index, "rate_limited")
            wait = error.retry_after if error.retry_after is not None else self._default_cool
            ring.cool(index, wait)
            return True
        if isinstance(error, (AuthenticationFailed, PermissionDenied)):
            if count:
                ring.record(index, "rejected")
            if ring.retire(index):
                log.error("API key %s of %s is out of rotation (%s)", ring.slots[index].fingerprint,
                          self.provider, type(error).__name__)
            return True
        if count:
            ring.record(index, "failed")
        return False

    def usage(self) -> dict[str, KeyUsage]:
        """Completions and streams per key and outcome, by fingerprint (keys that end alike are
        summed); token counts are not counted (often an estimate, no call)."""
        out: dict[str, KeyUsage] = {}
        for index, slot in enumerate(self.ring.slots):
            found = self.ring.usage(index)
            before = out.get(slot.fingerprint)
            out[slot.fingerprint] = found if before is None else before.plus(found)
        return out

    # --- LLMPort ----------------------------------------------------------------------------
    async def complete(self, request: CompletionRequest) -> Completion:
        last: LLMError | None = None
        for index in self._order():
            try:
                completion = await self.ports[index].complete(request)
            except LLMError as exc:
                if not self._absorb(index, exc):
                    raise
                last = exc
            else:
                self.ring.record(index, "served")
                return completion
        raise self._exhausted(last)

    def stream(self, request: CompletionRequest) -> AbstractAsyncContextManager[AsyncIterator[StreamEvent]]:
        return self._stream(request)

    @asynccontextmanager
    async def _stream(self, request: CompletionRequest) -> AsyncIterator[AsyncIterator[StreamEvent]]:
        last: LLMError | None = None
        for index in self._order():
            async with AsyncExitStack() as stack:
                events = await stack.enter_async_context(self.ports[index].stream(request))
                iterator = aiter(events)
                try:
                    first = await anext(iterator)
                except StopAsyncIteration:
                    first = None
                except LLMError as exc:
                    if not self._absorb(index, exc):
                        raise
                    last = exc
                    continue
                # A key error can only come before the first event: the key served this stream.
                self.ring.record(index, "served")
                yield _chain(first, iterator)
                return
        raise self._exhausted(last)

    async def count_tokens(self, request: CompletionRequest) -> int:
        last: LLMError | None = None
        for index in self._order():
            try:
                return await self.ports[index].count_tokens(request)
            except LLMError as exc:
                if not self._absorb(index, exc, count=False):
                    raise
                last = exc
        raise self._exhausted(last)

    async def aclose(self) -> None:
        # Every per-key adapter shares one SDK client: closing one closes the pool for all.
        await self.ports[0].aclose()


async def _chain(first: StreamEvent | None, rest: AsyncIterator[StreamEvent]) -> AsyncIterator[StreamEvent]:
    if first is None:
        return
    yield first
    async for event in rest:
        yield event


def rotating(client: Any, keys: Sequence[WeightedKey], build: Callable[[Any], LLMPort], *, provider: str,
             rng: random.Random | None = None, clock: Clock = SYSTEM_CLOCK,
             states: KeyStates | None = None) -> KeyRotatingAdapter:
    """A ``KeyRotatingAdapter`` over ``build(client.with_options(api_key=key))`` for each key.

    ``with_options`` (openai and anthropic clients alike) keeps the client's HTTP client, so every
    key rides the same connection pool. Each adapter scrubs every key from the errors it raises.
    ``states``: where key state lives (this process by default; pass a shared store so every
    replica skips a key one of them saw throttled or revoked).
    """
    return rotating_ports(keys, lambda key: build(client.with_options(api_key=key)), provider=provider, rng=rng,
                          clock=clock, states=states)


def rotating_ports(keys: Sequence[WeightedKey], make: Callable[[str], LLMPort], *, provider: str,
                   rng: random.Random | None = None, clock: Clock = SYSTEM_CLOCK,
                   states: KeyStates | None = None) -> KeyRotatingAdapter:
    """A ``KeyRotatingAdapter`` over ``make(key)`` for each key: ``make`` builds the adapter that
    sends that key, over the provider's one SDK client (``aclose`` closes the first one only).
    Each adapter scrubs every key from the errors it raises."""
    if not keys:
        raise ValueError(f"{provider}: api_keys lists no key")
    secrets = [k.key for k in keys]
    ports: list[LLMPort] = []
    for weighted in keys:
        port = make(weighted.key)
        redact = getattr(port, "redact", None)
        if redact is not None:
            redact(secrets)
        ports.append(port)
    ring = KeyRing([KeySlot(fingerprint(k.key), k.weight, key_id(k.key)) for k in keys], rng=rng, clock=clock,
                   states=states, name=provider)
    return KeyRotatingAdapter(ports, ring, provider=provider)
