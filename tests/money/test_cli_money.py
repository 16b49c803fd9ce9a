"""``llmport models`` and ``llmport usage``."""

from __future__ import annotations

import genai_prices
import pytest

from llmport.composition.cli import main
from llmport.composition.money_cli import usage_report
from llmport.domain import Usage
from llmport.domain.usage_record import UsageRecord
from llmport.ports.ledger import InMemoryUsageLedger


def test_models_prints_the_catalog_with_price_sources(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    env = {
        "LLMPORT_PROVIDERS__OAI__KIND": "openai", "LLMPORT_PROVIDERS__OAI__API_KEY": "sk-test-cli",
        "LLMPORT_PROVIDERS__OAI__MODELS": '["gpt-4o", "my-finetune"]',
        "LLMPORT_PROVIDERS__LOCAL__KIND": "openai_compatible", "LLMPORT_PROVIDERS__LOCAL__BASE_URL": "http://x",
        "LLMPORT_PROVIDERS__LOCAL__DEFAULT_MODEL": "llama3",
        "LLMPORT_PRICES": '{"local/llama3": {"input": 0.1, "output": 0.2}}',
        "LLMPORT_CATALOG": '{"local/llama3": {"context_window": 8192, "tools": true, "images": false}}',
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines()[2:]}
    assert f"genai-prices {genai_prices.__version__}" in rows["oai/gpt-4o"] and "128000" in rows["oai/gpt-4o"]
    assert rows["oai/my-finetune"].rstrip().endswith("unknown")
    local = rows["local/llama3"]
    assert "8192" in local and "settings" in local and " yes " in local and " no " in local
    assert "sk-test-cli" not in out


async def test_usage_report_groups_by_tenant_provider_and_model() -> None:
    ledger = InMemoryUsageLedger()
    from decimal import Decimal

    await ledger.record([
        UsageRecord(1.0, "r1", "oai", "gpt-4o", "smart", Usage(100, 10), Decimal("0.002"), "ok", "acme"),
        UsageRecord(2.0, "r2", "ant", "claude", "smart", Usage(50, 5), None, "ok", "globex"),
    ])
    report = await usage_report(ledger, None)
    assert "acme" in report and "globex" in report and "oai/gpt-4o" in report and "0.002000" in report
