"""The pydantic binding of structured output: any type pydantic's ``TypeAdapter`` accepts, as an
``OutputValidator`` (``llmport.ports.structured``), and ``structured(llm, Model)`` to ask for it.

A type whose schema is not an object (``list[int]``, ``str``, a union) is asked for wrapped in an
object ``{"result": ...}`` and unwrapped after validation, since the vendors' structured outputs
want an object at the root. Validation errors become ``OutputInvalid`` lines (``path: message``,
never the input value); partial JSON is validated with pydantic's partial mode.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Generic, TypeVar, cast, overload

import pydantic
from pydantic import TypeAdapter, ValidationError

from llmport.domain import InvalidRequest
from llmport.ports.llm import LLMPort
from llmport.ports.structured import OutputInvalid, OutputValidator, StructuredLLM, StructuredMode

T = TypeVar("T")

_NAME = re.compile(r"[^A-Za-z0-9_-]+")
_FENCED = re.compile(r"^\s*```[A-Za-z]*\s*\n(.*)\n\s*```\s*$", re.DOTALL)
_WRAPPED = "result"


class PydanticOutput(Generic[T]):
    """``output_type`` (a pydantic model, a dataclass, ``list[X]``, a ``TypedDict``...) as an
    ``OutputValidator``. ``InvalidRequest`` when pydantic cannot build a JSON schema for it."""

    def __init__(self, output_type: type[T] | Any, *, name: str | None = None) -> None:
        try:
            adapter: TypeAdapter[Any] = TypeAdapter(output_type)
            schema = adapter.json_schema()
            wrapped = schema.get("type") != "object"
            if wrapped:
                wrapper = pydantic.create_model("Result", **{_WRAPPED: (output_type, ...)})  # type: ignore[call-overload]
                adapter = TypeAdapter(wrapper)
                schema = adapter.json_schema()
        except (pydantic.PydanticSchemaGenerationError, pydantic.PydanticUserError, TypeError, ValueError) as exc:
            raise InvalidRequest(f"no JSON schema can be made for the output type {output_type!r} "
                                 f"({type(exc).__name__}): use a type pydantic's TypeAdapter accepts",
                                 field="output_type") from None
        self._adapter = adapter
        self._wrapped = wrapped
        self._schema: dict[str, Any] = schema
        given = name if name is not None else getattr(output_type, "__name__", "") or "response"
        self._name = _NAME.sub("_", given)[:64] or "response"

    @property
    def name(self) -> str:
        return self._name

    @property
    def schema(self) -> Mapping[str, Any]:
        return self._schema

    def validate(self, text: str) -> T:
        try:
            value = self._adapter.validate_json(text)
        except ValidationError as exc:
            fenced = _FENCED.match(text)
            if fenced is None:
                raise OutputInvalid(self._errors(exc)) from None
            try:  # a model that wrapped its JSON in a Markdown code fence
                value = self._adapter.validate_json(fenced.group(1))
            except ValidationError as inner:
                raise OutputInvalid(self._errors(inner)) from None
        return self._unwrap(value)

    def validate_partial(self, text: str) -> T | None:
        if not text.strip():
            return None
        try:
            value = self._adapter.validate_json(text, experimental_allow_partial="trailing-strings")
        except ValidationError:
            return None
        return self._unwrap(value)

    def _unwrap(self, value: Any) -> T:
        return cast(T, getattr(value, _WRAPPED) if self._wrapped else value)

    def _errors(self, exc: ValidationError) -> list[str]:
        lines = []
        for error in exc.errors():  # only the location and the message are read: never the input value
            loc = [str(part) for part in error["loc"]]
            if self._wrapped and loc and loc[0] == _WRAPPED:
                loc = loc[1:]
            lines.append(f"{'.'.join(loc) or '(root)'}: {error['msg']}")
        return lines

    def __repr__(self) -> str:
        return f"PydanticOutput({self._name})"


@overload
def structured(llm: LLMPort, output: OutputValidator[T], *, mode: StructuredMode = ...,
               max_repairs: int = ..., strict: bool = ...) -> StructuredLLM[T]: ...


@overload
def structured(llm: LLMPort, output: type[T], *, mode: StructuredMode = ...,
               max_repairs: int = ..., strict: bool = ...) -> StructuredLLM[T]: ...


def structured(llm: LLMPort, output: OutputValidator[Any] | type[Any], *, mode: StructuredMode = "native",
               max_repairs: int = 2, strict: bool = True) -> StructuredLLM[Any]:
    """Validated values of ``output`` (a type pydantic accepts, or any ``OutputValidator``) from ``llm``::

        people = structured(container.llm(), Person)
        result = await people.complete(CompletionRequest(model="fast", messages=[Message.user("...")]))
        result.value  # a Person; result.usage / result.cost cover every attempt
    """
    validator = output if not isinstance(output, type) and isinstance(output, OutputValidator) \
        else PydanticOutput(output)
    return StructuredLLM(llm, validator, mode=mode, max_repairs=max_repairs, strict=strict)
