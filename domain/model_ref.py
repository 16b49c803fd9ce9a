"""References to models: ``provider/model``, ``provider:model`` or a bare model name."""

from __future__ import annotations

from collections.abc import Collection

from .errors import InvalidRequest
from .frozen import valueclass


@valueclass
class ModelRef:
    """A model name, optionally pinned to one configured provider."""

    name: str
    provider: str | None = None

    @classmethod
    def parse(cls, text: str, providers: Collection[str] | None = None) -> ModelRef:
        """Split ``provider/model`` or ``provider:model`` at the first separator.

        Model ids may contain both separators themselves (``meta-llama/Llama-3``,
        ``anthropic.claude-v2:1``), so when the configured provider names are given the text is
        split only if the prefix is one of them.
        """
        if not isinstance(text, str):
            raise InvalidRequest(f"a model reference must be a string, got {type(text).__name__}", field="model")
        text = text.strip()
        if not text:
            raise InvalidRequest("empty model reference", field="model")
        cut = min((i for i in (text.find("/"), text.find(":")) if i > 0), default=-1)
        if cut <= 0:
            return cls(text)
        prefix, rest = text[:cut], text[cut + 1 :]
        if providers is not None and prefix not in providers:
            return cls(text)
        if not rest:
            raise InvalidRequest(f"model reference {text!r} names a provider but no model", field="model")
        return cls(rest, prefix)

    def __str__(self) -> str:
        return f"{self.provider}/{self.name}" if self.provider else self.name
