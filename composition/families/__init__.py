"""The provider families: one registered, typed description per SDK family.

A family is its provider ``kind`` names, its settings models (``families/<name>.py``'s ``SETTINGS``,
one per kind, each fixing ``kind`` to a ``Literal``), the factory module that builds and closes its
SDK client and builds its adapter (``llmport.composition.factories.<name>``), the pip extra that
installs its SDK, and the emulator wire modules that speak its protocol.

Only the kinds a deployment configures cost anything at start-up: a family's settings models are
defined when a provider of one of its kinds is first validated (or ``Family.settings`` is read),
and each model's validator is built on its first use.

Adding a fifth family: write ``families/<name>.py`` (its settings models, listed in ``SETTINGS``),
``factories/<name>.py`` (``build_client``, ``build_adapter``, ``close_client``; the only module
importing the SDK), the adapter in ``adapters/``, and add one ``Family`` entry (its kinds, in
``SETTINGS``' order) to ``FAMILIES``. ``ProviderKind``, the choice of a provider's model by its
``kind``, the credential checks and the CLI all follow from the registry; tests check that the
kinds match the models, and the extras and the emulator's ``WIRE_MODULES`` the families.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Iterator, Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol, cast, get_args

from pydantic import ConfigDict, PlainValidator, TypeAdapter
from pydantic_core import PydanticKnownError

from llmport.composition.provider_settings import ProviderBase
from llmport.domain.frozen import valueclass
from llmport.ports import LLMPort


class FamilyFactory(Protocol):
    """What a family's factory module provides (it is the only module importing the SDK)."""

    def build_client(self, name: str, settings: Any) -> Any: ...
    def build_adapter(self, name: str, client: Any, settings: Any) -> LLMPort: ...
    def close_client(self, client: Any) -> Awaitable[None]: ...


@valueclass
class Family:
    """One SDK family: its provider kinds, its extra, its emulator wires; its settings models and
    factory module are imported on first use."""

    name: str
    kinds: tuple[str, ...]
    extra: str
    emulator_wires: tuple[str, ...]

    @property
    def settings(self) -> tuple[type[ProviderBase], ...]:
        """The settings models, one per kind in ``kinds``' order (``families/<name>.py``'s ``SETTINGS``)."""
        module = importlib.import_module(f"llmport.composition.families.{self.name}")
        return cast(tuple[type[ProviderBase], ...], module.SETTINGS)

    def factory(self) -> FamilyFactory:
        """The factory module (imports this family's SDK, and only that one)."""
        return cast(FamilyFactory, importlib.import_module(f"llmport.composition.factories.{self.name}"))


def kind_of(model: type[ProviderBase]) -> str:
    """The ``kind`` a settings model is chosen by (its ``Literal``)."""
    (kind,) = get_args(model.model_fields["kind"].annotation)
    return str(kind)


FAMILIES: tuple[Family, ...] = (
    Family("openai", ("openai", "azure_openai", "openai_compatible"), extra="openai", emulator_wires=("openai_wire",)),
    Family("anthropic", ("anthropic", "anthropic_bedrock", "anthropic_vertex"),
           extra="anthropic", emulator_wires=("anthropic_wire", "anthropic_bedrock_wire")),
    Family("google", ("google", "vertex"), extra="google", emulator_wires=("google_wire",)),
    Family("bedrock", ("bedrock",), extra="bedrock", emulator_wires=("bedrock_wire",)),
)

_FAMILY_OF: dict[str, Family] = {kind: f for f in FAMILIES for kind in f.kinds}


class _KindModels(Mapping[str, type[ProviderBase]]):
    """kind -> settings model, in registry order; looking a kind up imports its family's models."""

    def __getitem__(self, kind: str) -> type[ProviderBase]:
        family = _FAMILY_OF[kind]
        return family.settings[family.kinds.index(kind)]

    def __contains__(self, kind: object) -> bool:
        return kind in _FAMILY_OF

    def __iter__(self) -> Iterator[str]:
        return iter(_FAMILY_OF)

    def __len__(self) -> int:
        return len(_FAMILY_OF)


#: kind -> settings model, in registry order.
KIND_MODELS: Mapping[str, type[ProviderBase]] = _KindModels()
_TAGS = ", ".join(repr(kind) for kind in _FAMILY_OF)


def _by_kind(value: Any) -> ProviderBase:
    """Validates one provider's settings as the model its ``kind`` selects (errors as a
    discriminated union reports them: a missing or unknown tag, fields under the provider)."""
    if isinstance(value, ProviderBase):
        kind: Any = value.kind
    elif isinstance(value, dict):
        if "kind" not in value:
            raise PydanticKnownError("union_tag_not_found", {"discriminator": "'kind'"})
        kind = value["kind"]
    else:
        raise PydanticKnownError("model_attributes_type")
    if not isinstance(kind, str) or kind not in _FAMILY_OF:
        raise PydanticKnownError("union_tag_invalid", {"discriminator": "'kind'", "tag": str(kind),
                                                       "expected_tags": _TAGS})
    return KIND_MODELS[kind].model_validate(value)


if TYPE_CHECKING:
    ProviderKind = str
    #: One provider's settings: the model its ``kind`` selects.
    ProviderSettings = ProviderBase
else:
    ProviderKind = Literal[tuple(_FAMILY_OF)]
    # ``Any`` for serialising: a provider dumps as its own model (its masking serialisers included).
    ProviderSettings = Annotated[Any, PlainValidator(_by_kind)]

_ADAPTER: TypeAdapter[ProviderBase] = TypeAdapter(ProviderSettings, config=ConfigDict(title="provider settings"))


def family_of(kind: str) -> Family:
    """The family a provider kind belongs to."""
    return _FAMILY_OF[kind]


def provider_settings(**values: Any) -> ProviderBase:
    """One provider's settings from keyword values, validated as the model its ``kind`` selects."""
    return _ADAPTER.validate_python(values)
