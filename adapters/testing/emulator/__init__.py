"""The VendorEmulator: the four vendor wire protocols on loopback, with scripted faults.

Needs the ``testing`` extra (uvicorn, starlette)::

    from llmport.adapters.testing.emulator import Fault, Reply, VendorEmulator

    with VendorEmulator() as emu:
        emu.script(Fault.rate_limited(0.05), Fault.http(503), then=Reply(text="hi"), vendor="openai")
        ...  # point an SDK client at emu.url
        assert len(emu.journal.entries(vendor="openai")) == 3
"""

from .journal import Journal, JournalEntry
from .runner import VendorEmulator, default_protocols
from .script import Fault, FaultRate, Reply, ScriptedToolCall, ScriptedUsage, Step
from .wire import Call, Route, WireError, WireProtocol, WireResponse

__all__ = [
    "Call", "Fault", "FaultRate", "Journal", "JournalEntry", "Reply", "Route", "ScriptedToolCall",
    "ScriptedUsage", "Step", "VendorEmulator", "WireError", "WireProtocol", "WireResponse", "default_protocols",
]
