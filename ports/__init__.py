"""Protocols the core needs, and the failover policy that implements ``LLMPort`` over many."""

from .llm import LLMPort

__all__ = ["LLMPort"]
