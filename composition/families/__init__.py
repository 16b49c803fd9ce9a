"""The provider families: one registered, typed description per SDK family.

A family is its settings models (one per provider ``kind``, each fixing ``kind`` to a ``Literal``),
the factory module that builds and closes its SDK client and builds its adapter
(``llmport.composition.factories.<name>``), the pip extra that installs its SDK, and the
emulator wire modules that speak its protocol.

Adding a fifth family: write ``families/<name>.py`` (its settings models),
``factories/<name>.py`` (``build_client``, ``build_adapter``, ``close_client``; the only module
importing the SDK), the adapter in ``adapters/``, and add one ``Family`` entry to ``FAMILIES``.
``ProviderKind``, the ``kind`` discriminated union of the settings, the credential checks and the
CLI all follow from the registry; tests check that the extras and the emulator's ``WIRE_MODULES``
match it.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol, Union, cast, get_args

from pydantic import Field, TypeAdapter

from llmport.composition.provider_settings import ProviderBase
from llmport.ports import LLMPort

from .anthropic import AnthropicBedrockSettings, AnthropicSettings, AnthropicVertexSettings
from .bedrock import BedrockSettings
from .google import GoogleSettings, VertexSettings
from .openai import AzureOpenAISettings, OpenAICompatibleSettings, OpenAISettings


class FamilyFactory(Protocol):
    """What a family's factory module provides (it is the only module importing the SDK)."""

    def build_client(self, name: str, settings: Any) -> Any: ...
    def build_adapter(self, name: str, client: Any, settings: Any) -> LLMPort: ...
    def close_client(self, client: Any) -> Awaitable[None]: ...


@dataclass(frozen=True, slots=True)
class Family:
    """One SDK family: its settings models by kind, its factory module, its extra, its emulator wires."""

    name: str
    settings: tuple[type[ProviderBase], ...]
    extra: str
    emulator_wires: tuple[str, ...]

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(kind_of(model) for model in self.settings)

    def factory(self) -> FamilyFactory:
        """The factory module (imports this family's SDK, and only that one)."""
        return cast(FamilyFactory, importlib.import_module(f"llmport.composition.factories.{self.name}"))


def kind_of(model: type[ProviderBase]) -> str:
    """The ``kind`` a settings model is chosen by (its ``Literal``)."""
    (kind,) = get_args(model.model_fields["kind"].annotation)
    return str(kind)


FAMILIES: tuple[Family, ...] = (
    Family("openai", (OpenAISettings, AzureOpenAISettings, OpenAICompatibleSettings),
           extra="openai", emulator_wires=("openai_wire",)),
    Family("anthropic", (AnthropicSettings, AnthropicBedrockSettings, AnthropicVertexSettings),
           extra="anthropic", emulator_wires=("anthropic_wire", "anthropic_bedrock_wire")),
    Family("google", (GoogleSettings, VertexSettings), extra="google", emulator_wires=("google_wire",)),
    Family("bedrock", (BedrockSettings,), extra="bedrock", emulator_wires=("bedrock_wire",)),
)

#: kind -> settings model, in registry order.
KIND_MODELS: dict[str, type[ProviderBase]] = {kind_of(m): m for f in FAMILIES for m in f.settings}
_FAMILY_OF: dict[str, Family] = {kind: f for f in FAMILIES for kind in f.kinds}

if TYPE_CHECKING:
    ProviderKind = str
    #: One provider's settings: the model its ``kind`` selects.
    ProviderSettings = ProviderBase
else:
    ProviderKind = Literal[tuple(KIND_MODELS)]
    ProviderSettings = Annotated[Union[tuple(KIND_MODELS.values())], Field(discriminator="kind")]  # noqa: UP007

_ADAPTER: TypeAdapter[ProviderBase] = TypeAdapter(ProviderSettings)


def family_of(kind: str) -> Family:
    """The family a provider kind belongs to."""
    return _FAMILY_OF[kind]


def provider_settings(**values: Any) -> ProviderBase:
    """One provider's settings from keyword values, validated as the model its ``kind`` selects."""
    return _ADAPTER.validate_python(values)
