"""JSON helpers for values that must survive a round trip to any vendor."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def frozen_json(value: Mapping[str, Any], what: str) -> Mapping[str, Any]:
    """Check that ``value`` is a JSON-serialisable object and return it (as a plain dict)."""
    from .errors import InvalidRequest

    if not isinstance(value, Mapping):
        raise InvalidRequest(f"{what} must be a JSON object, got {type(value).__name__}")
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"{what} are not JSON-serialisable: {exc}") from None
    return value if isinstance(value, dict) else dict(value)


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
