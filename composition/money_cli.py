"""``llmport models`` (the catalog of the configured routes) and ``llmport usage`` (spend from
the usage ledger by tenant, provider and model)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from llmport.domain.catalog import ModelInfo
from llmport.domain.usage_record import UsageTotals
from llmport.ports.ledger import InMemoryUsageLedger, UsageLedger

from .money_factory import build_catalog, build_ledger
from .settings import Settings, load_settings


def configured_routes(settings: Settings) -> list[tuple[str, str]]:
    """Every ``(provider, model)`` the settings route to: providers' models and alias targets."""
    seen: dict[str, tuple[str, str]] = {}
    for name, p in settings.ordered_providers.items():
        for model in p.models or ([p.default_model] if p.default_model else []):
            seen.setdefault(f"{name}/{model}", (name, model))
    for targets in settings.aliases.values():
        for target in targets:
            provider, sep, model = target.partition("/")
            if sep and provider in settings.providers:
                seen.setdefault(target, (provider, model))
    return list(seen.values())


def _flag(value: bool | None) -> str:
    return "?" if value is None else ("yes" if value else "no")


def _num(value: object) -> str:
    return "?" if value is None else str(value)


def _rate(value: object) -> str:
    if value is None:
        return "-"
    base = getattr(value, "base", None)
    return f"{base}+tiers" if base is not None else str(value)


def model_rows(infos: Sequence[ModelInfo]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = [("route", "context", "max out", "tools", "images", "json schema", "reasoning",
             "in $/Mtok", "out $/Mtok", "cache read", "cache write", "price source")]
    for i in infos:
        p = i.price
        rows.append((f"{i.provider}/{i.model}", _num(i.context_window), _num(i.max_output_tokens),
                     _flag(i.supports_tools), _flag(i.supports_images), _flag(i.supports_json_schema),
                     _flag(i.supports_reasoning),
                     _rate(p.input_per_mtok) if p else "?", _rate(p.output_per_mtok) if p else "?",
                     _rate(p.cache_read_per_mtok) if p else "?", _rate(p.cache_write_per_mtok) if p else "?",
                     i.price_source or "unknown"))
    return rows


def table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def models_command() -> int:
    settings = load_settings()
    catalog = build_catalog(settings)
    routes = configured_routes(settings)
    if not routes:
        print("no routes configured (set LLMPORT_PROVIDERS__<NAME>__DEFAULT_MODEL or MODELS)")
        return 0
    print(table(model_rows([catalog.lookup(p, m) for p, m in routes])))
    return 0


def usage_rows(by: str, totals: dict[str, UsageTotals]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = [
        (by, "requests", "attempts", "input", "output", "cached in", "cost $", "unpriced", "estimated")]
    for key, t in sorted(totals.items(), key=lambda kv: -kv[1].cost):
        rows.append((key, str(t.requests), str(t.attempts), str(t.input_tokens), str(t.output_tokens),
                     str(t.cached_input_tokens), f"{t.cost:.6f}", str(t.unpriced), str(t.estimated)))
    return rows


async def usage_report(ledger: UsageLedger, hours: float | None) -> str:
    since = time.time() - hours * 3600 if hours is not None else None
    parts = []
    for by in ("tenant", "provider", "model"):
        totals = await ledger.totals(by, since=since)
        parts.append(table(usage_rows(by, totals)) if totals else f"{by}: no usage recorded")
    return "\n\n".join(parts)


async def usage_command(hours: float | None, ledger: UsageLedger | None = None) -> int:
    """Print spend from ``ledger`` (default: the deployment's). An in-memory ledger only holds this
    process's requests: the command is useful with the shared Redis ledger."""
    shared = ledger if ledger is not None else build_ledger(load_settings())
    if isinstance(shared, InMemoryUsageLedger):
        print("note: the usage ledger is in memory (per process); with the shared Redis every replica's "
              "usage is visible here")
    print(await usage_report(shared, hours))
    return 0
