"""Typed structured output over any ``LLMPort``: ask for JSON matching a schema, validate it, repair.

The core is generic over ``OutputValidator`` (no validation library here): the pydantic binding
lives in ``llmport.adapters.pydantic_output``. Two ways to ask, per ``StructuredLLM(mode=...)``:

- ``"native"`` (default): ``ResponseFormat.json_schema``; each adapter maps it to its vendor's own
  structured output (OpenAI strict ``json_schema``, Gemini ``response_schema``, Anthropic's forced
  tool or ``output_config``, Bedrock ``outputConfig``), converting the schema to what the vendor
  accepts or raising ``InvalidRequest`` before any network call. A route whose model has no native
  structured output (catalog ``json_schema = false``) is asked through a forced tool instead
  (``llmport.ports.json_tool``), transparently.
- ``"tool"``: a forced call of one tool whose parameters are the schema, for endpoints without
  native structured output; the answer is the call's arguments.

An answer that does not validate is sent back with the validation errors (``max_repairs`` more
attempts, each billed and kept in ``Structured.attempts``); when none validates,
``StructuredOutputInvalid`` carries the last raw text and errors.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, Generic, Literal, Protocol, TypeVar, cast, runtime_checkable

from llmport.domain import (
    Completion,
    CompletionRequest,
    InvalidRequest,
    Message,
    ResponseFormat,
    StreamEvent,
    StructuredOutputInvalid,
    TextDelta,
    ToolCallDelta,
    ToolCallPart,
    ToolCallStart,
    ToolChoice,
    ToolSpec,
    Usage,
)
from llmport.domain.events import Accumulator
from llmport.domain.frozen import valueclass

from .llm import LLMPort

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

StructuredMode = Literal["native", "tool"]

_MAX_ERRORS_SENT = 20  # validation errors quoted back to the model in a repair turn


class OutputInvalid(Exception):
    """Raised by an ``OutputValidator``: the text does not validate; ``errors`` say why, one line each."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = tuple(errors) or ("the answer does not validate",)
        super().__init__("; ".join(self.errors))


@runtime_checkable
class OutputValidator(Protocol[T_co]):
    """What ``StructuredLLM`` needs to know about an output type.

    ``name`` names the schema (and the tool in ``"tool"`` mode: letters, digits, ``_`` and ``-``);
    ``schema`` is a JSON schema whose root is an object. ``validate`` turns the whole answer into a
    value or raises ``OutputInvalid``; ``validate_partial`` turns a prefix of the JSON text into a
    value when the prefix already validates (unfinished strings and lists allowed), else None.
    """

    @property
    def name(self) -> str: ...

    @property
    def schema(self) -> Mapping[str, Any]: ...

    def validate(self, text: str) -> T_co: ...

    def validate_partial(self, text: str) -> T_co | None: ...


@valueclass
class Structured(Generic[T]):
    """A validated value, the completion it came from, and every attempt (repairs included)."""

    value: T
    completion: Completion
    attempts: tuple[Completion, ...]

    @property
    def usage(self) -> Usage:
        """Token usage summed over every attempt."""
        total = self.attempts[0].usage
        for completion in self.attempts[1:]:
            total = total + completion.usage
        return total

    @property
    def cost(self) -> Decimal | None:
        """USD cost summed over every attempt (each answer's ``request_cost`` where the metering step
        set it: retries and failovers included; else its ``cost``); None when any is unknown."""
        return _total_cost(self.attempts)


@valueclass
class StructuredUpdate(Generic[T]):
    """One step of a structured stream: a partial value as the JSON arrives (``done`` False), then
    the validated value with its ``result`` (``done`` True). ``attempt`` counts from 1; a repair
    starts again with partial values of the next attempt."""

    value: T
    attempt: int
    done: bool = False
    result: Structured[T] | None = None


class StructuredLLM(Generic[T]):
    """Validated values of one output type from any ``LLMPort`` (the policy, an adapter, FakeLLM)."""

    def __init__(self, llm: LLMPort, output: OutputValidator[T], *, mode: StructuredMode = "native",
                 max_repairs: int = 2, strict: bool = True, description: str = "") -> None:
        if mode not in ("native", "tool"):
            raise InvalidRequest(f"unknown structured output mode {mode!r}: use 'native' or 'tool'", field="mode")
        if not isinstance(max_repairs, int) or isinstance(max_repairs, bool) or not 0 <= max_repairs <= 10:
            raise InvalidRequest("max_repairs must be an integer in [0, 10]", field="max_repairs")
        self.llm = llm
        self.output = output
        self.mode: StructuredMode = mode
        self.max_repairs = max_repairs
        self.strict = strict
        self.description = description or "Respond with the answer as this tool's input."

    def prepare(self, request: CompletionRequest) -> CompletionRequest:
        """``request`` asking for this output (``InvalidRequest`` for a schema the request cannot carry)."""
        schema = self.output.schema
        if not isinstance(schema, Mapping) or schema.get("type") != "object":
            raise InvalidRequest("a structured output schema must have an object at its root (\"type\": "
                                 "\"object\")", field="response_format")
        name = self.output.name
        if self.mode == "native":
            return dataclasses.replace(request, response_format=ResponseFormat.json_schema(
                schema, name=name, strict=self.strict))
        if any(tool.name == name for tool in request.tools):
            raise InvalidRequest(f"the request already has a tool named {name!r}, the structured output's name",
                                 field="tools")
        return dataclasses.replace(request, tools=(*request.tools, ToolSpec(name, self.description, schema)),
                                   tool_choice=ToolChoice.tool(name), response_format=ResponseFormat.TEXT)

    async def complete(self, request: CompletionRequest) -> Structured[T]:
        """The validated value (repairing up to ``max_repairs`` times), or ``StructuredOutputInvalid``."""
        current = self.prepare(request)
        attempts: list[Completion] = []
        while True:
            completion = await self.llm.complete(current)
            attempts.append(completion)
            raw, call = self._answer(completion)
            value, invalid = self._check(raw, call, completion)
            if invalid is not None:  # outside the handler: the error must not carry the validator's as context
                current = self._after_failure(current, completion, raw, call, invalid, attempts)
                continue
            return Structured(cast(T, value), completion, tuple(attempts))

    @contextlib.asynccontextmanager
    async def stream(self, request: CompletionRequest) -> AsyncIterator[AsyncIterator[StructuredUpdate[T]]]:
        """``async with s.stream(request) as updates: async for u in updates: ...`` — partial values,
        then the validated one (``u.done``). Leaving early closes the upstream stream."""
        prepared = self.prepare(request)
        updates = self._updates(prepared)
        try:
            yield updates
        finally:
            await updates.aclose()

    async def _updates(self, current: CompletionRequest) -> AsyncGenerator[StructuredUpdate[T], None]:
        attempts: list[Completion] = []
        while True:
            acc = Accumulator()
            buffer: list[str] = []
            our_call: int | None = None
            last: Any = None
            async with self.llm.stream(current) as events:
                async for event in events:
                    acc.add(event)
                    piece = self._json_piece(event, our_call)
                    if isinstance(event, ToolCallStart) and event.name == self.output.name:
                        our_call = event.index
                    if piece:
                        buffer.append(piece)
                        partial = self.output.validate_partial("".join(buffer))
                        if partial is not None and partial != last:
                            last = partial
                            yield StructuredUpdate(partial, len(attempts) + 1)
            completion = acc.partial()
            attempts.append(completion)
            raw, call = self._answer(completion)
            value, invalid = self._check(raw, call, completion)
            if invalid is not None:
                current = self._after_failure(current, completion, raw, call, invalid, attempts)
                continue
            final = cast(T, value)
            yield StructuredUpdate(final, len(attempts), True, Structured(final, completion, tuple(attempts)))
            return

    def _json_piece(self, event: StreamEvent, our_call: int | None) -> str:
        if self.mode == "native":
            return event.text if type(event) is TextDelta else ""
        if type(event) is ToolCallDelta and event.index == our_call:
            return event.arguments
        return ""

    def _answer(self, completion: Completion) -> tuple[str, ToolCallPart | None]:
        """The answer's JSON text, and (tool mode) the call that carried it."""
        if self.mode == "native":
            return completion.text, None
        for call in completion.tool_calls:
            if call.name == self.output.name:
                raw = call.raw_arguments if call.raw_arguments is not None else json.dumps(dict(call.arguments))
                return raw, call
        return completion.text, None

    def _check(self, raw: str, call: ToolCallPart | None,
               completion: Completion) -> tuple[T | None, OutputInvalid | None]:
        """The validated value, or why the answer does not validate."""
        if self.mode == "tool" and call is None:
            return None, OutputInvalid([f"the answer did not call the tool {self.output.name!r}"])
        try:
            return self.output.validate(raw), None
        except OutputInvalid as exc:
            if completion.stop_reason.kind == "max_tokens":
                return None, OutputInvalid([*exc.errors, "the answer was cut at max_tokens"])
            return None, exc

    def _after_failure(self, current: CompletionRequest, completion: Completion, raw: str,
                       call: ToolCallPart | None, exc: OutputInvalid, attempts: Sequence[Completion],
                       ) -> CompletionRequest:
        """The next attempt's request, or ``StructuredOutputInvalid`` when no repair is left."""
        if len(attempts) > self.max_repairs:
            shown = "; ".join(exc.errors[:3]) + ("; ..." if len(exc.errors) > 3 else "")
            error = StructuredOutputInvalid(
                f"the answer did not match {self.output.name!r} after {len(attempts)} attempt(s): {shown}",
                errors=exc.errors, raw_text=raw, attempts=len(attempts),
                provider=completion.provider, model=completion.model)
            error.request_cost = _total_cost(attempts)
            raise error
        feedback = _feedback(exc.errors)
        if call is not None:
            turns = (Message.assistant(tool_calls=(call,), reasoning=completion.reasoning),
                     Message.tool_result(call.id, feedback, is_error=True))
        else:
            said = raw if raw.strip() else "(no answer)"
            turns = (Message.assistant(said), Message.user(feedback))
        return dataclasses.replace(current, messages=(*current.messages, *turns))


def _feedback(errors: Sequence[str]) -> str:
    listed = "\n".join(f"- {e}" for e in errors[:_MAX_ERRORS_SENT])
    more = f"\n- ... and {len(errors) - _MAX_ERRORS_SENT} more" if len(errors) > _MAX_ERRORS_SENT else ""
    return ("The answer did not match the required JSON schema:\n" + listed + more
            + "\nAnswer again with only the corrected JSON.")


def _total_cost(attempts: Sequence[Completion]) -> Decimal | None:
    costs = [c.request_cost if c.request_cost is not None else c.cost for c in attempts]
    if any(c is None for c in costs):
        return None
    return sum((c for c in costs if c is not None), Decimal(0))
