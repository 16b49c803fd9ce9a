"""The composition root: settings from the environment, the DI container, logging, the CLI.

Importing it imports no vendor SDK; each provider's SDK is imported when its client is built.
"""

from .container import Container, open_llm
from .logging import configure_logging
from .settings import ProviderSettings, Settings, SettingsError, load_settings
from .sync_llm import SyncLLM, SyncStream

__all__ = ["Container", "ProviderSettings", "Settings", "SettingsError", "SyncLLM", "SyncStream", "configure_logging",
           "load_settings", "open_llm"]
