"""Finding a provider's API key at start-up: the setting, the variable it names, the key file, the
key ring's keys, the SDK's own variables. No source at all is a ``ProviderProblem`` naming every
place tried; a key that cannot be sent (non-ASCII, surrounding whitespace) is one too, naming the
variable (or file) and the position."""

from __future__ import annotations

import os
from typing import Any, Protocol

from pydantic import SecretStr

from llmport.composition.provider_settings import ProviderProblem, read_key_file, secret_problem


class _Keyed(Protocol):
    @property
    def api_key(self) -> SecretStr | None: ...
    @property
    def api_key_env(self) -> str | None: ...
    @property
    def api_key_file(self) -> str | None: ...


def find_key(settings: _Keyed, variables: tuple[str, ...]) -> str | None:
    """The key from ``api_key``, else ``api_key_env``'s variable, else ``api_key_file``, else the
    first of ``api_keys`` (every entry checked), else the first of ``variables`` that is set; None
    when there is none."""
    if settings.api_key is not None:
        return settings.api_key.get_secret_value()
    if settings.api_key_env:
        value = os.environ.get(settings.api_key_env)
        if value:
            return _checked(value, "api_key_env", settings.api_key_env)
    if settings.api_key_file:
        value = read_key_file(settings.api_key_file)
        if value:
            return _checked(value, "api_key_file", "the key file")
        raise ProviderProblem("api_key_file", "the key file is empty")
    ring = ring_keys(settings)
    if ring:
        return ring[0]
    for variable in variables:
        value = os.environ.get(variable)
        if value:
            return _checked(value, "api_key", variable)
    return None


def ring_keys(settings: Any) -> list[str]:
    """Every ``api_keys`` entry's key (none when the kind has no key ring); ``ProviderProblem``
    naming the entry whose variable is unset or whose key cannot be sent."""
    keys: list[str] = []
    for index, entry in enumerate(getattr(settings, "api_keys", ())):
        value = entry.resolved()
        if not value:
            raise ProviderProblem("api_keys", f"entry {index}: the API key variable {entry.key_env} is not set")
        keys.append(_checked(value, "api_keys", f"entry {index}" if entry.key_env is None else entry.key_env))
    return keys


def _checked(value: str, field: str, where: str) -> str:
    problem = secret_problem(value)
    if problem:
        raise ProviderProblem(field, f"the key in {where} {problem}")
    return value


def require_key(settings: _Keyed, variables: tuple[str, ...]) -> str:
    """``find_key``, or a ``ProviderProblem`` naming every place tried."""
    key = find_key(settings, variables)
    if key is None:
        tried = ((settings.api_key_env,) if settings.api_key_env else ()) + variables
        where = f"; also tried {', '.join(tried)}" if tried else ""
        raise ProviderProblem("api_key", f"no API key: set it{where}")
    return key
