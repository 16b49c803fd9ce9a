"""A provider's ``api_keys`` settings as the key ring's weighted keys."""

from __future__ import annotations

from llmport.adapters.keyring import WeightedKey
from llmport.composition.settings import ProviderSettings


def weighted_keys(name: str, settings: ProviderSettings) -> list[WeightedKey]:
    """Every configured key with its weight; a missing key variable is a configuration error."""
    keys: list[WeightedKey] = []
    for index, entry in enumerate(settings.api_keys):
        value = entry.resolved()
        if not value:
            raise ValueError(f"provider {name!r}: api_keys[{index}]: the API key variable {entry.key_env} is not set")
        keys.append(WeightedKey(value, entry.weight))
    return keys
