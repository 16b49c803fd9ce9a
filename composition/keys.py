"""A provider's ``api_keys`` settings as the key ring's weighted keys."""

from __future__ import annotations

from llmport.adapters.keyring import WeightedKey
from llmport.composition.credentials import ring_keys
from llmport.composition.provider_settings import KeyRingFields


def weighted_keys(settings: KeyRingFields) -> list[WeightedKey]:
    """Every configured key with its weight; ``ProviderProblem`` for a missing key variable."""
    return [WeightedKey(key, entry.weight) for key, entry in zip(ring_keys(settings), settings.api_keys, strict=True)]
