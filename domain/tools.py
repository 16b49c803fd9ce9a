"""Tools a model may call, and how the caller constrains the choice."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import field
from typing import Any, ClassVar, Literal

from . import _validate as check
from .frozen import valueclass

_TOOL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$")


@valueclass
class ToolSpec:
    """A tool: its name, what it does, and a JSON-schema object describing its parameters."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})

    def __post_init__(self) -> None:
        from .errors import InvalidRequest

        if not isinstance(self.name, str) or not _TOOL_NAME.match(self.name):
            shown = repr(self.name)[:70] if isinstance(self.name, str) else check.type_name(self.name)
            raise InvalidRequest(
                f"tool name {shown} must be 1-64 letters, digits, '_' or '-', starting with a letter or '_'",
                field="tools",
            )
        check.text(self.description, "tools", f"the description of tool {self.name!r}")
        params = check.json_schema(self.parameters, "tools", f"parameters of tool {self.name!r}")
        if params.get("type", "object") != "object":
            raise InvalidRequest(f"parameters of tool {self.name!r} must be a JSON schema of type 'object'",
                                 field="tools")
        if "type" not in params:  # the vendors want it said: Anthropic and OpenAI reject a schema without it
            params = {"type": "object", **params}
        object.__setattr__(self, "parameters", params)


@valueclass
class ToolChoice:
    """``ToolChoice.AUTO``, ``.NONE``, ``.REQUIRED``, or ``ToolChoice.tool("name")``."""

    mode: Literal["auto", "none", "required", "tool"]
    name: str | None = None

    AUTO: ClassVar[ToolChoice]
    NONE: ClassVar[ToolChoice]
    REQUIRED: ClassVar[ToolChoice]

    def __post_init__(self) -> None:
        from .errors import InvalidRequest

        if not isinstance(self.mode, str) or self.mode not in ("auto", "none", "required", "tool"):
            shown = repr(self.mode)[:40] if isinstance(self.mode, str) else check.type_name(self.mode)
            raise InvalidRequest(f"unknown tool choice {shown}: use auto, none, required or tool",
                                 field="tool_choice")
        if self.name is not None and (not isinstance(self.name, str) or not _TOOL_NAME.match(self.name)):
            raise InvalidRequest("a named tool choice needs a valid tool name", field="tool_choice")
        if (self.mode == "tool") != bool(self.name):
            raise InvalidRequest("a named tool choice needs exactly a tool name", field="tool_choice")

    @classmethod
    def tool(cls, name: str) -> ToolChoice:
        return cls("tool", name)


ToolChoice.AUTO = ToolChoice("auto")
ToolChoice.NONE = ToolChoice("none")
ToolChoice.REQUIRED = ToolChoice("required")
