"""Context enrichment: guidance snippets (a team's conventions, ADRs, a knowledge base's answers)
added to a request's system context before it goes on (and before the response cache's key).

A ``ContextSource`` picks snippets for a request by tenant, metadata tags and the last user message;
``ContextEnricher`` adds them under a token cap, keeping whole snippets by priority (never cutting
one in the middle) and reporting which were used and which dropped.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol, cast

from llmport.domain import Completion, CompletionRequest, Message, Role, StreamEvent
from llmport.domain.frozen import builder, valueclass

from .correlation import bind, request_id_of, unbind
from .llm import LLMPort
from .observer import AttemptEvent, NullObserver, PolicyObserver
from .pipeline import LLMStep, evolve

TAGS_KEY = "tags"  # request.metadata["tags"]: comma-separated tags that select guidance


@valueclass
class Snippet:
    """One piece of guidance: its text, where it comes from, and its priority (higher kept first)."""

    text: str
    source: str
    priority: int = 0


@valueclass
class ContextQuery:
    """What a source may choose by: the tenant, the request's tags and metadata, its messages (the
    last user message, found when a source asks for it)."""

    tenant: str | None
    tags: frozenset[str]
    metadata: Mapping[str, str]
    messages: Sequence[Message]

    @staticmethod
    def of(request: CompletionRequest) -> ContextQuery:
        """The query for ``request`` (its metadata values are strings: the request checked them)."""
        raw = request.metadata.get(TAGS_KEY)
        return _new_query(request.tenant_id, _tags(raw) if raw else _NO_TAGS, request.metadata, request.messages)

    @property
    def last_user_message(self) -> str:
        """The text of the last user message ("" when there is none)."""
        for m in reversed(self.messages):
            if m.role is Role.USER:
                return m.text
        return ""


_NO_TAGS: frozenset[str] = frozenset()
# Built per request: the fast frozen constructors (see ``llmport.domain.frozen``).
_new_query = builder(ContextQuery)
_attempt_event = builder(AttemptEvent)


def _tags(raw: str) -> frozenset[str]:
    return frozenset(t.strip().lower() for t in raw.split(",") if t.strip())


class ContextSource(Protocol):
    """Returns the guidance that applies to a request (any order; the enricher ranks by priority)."""

    async def snippets(self, query: ContextQuery) -> Sequence[Snippet]: ...


SnippetFunction = Callable[[ContextQuery], Iterable[Snippet] | Awaitable[Iterable[Snippet]]]


class CallableContextSource:
    """A ``ContextSource`` from a plain function (sync or async): a host's own knowledge base."""

    def __init__(self, function: SnippetFunction) -> None:
        self.function = function

    async def snippets(self, query: ContextQuery) -> Sequence[Snippet]:
        found = self.function(query)
        if hasattr(found, "__await__"):  # an awaitable (``inspect.isawaitable`` costs ten times more)
            found = await cast(Awaitable[Iterable[Snippet]], found)
        return tuple(found)


def estimate_tokens(text: str) -> int:
    """About four characters a token, rounded up (errs high, so a cap holds for real tokenisers)."""
    return math.ceil(len(text) / 4)


@valueclass
class Selection:
    """The snippets kept (in the order they are added) and those dropped by the cap."""

    used: tuple[Snippet, ...]
    dropped: tuple[Snippet, ...]

    @property
    def text(self) -> str:
        return "\n\n".join(s.text.strip() for s in self.used)


def select(snippets: Iterable[Snippet], max_tokens: int,
           count: Callable[[str], int] = estimate_tokens) -> Selection:
    """Keep snippets from the highest priority down while the guidance text (blank lines between
    snippets included) fits in ``max_tokens``; a snippet that does not fit is dropped whole, and
    smaller, lower-priority ones may still fit. Ties keep the source's order."""
    ranked = sorted((s for s in snippets if s.text.strip()), key=_priority, reverse=True)  # stable
    used: list[Snippet] = []
    dropped: list[Snippet] = []
    text = ""
    for s in ranked:
        candidate = f"{text}\n\n{s.text.strip()}" if used else s.text.strip()
        if count(candidate) <= max_tokens:
            used.append(s)
            text = candidate
        else:
            dropped.append(s)
    return _new_selection(tuple(used), tuple(dropped))


_new_selection = builder(Selection)


def _priority(snippet: Snippet) -> int:
    return snippet.priority


class ContextEnricher(LLMStep):
    """The enrichment step: the selected guidance goes after the request's own ``system`` text."""

    def __init__(self, inner: LLMPort, source: ContextSource, *, max_tokens: int = 1000,
                 count: Callable[[str], int] = estimate_tokens, observer: PolicyObserver | None = None) -> None:
        super().__init__(inner)
        self.source = source
        self.max_tokens = max_tokens
        self.count = count
        self.observer: PolicyObserver = observer or NullObserver()

    async def enrich(self, request: CompletionRequest) -> CompletionRequest:
        """``request`` with its guidance added (unchanged when none applies)."""
        start = time.perf_counter()
        found = await self.source.snippets(ContextQuery.of(request))
        return self._add(request, found, start) if found else request

    async def complete(self, request: CompletionRequest) -> Completion:
        # ``enrich`` inlined: a request no guidance applies to costs one await less.
        start = time.perf_counter()
        found = await self.source.snippets(ContextQuery.of(request))
        if not found:
            return await self.inner.complete(request)
        bound = bind(request_id_of(request))  # the next steps report under the id of this step's event
        try:
            return await self.inner.complete(self._add(request, found, start))
        finally:
            unbind(bound)

    def stream(self, request: CompletionRequest) -> AbstractAsyncContextManager[AsyncIterator[StreamEvent]]:
        return self._stream(request)

    @asynccontextmanager
    async def _stream(self, request: CompletionRequest) -> AsyncIterator[AsyncIterator[StreamEvent]]:
        start = time.perf_counter()
        found = await self.source.snippets(ContextQuery.of(request))
        if not found:
            async with self.inner.stream(request) as events:
                yield events
            return
        bound = bind(request_id_of(request))
        try:
            async with self.inner.stream(self._add(request, found, start)) as events:
                yield events
        finally:
            unbind(bound)

    async def count_tokens(self, request: CompletionRequest) -> int:
        return await self.inner.count_tokens(await self.enrich(request))

    def _add(self, request: CompletionRequest, found: Sequence[Snippet], start: float) -> CompletionRequest:
        chosen = select(found, self.max_tokens, self.count)
        self._report(request, chosen, time.perf_counter() - start)
        if not chosen.used:
            return request
        system = f"{request.system}\n\n{chosen.text}" if request.system else chosen.text
        return evolve(request, system=system)

    def _report(self, request: CompletionRequest, chosen: Selection, latency: float) -> None:
        detail = "used: " + ", ".join(s.source for s in chosen.used)
        if chosen.dropped:
            detail += "; dropped by the token cap: " + ", ".join(s.source for s in chosen.dropped)
        event = _attempt_event("context", 0, "enriched", None, None, latency, None, "closed",
                               target=request.model, detail=detail, request_id=request_id_of(request),
                               tenant=request.tenant_id, tags=request.metadata)
        try:  # noqa: SIM105 (on every enriched request: suppress() would cost a context manager each time)
            self.observer.on_attempt(event)
        except Exception:  # an observer's bug must not change a request's outcome
            pass
