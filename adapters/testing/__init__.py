"""Test doubles shipped for host backends: ``FakeLLM`` (no network) and, with the ``testing``
extra, ``llmport.adapters.testing.emulator.VendorEmulator`` (the four vendor wire protocols)."""

from .fake import FakeLLM, FakeReply

__all__ = ["FakeLLM", "FakeReply"]
