"""Pure domain values of llmport: messages, requests, completions, stream events, errors.

Standard library only; no I/O.
"""

from ._json import parse_tool_arguments
from .completion import Completion, StopKind, StopReason, Timing, Usage
from .errors import (
    AllProvidersFailed,
    Attempt,
    AuthenticationFailed,
    BudgetExceeded,
    ConnectionFailed,
    ContentFiltered,
    ContextLengthExceeded,
    InvalidRequest,
    LLMError,
    ModelNotFound,
    Overloaded,
    PermissionDenied,
    ProviderUnavailable,
    RateLimited,
    StreamInterrupted,
    StructuredOutputInvalid,
    Timeout,
)
from .events import (
    Accumulator,
    ReasoningDelta,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    UsageUpdate,
    accumulate,
    completion_events,
)
from .messages import ImagePart, Message, Part, ReasoningPart, Role, TextPart, ToolCallPart, ToolResultPart
from .model_ref import ModelRef
from .redaction import redact_secrets
from .request import CachePolicy, CompletionRequest, ReasoningConfig, ResponseFormat
from .tools import ToolChoice, ToolSpec

__all__ = [
    "Accumulator", "AllProvidersFailed", "Attempt", "AuthenticationFailed", "BudgetExceeded", "CachePolicy",
    "Completion", "CompletionRequest", "ConnectionFailed", "ContentFiltered", "ContextLengthExceeded",
    "ImagePart", "InvalidRequest", "LLMError", "Message", "ModelNotFound", "ModelRef", "Overloaded", "Part",
    "PermissionDenied", "ProviderUnavailable", "RateLimited", "ReasoningConfig", "ReasoningDelta",
    "ReasoningPart", "ResponseFormat", "Role", "StopKind", "StopReason", "StreamEnd", "StreamEvent",
    "StreamInterrupted", "TextDelta", "TextPart", "Timeout", "Timing", "ToolCallDelta", "ToolCallEnd",
    "ToolCallPart", "ToolCallStart", "ToolChoice", "ToolResultPart", "ToolSpec", "Usage", "UsageUpdate",
    "accumulate", "completion_events", "parse_tool_arguments", "redact_secrets",
    "StructuredOutputInvalid",
]
