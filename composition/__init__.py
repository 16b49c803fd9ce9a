"""llmport's front door: everything a host backend needs, from one module.

``from llmport.composition import Container, CompletionRequest, Message, RateLimited, FakeLLM, ...``

- the composition root: ``Container`` (settings from the environment, SDK clients, the pipeline and
  failover policy) with its typed entry points ``open_llm()`` and ``start(container)`` /
  ``stop(container)``, the blocking facade ``SyncLLM`` (imported on first use),
  ``Settings``/``SettingsError``, the provider family registry (``FAMILIES``, ``provider_settings``);
- the values a request and its answer are made of, the stream events, and the error taxonomy;
- the port (``LLMPort``), the step base for a host's own pipeline steps (``LLMStep``) and the
  observer protocol with its events;
- test doubles and helpers, imported only when first used (no web framework or server library is
  loaded by importing this module): ``FakeLLM``/``FakeReply``, ``VendorEmulator``/``Reply``/
  ``Fault``/``FaultRate`` (extra ``testing``), ``sse_stream``/``SSE_HEADERS`` (SSE for browsers).

Those who extend llmport (a new adapter, a state store) import the layers' own modules
(``llmport.domain``, ``llmport.ports``, ``llmport.adapters``). Importing this module imports no
vendor SDK; each provider's SDK is imported when its client is built.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from llmport.domain import (
    AllProvidersFailed,
    AuthenticationFailed,
    BudgetExceeded,
    CachePolicy,
    Completion,
    CompletionRequest,
    ConnectionFailed,
    ContentFiltered,
    ContextLengthExceeded,
    ImagePart,
    InvalidRequest,
    LLMError,
    Message,
    ModelNotFound,
    Overloaded,
    PermissionDenied,
    ProviderUnavailable,
    RateLimited,
    ReasoningConfig,
    ReasoningDelta,
    ReasoningPart,
    ResponseFormat,
    StopReason,
    StreamEnd,
    StreamEvent,
    StreamInterrupted,
    TextDelta,
    TextPart,
    Timeout,
    Timing,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallPart,
    ToolCallStart,
    ToolChoice,
    ToolResultPart,
    ToolSpec,
    Usage,
    UsageUpdate,
)
from llmport.ports import AttemptEvent, BreakerTransition, LLMPort, PolicyObserver
from llmport.ports.pipeline import LLMStep

from .container import Container, open_llm, start, stop
from .families import FAMILIES, Family, ProviderSettings, provider_settings
from .logging import configure_logging
from .loop_guard import WrongEventLoop
from .settings import Settings, SettingsError, load_settings, validate_settings

if TYPE_CHECKING:
    from llmport.adapters.eventsource import SSE_HEADERS, sse_stream
    from llmport.adapters.pydantic_output import PydanticOutput, structured
    from llmport.adapters.testing.emulator import Fault, FaultRate, Reply, VendorEmulator
    from llmport.adapters.testing.fake import FakeLLM, FakeReply
    from llmport.domain import StructuredOutputInvalid
    from llmport.ports.structured import OutputInvalid, OutputValidator, Structured, StructuredLLM, StructuredUpdate

    from .sync_llm import SyncLLM, SyncStream

# name -> module that defines it; loaded on first access (PEP 562)
_LAZY = {
    "SyncLLM": "llmport.composition.sync_llm",
    "SyncStream": "llmport.composition.sync_llm",
    "FakeLLM": "llmport.adapters.testing.fake",
    "FakeReply": "llmport.adapters.testing.fake",
    "VendorEmulator": "llmport.adapters.testing.emulator",
    "Reply": "llmport.adapters.testing.emulator",
    "Fault": "llmport.adapters.testing.emulator",
    "FaultRate": "llmport.adapters.testing.emulator",
    "sse_stream": "llmport.adapters.eventsource",
    "SSE_HEADERS": "llmport.adapters.eventsource",
    # typed structured output
    "structured": "llmport.adapters.pydantic_output",
    "PydanticOutput": "llmport.adapters.pydantic_output",
    "StructuredLLM": "llmport.ports.structured",
    "Structured": "llmport.ports.structured",
    "StructuredUpdate": "llmport.ports.structured",
    "OutputValidator": "llmport.ports.structured",
    "OutputInvalid": "llmport.ports.structured",
    "StructuredOutputInvalid": "llmport.domain",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    # composition root
    "FAMILIES", "Container", "Family", "ProviderSettings", "Settings", "SettingsError", "SyncLLM", "SyncStream",
    "WrongEventLoop", "configure_logging", "load_settings", "open_llm", "provider_settings", "start", "stop",
    "validate_settings",
    # requests and answers
    "CachePolicy", "Completion", "CompletionRequest", "ImagePart", "Message", "ReasoningConfig", "ReasoningPart",
    "ResponseFormat", "StopReason", "TextPart", "Timing", "ToolCallPart", "ToolChoice", "ToolResultPart", "ToolSpec",
    "Usage",
    # stream events
    "ReasoningDelta", "StreamEnd", "StreamEvent", "TextDelta", "ToolCallDelta", "ToolCallEnd", "ToolCallStart",
    "UsageUpdate",
    # errors
    "AllProvidersFailed", "AuthenticationFailed", "BudgetExceeded", "ConnectionFailed", "ContentFiltered",
    "ContextLengthExceeded", "InvalidRequest", "LLMError", "ModelNotFound", "Overloaded", "PermissionDenied",
    "ProviderUnavailable", "RateLimited", "StreamInterrupted", "Timeout",
    # the port, host steps, observation
    "AttemptEvent", "BreakerTransition", "LLMPort", "LLMStep", "PolicyObserver",
    # test doubles and helpers (imported on first use)
    "FakeLLM", "FakeReply", "Fault", "FaultRate", "Reply", "SSE_HEADERS", "VendorEmulator", "sse_stream",
    # typed structured output
    "OutputInvalid", "OutputValidator", "PydanticOutput", "Structured", "StructuredLLM", "StructuredOutputInvalid",
    "StructuredUpdate", "structured",
]
