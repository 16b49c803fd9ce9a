"""What every provider's settings share, and the typed field kinds the family settings reuse.

A family's settings model (``families/<family>.py``) subclasses ``ProviderBase`` (plus ``HttpFields``
for HTTP SDKs, ``KeyFields`` when the provider takes an API key) and fixes ``kind`` to its
``Literal``; ``extra="forbid"`` makes every field that does not apply to that kind an error.

Secrets: ``SecretStr`` fields, credential-bearing ``extra_headers`` and credentials inside URLs
(``user:pass@``, ``?key=``) are masked in ``repr``, ``model_dump`` / ``model_dump_json`` and
``llmport config``, and listed by ``secret_values()`` so that logs and errors scrub them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any, ClassVar
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    field_serializer,
    field_validator,
    model_validator,
)

from llmport.domain.redaction import mask_url_credentials, url_secret_values

MASK = "**********"

# Header names that carry credentials (Azure's ``api-key``, a gateway's ``X-...-Token``, ...).
_SECRET_HEADER = re.compile(r"auth|key|token|secret|signature|cookie|password|credential", re.IGNORECASE)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def is_secret_header(name: str) -> bool:
    """Whether an ``extra_headers`` entry named ``name`` carries a credential."""
    return _SECRET_HEADER.search(name) is not None


class ProviderProblem(Exception):
    """A factory's finding about one provider's settings (reported as a ``SettingsError`` under
    the variable or file key of ``field``). The message never holds a value."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def field_error(field: str, message: str) -> ValueError:
    """A model-level validation error attributed to ``field`` (reported under that field's variable)."""
    return ValueError(f"\x00{field}\x00{message}")


# --- field kinds --------------------------------------------------------------------------------

def _split_list(value: Any) -> Any:
    """``a,b`` and ``["a", "b"]`` alike (environment variables carry strings)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except (ValueError, RecursionError):
                raise ValueError("is neither a comma-separated list nor a JSON list") from None
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


def _from_json(problem: str) -> Callable[[Any], Any]:
    """A before-validator reading JSON text (an environment variable's value); ``problem`` when it is not."""
    def parse(value: Any) -> Any:
        if isinstance(value, str):
            try:
                return json.loads(value)
            except (ValueError, RecursionError):
                raise ValueError(problem) from None
        return value
    return parse


_json_list = _from_json('must be a JSON list (e.g. [{"key_env": "KEY_A"}, {"key": ...}])')
_json_object = _from_json("must be a JSON object (or set one variable per key)")


#: A list of names: comma-separated or JSON.
NameList = Annotated[list[Annotated[str, Field(min_length=1, max_length=512)]], BeforeValidator(_split_list)]
#: A mapping: a JSON object, or one nested variable/key per entry.
JsonObject = Annotated[dict[str, Any], BeforeValidator(_json_object)]
Headers = Annotated[dict[str, str], BeforeValidator(_json_object)]


def check_url(value: str | None) -> str | None:
    """An absolute http(s) URL with a host; the value is never echoed (it may hold credentials)."""
    if value is None:
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 -- raises ValueError on a malformed port
    except ValueError:
        raise ValueError("is not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute URL with a scheme and a host, e.g. https://api.example.com/v1")
    if any(c.isspace() for c in value):
        raise ValueError("must not contain whitespace")
    return value


def _mask_url(value: str | None) -> str | None:
    return None if value is None else mask_url_credentials(value)


#: A URL that may carry credentials: validated at load, masked whenever dumped.
Url = Annotated[str | None, AfterValidator(check_url), PlainSerializer(_mask_url)]


def check_secret(value: SecretStr | None) -> SecretStr | None:
    """Keys are ASCII without surrounding whitespace (an HTTP header cannot carry anything else)."""
    if value is not None:
        problem = secret_problem(value.get_secret_value())
        if problem:
            raise ValueError(problem)
    return value


def secret_problem(text: str) -> str | None:
    """What is wrong with a credential's text, naming the position, never the value."""
    if text != text.strip():
        return "has leading or trailing whitespace"
    for position, char in enumerate(text, 1):
        if not char.isascii() or not char.isprintable():
            return f"has a non-ASCII or control character at position {position}"
    return None


Secret = Annotated[SecretStr | None, AfterValidator(check_secret)]


def _check_env_name(value: str | None) -> str | None:
    if value is not None and not _ENV_NAME.match(value):
        raise ValueError("must be the name of an environment variable (letters, digits, underscores), not a key")
    return value


EnvName = Annotated[str | None, AfterValidator(_check_env_name)]


# --- models -------------------------------------------------------------------------------------

class ProviderBase(BaseModel):
    """Settings every provider kind has. Models build their validators on first use
    (``defer_build``): a deployment pays for the kinds it configures only."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, defer_build=True)

    #: URL-valued fields: validated and masked (see ``Url``).
    URL_FIELDS: ClassVar[tuple[str, ...]] = ("base_url",)

    kind: str
    base_url: Url = None
    default_model: str | None = Field(default=None, min_length=1)
    models: NameList = Field(default_factory=list)  # models this provider serves (for bare-model routing)
    timeout: float = Field(default=60.0, gt=0, le=86_400)  # per-request read timeout, seconds
    connect_timeout: float = Field(default=10.0, gt=0, le=3_600)
    context_window: int | None = Field(default=None, ge=1, le=1_000_000_000)  # lets the policy fail over
    weight: int = Field(default=1, ge=1, le=1_000_000)  # weighted strategy
    price_input: float | None = Field(default=None, ge=0, le=1_000_000)  # USD per million input tokens
    price_output: float | None = Field(default=None, ge=0, le=1_000_000)

    def secret_values(self) -> list[str]:
        """Every credential these settings hold or point at (for log and error scrubbing)."""
        values = [s.get_secret_value() for s in self._secrets() if s is not None]
        for name in self.URL_FIELDS:
            url = getattr(self, name)
            if url:
                values.extend(url_secret_values(url))
        key_env = getattr(self, "api_key_env", None)
        if key_env and os.environ.get(key_env):
            values.append(os.environ[key_env])
        headers: dict[str, str] = getattr(self, "extra_headers", {})
        values.extend(v for k, v in headers.items() if v and is_secret_header(k))
        if isinstance(self, KeyFields):
            values.extend(self.key_file_secret())
        if isinstance(self, KeyRingFields):
            values.extend(self.ring_secrets())
        return values

    def _secrets(self) -> Iterator[SecretStr | None]:
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                yield value

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        # ``extra_headers`` is left out of reprs altogether (``repr=False``); URLs are masked.
        for name, value in super().__repr_args__():
            if name in self.URL_FIELDS and isinstance(value, str):
                yield name, mask_url_credentials(value)
            else:
                yield name, value


def _masked_headers(headers: dict[str, str]) -> dict[str, str]:
    return {k: MASK if is_secret_header(k) else v for k, v in headers.items()}


class KeyFields(BaseModel):
    """An API key: given directly, as the name of the environment variable holding it, or as a file
    holding it (a mounted secret, read when the client is built)."""

    model_config = ConfigDict(defer_build=True)

    api_key: Secret = None
    api_key_env: EnvName = None  # e.g. GROQ_API_KEY
    api_key_file: str | None = Field(default=None, min_length=1)

    @field_validator("api_key_file")
    @classmethod
    def _readable(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                read_key_file(value)
            except ProviderProblem as problem:
                raise ValueError(problem.message) from None
        return value

    def resolved_api_key(self) -> str | None:
        """The key from ``api_key``, ``api_key_env``'s variable, ``api_key_file``, else the first of
        ``api_keys`` (key-ring kinds); None when none is set. ``ProviderProblem`` for an unreadable file."""
        if self.api_key is not None:
            return self.api_key.get_secret_value()
        if self.api_key_env and os.environ.get(self.api_key_env):
            return os.environ[self.api_key_env]
        if self.api_key_file:
            return read_key_file(self.api_key_file)
        ring: list[ApiKeySetting] = getattr(self, "api_keys", [])
        return next((v for v in (k.resolved() for k in ring) if v), None)

    def key_file_secret(self) -> list[str]:
        """The key in ``api_key_file`` (for scrubbing), or nothing when unset or unreadable."""
        if not self.api_key_file:
            return []
        try:
            key = read_key_file(self.api_key_file)
        except ProviderProblem:
            return []
        return [key] if key else []


def read_key_file(path: str) -> str | None:
    """A key file's text, stripped (None when empty); ``ProviderProblem`` when it cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise ProviderProblem("api_key_file", f"cannot read the key file ({reason})") from None


class ApiKeySetting(BaseModel):
    """One of several keys of a provider (``api_keys``): the key or the variable holding it, and its weight."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, defer_build=True)

    key: Secret = None
    key_env: EnvName = None
    weight: float = Field(default=1.0, gt=0, le=1_000_000)

    @model_validator(mode="after")
    def _one_source(self) -> ApiKeySetting:
        if (self.key is None) == (self.key_env is None):
            raise ValueError("an api_keys entry needs exactly one of key or key_env")
        return self

    def resolved(self) -> str | None:
        return self.key.get_secret_value() if self.key is not None else os.environ.get(self.key_env or "")


class KeyRingFields(BaseModel):
    """Several keys, requests spread by weight (``llmport.adapters.keyring``); kinds whose client
    takes another key by ``with_options(api_key=...)`` over the same pool."""

    model_config = ConfigDict(defer_build=True)

    api_keys: Annotated[list[ApiKeySetting], BeforeValidator(_json_list)] = Field(
        default_factory=list, repr=False, max_length=1_000)

    def ring_secrets(self) -> list[str]:
        return [v for v in (k.resolved() for k in self.api_keys) if v]


class HttpFields(BaseModel):
    """Connection settings of SDKs built on an HTTP client."""

    model_config = ConfigDict(defer_build=True)

    max_connections: int = Field(default=100, ge=1, le=100_000)
    extra_headers: Headers = Field(default_factory=dict, repr=False)  # may hold credentials

    @field_validator("extra_headers")
    @classmethod
    def _header_values(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            problem = secret_problem(value) if is_secret_header(name) else None
            if problem:
                raise ValueError(f"header {name}: {problem}")
        return headers

    @field_serializer("extra_headers")
    def _hide_secret_headers(self, headers: dict[str, str]) -> dict[str, str]:
        return _masked_headers(headers)
