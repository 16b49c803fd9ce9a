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
