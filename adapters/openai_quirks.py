"""What OpenAI-compatible services do differently, as data: one ``Quirks`` per preset, applied by
``OpenAIAdapter`` to every Chat Completions request it sends and every answer it reads.

A rule names a request parameter and what to do with it: ``Clamp`` (the service rejects values
outside a range), ``Drop`` (the service rejects the parameter: it is not sent), ``Rename`` (the
service calls it something else). A rule may be limited to models matching a pattern. ``keep``
names the extra response fields the service adds (e.g. Perplexity's ``search_results``): they
are kept on the answer (``Completion.extras``, ``StreamEnd.extras``) instead of being discarded.
Adding a service's quirk is a line in ``QUIRKS``, not a code path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import field
from typing import Any

from llmport.domain.frozen import valueclass


@valueclass
class Clamp:
    """Send ``param`` within ``[low, high]``: the service rejects values outside (OpenAI's own
    range is wider). ``models``: a regular expression the model name must match ("" = every model)."""

    param: str
    low: float
    high: float
    models: str = ""

    def __post_init__(self) -> None:
        if not self.low <= self.high:
            raise ValueError(f"Clamp({self.param!r}): low must not exceed high")


@valueclass
class Drop:
    """Never send ``param``: the service rejects it (for the ``models`` matching, "" = every model)."""

    param: str
    models: str = ""


@valueclass
class Rename:
    """Send ``param`` under the service's own name ``to`` (in the SDK's ``extra_body``: the SDK
    knows only OpenAI's names)."""

    param: str
    to: str
    models: str = ""


Rule = Clamp | Drop | Rename


@valueclass
class Quirks:
    """One service's request rules (applied in order) and the response fields it adds that are kept."""

    rules: tuple[Rule, ...] = ()
    keep: tuple[str, ...] = ()
    _patterns: tuple[re.Pattern[str] | None, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_patterns", tuple(re.compile(r.models) if r.models else None for r in self.rules))

    def apply(self, model: str, params: dict[str, Any]) -> dict[str, Any]:
        """``params`` (a request's parameters, changed in place and returned) as the service takes them."""
        for rule, pattern in zip(self.rules, self._patterns, strict=True):
            if rule.param not in params or (pattern is not None and not pattern.match(model)):
                continue
            if type(rule) is Clamp:
                value = params[rule.param]
                if isinstance(value, int | float):
                    params[rule.param] = min(max(value, rule.low), rule.high)
            elif type(rule) is Drop:
                del params[rule.param]
            elif type(rule) is Rename:
                params.setdefault("extra_body", {})[rule.to] = params.pop(rule.param)
        return params

    def kept(self, fields: Mapping[str, Any] | None) -> dict[str, Any]:
        """The fields among ``fields`` (a response's extra fields) this service's answers keep."""
        if not fields or not self.keep:
            return {}
        return {name: fields[name] for name in self.keep if fields.get(name) is not None}


#: A service that behaves as OpenAI's Chat Completions documents (no rule, nothing kept).
NO_QUIRKS = Quirks()

#: Known quirks by preset name (``composition.openai_presets``). Sources: each vendor's API
#: reference and the errors it answers (Mistral: 422 ``less_than_equal`` on temperature above 1 and
#: ``extra_forbidden`` on ``seed``; xAI: reasoning models reject ``stop``, grok-4 ``reasoning_effort``).
QUIRKS: dict[str, Quirks] = {
    "mistral": Quirks(rules=(Clamp("temperature", 0.0, 1.0), Rename("seed", "random_seed"))),
    "perplexity": Quirks(keep=("search_results", "citations", "related_questions", "images")),
    "xai": Quirks(rules=(Drop("stop", models=r"grok-(3-mini|4)"), Drop("reasoning_effort", models=r"grok-4"))),
}


def quirks_for(preset: str | None) -> Quirks:
    """The named preset's quirks (``NO_QUIRKS`` for None or a preset without any)."""
    return QUIRKS.get(preset.lower(), NO_QUIRKS) if preset else NO_QUIRKS
