"""JSON helpers for values that must survive a round trip to any vendor."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def frozen_json(value: Mapping[str, Any], what: str, field: str | None = None) -> Mapping[str, Any]:
    """Check that ``value`` is a JSON-serialisable object (bounded, finite, encodable) and return
    it as a plain dict."""
    from ._validate import json_object

    return json_object(value, field or "messages", what)


def parse_tool_arguments(raw: str) -> tuple[dict[str, Any], str | None]:
    """Parse streamed or returned tool arguments; returns (object, raw text if it was not an object)."""
    if not raw.strip():
        return {}, None
    try:
        value = json.loads(raw)
    except ValueError:
        return {}, raw
    if isinstance(value, dict):
        return value, None
    return {}, raw
