"""Deployment settings, read from the environment (prefix ``LLMPORT_``, ``__`` between levels) and
from a TOML or JSON file named by ``LLMPORT_CONFIG`` (environment variables win).

Every mistake is one ``SettingsError`` listing each problem under the exact variable or file key the
user wrote (``LLMPORT_PROVIDERS__X__TIMEOUT``, ``llmport.toml: providers.x.timeout``), with "did you
mean …?" for unknown names, never echoing a value. See ``settings_sources`` for the reading.

Adding a settings section (``state``, ``cache``, ``budgets``, ...) is one place: write its pydantic
model (``extra="forbid"``, frozen, ``defer_build=True``, with ranges on its numbers; URL fields as
``provider_settings.Url``, credentials as ``provider_settings.Secret``) in its own module, add one field
to ``Settings`` below, ``Annotated[Model, _SECTION]`` with ``default_factory=Model.model_construct``
(validated only when the deployment sets it), and, if it holds credentials, return them from
``Settings.secret_values``. The environment variables (``LLMPORT_<SECTION>__<FIELD>``), the file keys,
the error messages and the typo suggestions follow.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_core import core_schema

from llmport.composition.families import ProviderKind, ProviderSettings, provider_settings
from llmport.composition.money_settings import BudgetSettings, CatalogOverride, LedgerSettings, PriceOverride
from llmport.composition.pipeline_settings import CacheSettings, ContextSettings
from llmport.composition.policy_settings import PolicySettings
from llmport.composition.provider_settings import NameList, ProviderBase, field_error, is_secret_header
from llmport.composition.state_settings import StateSettings
from llmport.composition.telemetry_settings import TelemetrySettings

__all__ = ["LoggingSettings", "ProviderKind", "ProviderSettings", "Settings", "SettingsError",
           "is_secret_header", "load_settings", "provider_settings"]


class SettingsError(Exception):
    """The deployment is misconfigured: start-up stops. ``problems`` lists each one, naming the
    variable or file key; no message ever holds a setting's value.

    Not an ``LLMError``: it is raised while the composition root starts (or by ``llmport config``),
    never by a request, so a host treats it as a start-up failure, not as an HTTP status.
    """

    def __init__(self, *problems: str) -> None:
        self.problems: tuple[str, ...] = problems
        super().__init__("\n".join(["invalid llmport settings:", *(f"  {p}" for p in problems)]))


class LoggingSettings(BaseModel):
    """``logging``: llmport's own events go to the stdlib logger ``llmport``; only with
    ``configure = true`` (the CLI and demo set it) does llmport format and print them itself."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    configure: bool = False
    format: Literal["json", "console"] = "json"
    level: Literal["debug", "info", "warning", "error"] = "info"
    log_content: bool = False  # prompt and completion text are never logged unless this is on


class _Section:
    """A settings section validated only when the deployment sets it: its validator is built then, and a
    section left out is its model's defaults (``model_construct``: nothing to validate), so start-up pays
    for the sections configured only. Errors inside keep their locations (``cache.backend``)."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        model = source if isinstance(source, type(BaseModel)) else None  # a model class (its metaclass)
        adapter: list[TypeAdapter[Any]] = []

        def validate(value: Any) -> Any:
            if model is not None:
                return value if isinstance(value, model) else model.model_validate(value)
            if not adapter:
                adapter.append(TypeAdapter(source))
            return adapter[0].validate_python(value)

        return core_schema.no_info_plain_validator_function(validate)


_SECTION = _Section()


class Settings(BaseModel):
    """All of llmport's settings. ``providers`` keeps its configured order (TOML/JSON order, or
    ``LLMPORT_ORDER`` for environment variables, which have no order of their own).

    ``Settings(...)`` validates the values given; ``load_settings()`` reads the environment and file.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    providers: dict[str, ProviderSettings] = Field(default_factory=dict)
    order: NameList = Field(default_factory=list)
    # alias -> ["provider/model", ...]; from the environment as a comma-separated list
    aliases: dict[str, NameList] = Field(default_factory=dict)
    default_model: str | None = Field(default=None, min_length=1)  # used when a request's model is "default"
    policy: Annotated[PolicySettings, _SECTION] = Field(default_factory=PolicySettings.model_construct)
    logging: Annotated[LoggingSettings, _SECTION] = Field(default_factory=LoggingSettings.model_construct)
    # money (see money_settings): price and catalog overrides by "provider/model", budgets, ledger
    prices: Annotated[dict[str, PriceOverride], _SECTION] = Field(default_factory=dict)
    catalog: Annotated[dict[str, CatalogOverride], _SECTION] = Field(default_factory=dict)
    budgets: Annotated[dict[str, BudgetSettings], _SECTION] = Field(default_factory=dict)
    ledger: Annotated[LedgerSettings, _SECTION] = Field(default_factory=LedgerSettings.model_construct)
    # the request pipeline (see pipeline_settings): response cache and context enrichment
    cache: Annotated[CacheSettings, _SECTION] = Field(default_factory=CacheSettings.model_construct)
    context: Annotated[ContextSettings, _SECTION] = Field(default_factory=ContextSettings.model_construct)
    # state shared by replicas (see state_settings): LLMPORT_STATE__URL, LLMPORT_STATE__NAMESPACE
    state: Annotated[StateSettings, _SECTION] = Field(default_factory=StateSettings.model_construct)
    # OpenTelemetry (see telemetry_settings): LLMPORT_TELEMETRY__ENABLED, LLMPORT_TELEMETRY__CAPTURE_CONTENT
    telemetry: Annotated[TelemetrySettings, _SECTION] = Field(default_factory=TelemetrySettings.model_construct)
    # credentials that find themselves (see detect): LLMPORT_DETECT, LLMPORT_SECRETS_DIR
    detect: bool | None = None  # None: detect providers only when none is configured
    secrets_dir: str | None = Field(default=None, min_length=1)  # key files named like key variables

    _origins: Any = PrivateAttr(default=None)

    def where(self, path: tuple[str, ...]) -> str:
        """The variable or file key the user wrote (or would write) for the setting at ``path``."""
        from llmport.composition.settings_sources import Origins

        origins: Origins = self._origins or Origins()
        return origins.name(path)

    @model_validator(mode="after")
    def _check_references(self) -> Settings:
        unknown = [name for name in self.order if name not in self.providers]
        if unknown:
            raise field_error("order", f"names providers that are not configured: {', '.join(unknown)} "
                                       f"(configured: {', '.join(self.providers) or 'none'})")
        return self

    @property
    def ordered_providers(self) -> dict[str, ProviderBase]:
        names = self.order + [n for n in self.providers if n not in self.order]
        return {n: self.providers[n] for n in names}

    @property
    def detecting(self) -> bool:
        """Whether providers are detected: ``detect`` is on, or unset with no provider configured."""
        return bool(self.detect) or (self.detect is None and not self.providers)

    def secret_values(self) -> list[str]:
        """Every credential the settings hold or point at (for log and error scrubbing)."""
        return [s for p in self.providers.values() for s in p.secret_values()] + self.state.secret_values()


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the settings (environment, then ``LLMPORT_CONFIG``'s file or the user config
    file, under ``overrides``), raising one ``SettingsError`` that lists every problem. Providers are
    detected when none is configured (see ``detect``)."""
    from llmport.composition.settings_sources import describe, read_sources

    data, origins = read_sources(overrides)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise SettingsError(*describe(exc, origins, data)) from None
    settings._origins = origins
    if not settings.detecting:
        return settings
    from llmport.composition.detect import with_detected

    return with_detected(settings)


def validate_settings(data: dict[str, Any]) -> Settings:
    """``Settings`` from a mapping, as ``SettingsError`` (keys named as file keys) on failure."""
    from llmport.composition.settings_sources import describe, given

    origins = given(data, "settings")
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise SettingsError(*describe(exc, origins, data)) from None
    settings._origins = origins
    return settings
