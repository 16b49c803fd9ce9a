"""Finding a provider's API key at start-up: the setting, the variable it names, the SDK's own
variables. No source at all is a ``ProviderProblem`` naming every place tried; a key that cannot be
sent (non-ASCII, surrounding whitespace) is one too, naming the variable and the position."""

from __future__ import annotations

import os
from typing import Protocol

from pydantic import SecretStr

from llmport.composition.provider_settings import ProviderProblem, secret_problem


class _Keyed(Protocol):
    @property
    def api_key(self) -> SecretStr | None: ...
    @property
    def api_key_env(self) -> str | None: ...


def find_key(settings: _Keyed, variables: tuple[str, ...]) -> str | None:
    """The key from ``api_key``, else ``api_key_env``'s variable, else the first of ``variables``
    that is set; None when there is none."""
    if settings.api_key is not None:
        return settings.api_key.get_secret_value()
    tried = ((settings.api_key_env,) if settings.api_key_env else ()) + variables
    for variable in tried:
        value = os.environ.get(variable)
        if value:
            problem = secret_problem(value)
            if problem:
                field = "api_key_env" if variable == settings.api_key_env else "api_key"
                raise ProviderProblem(field, f"the key in {variable} {problem}")
            return value
    return None


def require_key(settings: _Keyed, variables: tuple[str, ...]) -> str:
    """``find_key``, or a ``ProviderProblem`` naming every place tried."""
    key = find_key(settings, variables)
    if key is None:
        tried = ((settings.api_key_env,) if settings.api_key_env else ()) + variables
        where = f"; also tried {', '.join(tried)}" if tried else ""
        raise ProviderProblem("api_key", f"no API key: set it{where}")
    return key
