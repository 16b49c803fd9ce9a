"""What is known of a route's model: limits, capabilities and price (a catalog entry)."""

from __future__ import annotations

from dataclasses import fields, replace

from .frozen import valueclass
from .pricing import ModelPrice


@valueclass
class ModelInfo:
    """A catalog entry. ``None`` means unknown (neither the price data nor the settings say).
    ``price_source`` names where the price came from (e.g. ``genai-prices 0.2.3`` or ``settings``)."""

    provider: str
    model: str
    context_window: int | None = None
    max_output_tokens: int | None = None
    supports_tools: bool | None = None
    supports_images: bool | None = None
    supports_json_schema: bool | None = None
    supports_reasoning: bool | None = None
    price: ModelPrice | None = None
    price_source: str | None = None

    def merged(self, override: ModelInfo) -> ModelInfo:
        """This entry with every field ``override`` knows (is not ``None``) taken from it."""
        given = {f.name: getattr(override, f.name) for f in fields(override)
                 if f.name not in ("provider", "model") and getattr(override, f.name) is not None}
        return replace(self, **given) if given else self
