"""How the contract suite builds each adapter against the emulator.

Each adapter family adds ``tests/contract/harness_<family>.py`` exporting ``HARNESSES``; the suite
in ``test_contract.py`` runs every scenario against every harness.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from llmport.ports import LLMPort


@dataclass(frozen=True)
class Harness:
    name: str  # test id, e.g. "openai-chat", "openai-responses", "anthropic", "google", "bedrock"
    vendor: str  # the emulator's vendor key for scripting ("openai", "anthropic", "google", "bedrock")
    model: str  # model name the adapter sends
    build: Callable[[str], LLMPort]  # emulator base URL -> adapter over a real SDK client, SDK retries off
    reasoning_signature: bool = False  # the vendor round-trips an opaque reasoning signature
    exact_count_tokens: bool = True  # count_tokens asks the vendor (else: an estimate)
    # Capabilities: scenarios a vendor cannot express are skipped, never weakened for everyone.
    reasoning: bool = True  # the vendor returns reasoning text the adapter maps
    stop_sequence: bool = True  # a stop-sequence stop is reported apart from a natural end
    cache_write_usage: bool = True  # usage reports cache-write tokens
    overloaded_status: int | None = None  # HTTP status of the vendor's "overloaded" error (Anthropic: 529)
    lead_frames: int = 1  # stream frames the vendor sends before the first text frame
    reasoning_usage: bool = True  # usage reports reasoning tokens (Bedrock's TokenUsage has no such field)
    # Cancelling complete() while it waits for the response closes the connection at once (boto3 is
    # synchronous and gives no handle on an in-flight request: its worker thread ends it later).
    cancels_blocked_call: bool = True
    family: str | None = None  # the adapter family its reasoning parts name, when not ``vendor``

    @property
    def reasoning_provider(self) -> str:
        return self.family or self.vendor
