"""Deployment settings, read from the environment (prefix ``LLMPORT_``) or a TOML/JSON file named
by ``LLMPORT_CONFIG``. Invalid settings fail at start-up with one readable message."""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings import SettingsError as _SourceError

from .money_settings import BudgetSettings, CatalogOverride, LedgerSettings, PriceOverride
from .pipeline_settings import CacheSettings, ContextSettings
from .state_settings import StateSettings
from .telemetry_settings import TelemetrySettings

ProviderKind = Literal[
    "openai", "azure_openai", "openai_compatible",
    "anthropic", "anthropic_bedrock", "anthropic_vertex",
    "google", "vertex",
    "bedrock",
]


# Header names that carry credentials (Azure's ``api-key``, a gateway's ``X-...-Token``, ...).
_SECRET_HEADER = re.compile(r"auth|key|token|secret|signature|cookie|password", re.IGNORECASE)


def is_secret_header(name: str) -> bool:
    """Whether an ``extra_headers`` entry named ``name`` carries a credential."""
    return _SECRET_HEADER.search(name) is not None


class SettingsError(Exception):
    """Settings could not be loaded; the message names the variable and never echoes a secret."""


#: Kinds whose client takes another key by ``with_options(api_key=...)`` over the same pool.
KEY_RING_KINDS = ("openai", "openai_compatible", "anthropic")


class ApiKeySetting(BaseModel):
    """One of several keys of a provider (``api_keys``): the key or the variable holding it, and its weight."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: SecretStr | None = None
    key_env: str | None = None
    weight: float = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _one_source(self) -> ApiKeySetting:
        if (self.key is None) == (self.key_env is None):
            raise ValueError("an api_keys entry needs exactly one of key or key_env")
        return self

    def resolved(self) -> str | None:
        return self.key.get_secret_value() if self.key is not None else os.environ.get(self.key_env or "")


class ProviderSettings(BaseModel):
    """One configured provider: which SDK family, where, and with which credentials."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ProviderKind
    api_key: SecretStr | None = None
    # For presets: the environment variable that holds the key (e.g. GROQ_API_KEY).
    api_key_env: str | None = None
    api_key_file: str | None = None  # a file holding the key (a mounted secret); read when the client is built
    # Several keys, requests spread by weight (openai, openai_compatible and anthropic kinds).
    api_keys: list[ApiKeySetting] = Field(default_factory=list, repr=False)
    base_url: str | None = None
    preset: str | None = None  # openai_compatible presets: groq, deepseek, mistral, ..., ollama
    api: Literal["chat", "responses"] = "chat"  # OpenAI family: Chat Completions or Responses API
    api_version: str | None = None  # Azure OpenAI
    endpoint: str | None = None  # Azure OpenAI resource endpoint
    region: str | None = None  # Bedrock, Anthropic on Bedrock/Vertex
    project: str | None = None  # Vertex
    location: str | None = None  # Vertex
    profile: str | None = None  # AWS profile
    aws_access_key_id: SecretStr | None = None
    aws_secret_access_key: SecretStr | None = None
    aws_session_token: SecretStr | None = None
    default_model: str | None = None
    models: list[str] = Field(default_factory=list)  # models this provider serves (for bare-model routing)
    timeout: float = Field(default=60.0, gt=0)  # per-request read timeout, seconds
    connect_timeout: float = Field(default=10.0, gt=0)
    max_connections: int = Field(default=100, ge=1)
    max_workers: int = Field(default=16, ge=1)  # Bedrock: worker threads (and connection pool)
    store: bool = False  # OpenAI: let the vendor store responses (off unless the deployment opts in)
    default_max_tokens: int = Field(default=4096, ge=1)  # Anthropic requires max_tokens
    extra_headers: dict[str, str] = Field(default_factory=dict, repr=False)  # may hold credentials
    additional_model_request_fields: dict[str, Any] = Field(default_factory=dict)  # Bedrock passthrough
    context_window: int | None = None  # tokens; lets the policy fail over to a larger window
    weight: int = Field(default=1, ge=1)  # weighted strategy
    price_input: float | None = None  # USD per million input tokens (cost strategy, usage cost)
    price_output: float | None = None

    @model_validator(mode="after")
    def _api_keys_kind(self) -> ProviderSettings:
        if self.api_keys and self.kind not in KEY_RING_KINDS:
            raise ValueError(f"api_keys is for the kinds {', '.join(KEY_RING_KINDS)}, not {self.kind}")
        return self

    def secret_values(self) -> list[str]:
        values = [s.get_secret_value() for s in (self.api_key, self.aws_secret_access_key,
                                                  self.aws_session_token, self.aws_access_key_id) if s]
        if self.api_key_env and os.environ.get(self.api_key_env):
            values.append(os.environ[self.api_key_env])
        if self.api_key_file and (from_file := _read_key_file(self.api_key_file)):
            values.append(from_file)
        values.extend(v for k, v in self.extra_headers.items() if v and is_secret_header(k))
        values.extend(v for v in (k.resolved() for k in self.api_keys) if v)
        return values

    def resolved_api_key(self) -> str | None:
        if self.api_key is not None:
            return self.api_key.get_secret_value()
        if self.api_key_env and os.environ.get(self.api_key_env):
            return os.environ[self.api_key_env]
        if self.api_key_file:
            return _read_key_file(self.api_key_file)
        return next((v for v in (k.resolved() for k in self.api_keys) if v), None)


def _read_key_file(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8").strip() or None
    except OSError:
        raise SettingsError(f"api_key_file: cannot read {path!r}") from None


class LoggingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["json", "console"] = "json"
    level: Literal["debug", "info", "warning", "error"] = "info"
    log_content: bool = False  # prompt and completion text are never logged unless this is on


class Settings(BaseSettings):
    """All of llmport's settings. ``providers`` keeps its configured order (TOML/JSON order, or
    ``LLMPORT_ORDER`` for environment variables, which have no order of their own)."""

    model_config = SettingsConfigDict(
        env_prefix="LLMPORT_", env_nested_delimiter="__", extra="forbid", frozen=True, case_sensitive=False,
    )

    providers: dict[str, ProviderSettings] = Field(default_factory=dict)
    order: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # alias -> ["provider/model", ...]; from the environment as a comma-separated list
    aliases: dict[str, Annotated[list[str], NoDecode]] = Field(default_factory=dict)
    default_model: str | None = None  # used when a request's model is "default"
    policy: dict[str, Any] = Field(default_factory=dict)  # failover policy settings (see policy_factory)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    # money (see money_settings): price and catalog overrides by "provider/model", budgets, ledger
    prices: dict[str, PriceOverride] = Field(default_factory=dict)
    catalog: dict[str, CatalogOverride] = Field(default_factory=dict)
    budgets: dict[str, BudgetSettings] = Field(default_factory=dict)
    ledger: LedgerSettings = Field(default_factory=LedgerSettings)
    # the request pipeline (see pipeline_settings): response cache and context enrichment
    cache: CacheSettings = Field(default_factory=CacheSettings)
    context: ContextSettings = Field(default_factory=ContextSettings)
    # state shared by replicas (see state_settings): LLMPORT_STATE__URL, LLMPORT_STATE__NAMESPACE
    state: StateSettings = Field(default_factory=StateSettings)
    # OpenTelemetry (see telemetry_settings): LLMPORT_TELEMETRY__ENABLED, LLMPORT_TELEMETRY__CAPTURE_CONTENT
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
    # credentials that find themselves (see detect): LLMPORT_DETECT, LLMPORT_SECRETS_DIR
    detect: bool | None = None  # None: detect providers only when none is configured
    secrets_dir: str | None = None  # files named like key variables (default /run/secrets)

    @field_validator("order", mode="before")
    @classmethod
    def _split_order(cls, value: Any) -> Any:
        return [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value

    @field_validator("aliases", mode="before")
    @classmethod
    def _split_aliases(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: [r.strip() for r in v.split(",") if r.strip()] if isinstance(v, str) else v
                    for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _check_references(self) -> Settings:
        unknown = [name for name in self.order if name not in self.providers]
        if unknown:
            raise ValueError(f"LLMPORT_ORDER names unknown providers {unknown}; configured: {list(self.providers)}")
        return self

    @property
    def ordered_providers(self) -> dict[str, ProviderSettings]:
        names = self.order + [n for n in self.providers if n not in self.order]
        return {n: self.providers[n] for n in names}

    def secret_values(self) -> list[str]:
        return [s for p in self.providers.values() for s in p.secret_values()] + self.state.secret_values()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _ConfigFileSource(settings_cls)


class _ConfigFileSource(PydanticBaseSettingsSource):
    """Reads the TOML or JSON file named by ``LLMPORT_CONFIG`` (environment variables win)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get("LLMPORT_CONFIG") or user_config_file()
        if not path:
            return {}
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise SettingsError(f"LLMPORT_CONFIG: cannot read {path!r}: {exc.strerror}") from None
        try:
            data = json.loads(text) if file.suffix == ".json" else tomllib.loads(text)
        except (ValueError, tomllib.TOMLDecodeError) as exc:
            kind = "JSON" if file.suffix == ".json" else "TOML"
            raise SettingsError(f"LLMPORT_CONFIG: {path!r} is not valid {kind}: {exc}") from None
        return dict(data)


def user_config_file() -> str | None:
    """The XDG user config file (``$XDG_CONFIG_HOME/llmport/config.toml``, else
    ``~/.config/llmport/config.toml``) when it exists; read when ``LLMPORT_CONFIG`` is unset."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    file = Path(base) / "llmport" / "config.toml"
    return str(file) if file.is_file() else None


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the settings, raising ``SettingsError`` with one readable message;
    providers are detected when none is configured (see ``detect``)."""
    from .detect import with_detected

    try:
        return with_detected(Settings(**overrides))
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None
    except _SourceError as exc:
        # pydantic-settings names the field; its chained cause may quote the value, so drop it.
        raise SettingsError(f"invalid llmport settings: {exc}") from None


def _describe(exc: ValidationError) -> str:
    lines = ["invalid llmport settings:"]
    for err in exc.errors(include_input=False, include_url=False):
        loc = [str(p) for p in err["loc"]]
        variable = "LLMPORT_" + "__".join(p.upper() for p in loc) if loc else "LLMPORT_*"
        lines.append(f"  {variable}: {err['msg']}")
    return "\n".join(lines)
