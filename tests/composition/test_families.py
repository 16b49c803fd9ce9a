"""The provider family registry is the one place a family is described: kinds, settings, extras and
the emulator's wire modules all follow from it."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import get_args

import pytest

from llmport.adapters.testing.emulator.runner import WIRE_MODULES
from llmport.composition import FAMILIES, SettingsError, provider_settings
from llmport.composition.families import KIND_MODELS, ProviderKind, family_of, kind_of
from llmport.composition.settings import validate_settings

PYPROJECT = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text(encoding="utf-8"))


def test_every_family_has_an_extra_and_every_wire_module_a_family() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    for family in FAMILIES:
        assert family.extra in extras, family.name
        assert f"{family.extra}" in extras["all"][0]
    wires = {w for f in FAMILIES for w in f.emulator_wires}
    assert wires == set(WIRE_MODULES)


def test_kinds_come_from_the_registry() -> None:
    assert set(get_args(ProviderKind)) == set(KIND_MODELS) == {k for f in FAMILIES for k in f.kinds}
    for family in FAMILIES:  # the registry's kinds are the models' kinds, in the same order
        assert family.kinds == tuple(kind_of(model) for model in family.settings)
        assert all(KIND_MODELS[kind_of(model)] is model for model in family.settings)
    for kind in KIND_MODELS:
        family = family_of(kind)
        assert kind in family.kinds
        factory = family.factory()
        assert callable(factory.build_client) and callable(factory.build_adapter) and callable(factory.close_client)


@pytest.mark.parametrize("kind", sorted(KIND_MODELS))
def test_each_kind_selects_its_own_model(kind: str) -> None:
    values: dict[str, object] = {"kind": kind, "base_url": "http://127.0.0.1:9/v1", "region": "eu-west-1",
                                 "location": "europe-west1", "project": "p", "endpoint": "https://r.example"}
    model = KIND_MODELS[kind]
    accepted = {k: v for k, v in values.items() if k in model.model_fields}
    assert type(provider_settings(**accepted)) is model
    foreign = sorted(set(values) - set(model.model_fields))
    if foreign:  # a field of another kind is an error naming it
        with pytest.raises(SettingsError, match=rf"providers\.p\.{foreign[0]}: does not apply to kind {kind}"):
            validate_settings({"providers": {"p": {**accepted, foreign[0]: values[foreign[0]]}}})


@pytest.mark.parametrize(("value", "problem"), [
    ({}, "settings: providers.p.kind: missing: the provider kind, one of openai, azure_openai, openai_compatible, "
         "anthropic, anthropic_bedrock, anthropic_vertex, google, vertex, bedrock"),
    ({"kind": 3}, "settings: providers.p.kind: unknown provider kind (kinds: openai, azure_openai,"),
    ({"kind": ["openai"]}, "settings: providers.p.kind: unknown provider kind (kinds: openai, azure_openai,"),
    ({"kind": "OpenAI"}, "settings: providers.p.kind: unknown provider kind; did you mean 'openai'?"),
    ("openai", "settings: providers.p: Input should be a valid dictionary or object to extract fields from"),
    (None, "settings: providers.p: Input should be a valid dictionary or object to extract fields from"),
])
def test_a_provider_without_a_usable_kind_is_named_under_its_kind(value: object, problem: str) -> None:
    with pytest.raises(SettingsError) as caught:
        validate_settings({"providers": {"p": value}})
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith(problem)


def test_provider_settings_reports_the_tag_like_a_discriminated_union() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as caught:
        provider_settings(kind="nope")
    (error,) = caught.value.errors()
    assert error["type"] == "union_tag_invalid" and error["ctx"]["tag"] == "nope"
    assert error["ctx"]["discriminator"] == "'kind'" and "'bedrock'" in error["ctx"]["expected_tags"]
    with pytest.raises(ValidationError) as caught:
        provider_settings(base_url="http://127.0.0.1:9/v1")
    assert [e["type"] for e in caught.value.errors()] == ["union_tag_not_found"]


def test_built_provider_settings_are_taken_as_they_are() -> None:
    built = provider_settings(kind="anthropic", api_key="sk-ant-test")
    settings = validate_settings({"providers": {"a": built}})
    assert settings.providers["a"] is built
    dumped = settings.model_dump(mode="json")["providers"]["a"]
    assert dumped["kind"] == "anthropic" and dumped["api_key"] == "**********"  # its own model's dump: masked
    assert dumped["default_max_tokens"] == 4096  # a field of the anthropic model only


def test_the_kind_models_mapping_knows_kinds_without_importing_them() -> None:
    assert "openai" in KIND_MODELS and "nope" not in KIND_MODELS and 3 not in KIND_MODELS
    assert len(KIND_MODELS) == sum(len(f.kinds) for f in FAMILIES)
    assert list(KIND_MODELS) == [k for f in FAMILIES for k in f.kinds]
    with pytest.raises(KeyError):
        KIND_MODELS["nope"]
