"""The composition root: settings from the environment, the DI container, logging, the CLI.

Importing it imports no vendor SDK; each provider's SDK is imported when its client is built.
The typed entry points: ``open_llm()``, or ``start(container)`` / ``stop(container)``.
"""

from .container import Container, open_llm, start, stop
from .families import FAMILIES, Family, ProviderSettings, provider_settings
from .logging import configure_logging
from .loop_guard import WrongEventLoop
from .settings import Settings, SettingsError, load_settings

__all__ = ["FAMILIES", "Container", "Family", "ProviderSettings", "Settings", "SettingsError", "WrongEventLoop",
           "configure_logging", "load_settings", "open_llm", "provider_settings", "start", "stop"]
