"""Adapters: one module per vendor SDK family (imported lazily), plus infrastructure and testing
doubles. Importing this package imports no vendor SDK."""

from .base import AdapterStream, SDKAdapter

__all__ = ["AdapterStream", "SDKAdapter"]
