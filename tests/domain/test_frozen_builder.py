"""``builder``: a cheaper constructor for frozen slotted dataclasses that must build exactly what the
class itself builds (type, equality, hash, defaults, frozenness), and refuse classes it cannot."""

from __future__ import annotations

import dataclasses
from dataclasses import FrozenInstanceError, dataclass, field
from typing import ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmport.domain import Attempt
from llmport.domain.frozen import builder, unchecked
from llmport.ports.observer import AttemptEvent


@dataclass(frozen=True, slots=True)
class Point:
    x: int
    y: int = 2
    tags: dict[str, str] = field(default_factory=dict)
    label: str = field(default="p", kw_only=True)


def test_builds_an_equal_frozen_instance_of_the_class() -> None:
    make = builder(Point)
    assert make is not Point
    p = make(1, label="q")
    assert type(p) is Point and p == Point(1, label="q")
    assert hash(make(1, 2, (), label="q")) == hash(Point(1, 2, (), label="q"))  # type: ignore[arg-type]
    assert (p.x, p.y, p.tags, p.label) == (1, 2, {}, "q")
    assert repr(p) == repr(Point(1, label="q"))
    with pytest.raises(FrozenInstanceError):
        p.x = 3  # type: ignore[misc]
    assert make(1).tags is not make(1).tags  # a fresh default per instance
    assert dataclasses.replace(p, y=5) == Point(1, 5, label="q")


def test_the_same_signature_and_errors() -> None:
    make = builder(Point)
    with pytest.raises(TypeError):
        make()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        make(1, 2, {}, "positional label")  # type: ignore[call-arg]


@settings(max_examples=60, deadline=None)
@given(route=st.text(max_size=8), attempt=st.integers(0, 5), latency=st.floats(0, 10),
       status=st.none() | st.integers(100, 599), hedge=st.booleans(),
       tags=st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2))
def test_attempt_events_equal_the_classes_own(route: str, attempt: int, latency: float, status: int | None,
                                              hedge: bool, tags: dict[str, str]) -> None:
    make = builder(AttemptEvent)
    args = (route, attempt, "error", "X", status, latency, None, "open", "alias", hedge)
    built = make(*args, provider="p", tags=tags)
    own = AttemptEvent(*args, provider="p", tags=tags)
    assert type(built) is AttemptEvent and built == own and repr(built) == repr(own)


@dataclass(frozen=True, slots=True)
class Checked:
    x: int

    def __post_init__(self) -> None:
        if self.x < 0:
            raise ValueError("negative")


@dataclass(frozen=True)
class NoSlots:
    x: int


@dataclass(slots=True)
class Mutable:
    x: int


@dataclass(frozen=True, slots=True)
class WithClassVar:
    x: int
    kind: ClassVar[str] = "k"


@dataclass(frozen=True, slots=True)
class NotInInit:
    x: int
    y: int = field(default=0, init=False)


@dataclass(frozen=True, slots=True, init=False)
class OwnInit:
    x: int

    def __init__(self, x: str) -> None:
        object.__setattr__(self, "x", int(x))


@pytest.mark.parametrize("kind", [Checked, NoSlots, Mutable, WithClassVar, NotInInit, OwnInit, int, Attempt.__init__])
def test_other_classes_are_built_by_themselves(kind: object) -> None:
    assert builder(kind) is kind  # type: ignore[arg-type]


def test_a_plain_domain_value_qualifies() -> None:
    make = builder(Attempt)
    assert make is not Attempt and make("r", "E", None, 0.0) == Attempt("r", "E", None, 0.0)


@dataclass(frozen=True, slots=True)
class HandInit:
    x: int

    def __init__(self, x: str) -> None:  # a dataclass keeps a hand-written __init__
        object.__setattr__(self, "x", int(x))


class WithDict:
    """A base whose instances have a __dict__: its frozen slotted subclass has another layout than a twin."""


@dataclass(frozen=True, slots=True)
class OnDictBase(WithDict):
    x: int


@pytest.mark.parametrize("kind", [HandInit, OnDictBase])
def test_classes_a_twin_cannot_stand_for_are_built_by_themselves(kind: type) -> None:
    assert builder(kind) is kind
    assert type(builder(kind)(1)) is kind  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Ordered:
    a: int = 0
    b: int = field(kw_only=True)  # keyword-only, no default, after a default

    def __post_init__(self) -> None:
        if self.a < 0:
            raise ValueError("negative")


def test_unchecked_takes_every_field_positionally_and_skips_validation() -> None:
    make = unchecked(Ordered)
    value = make(-1, 2)  # positionally, though ``b`` is keyword-only; no __post_init__
    assert type(value) is Ordered and (value.a, value.b) == (-1, 2)
    with pytest.raises(ValueError, match="negative"):
        Ordered(-1, b=2)
    with pytest.raises(FrozenInstanceError):
        value.a = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        make(1)  # every field is required


@pytest.mark.parametrize("kind", [NoSlots, Mutable, WithClassVar, NotInInit, OnDictBase])
def test_unchecked_refuses_what_it_cannot_build(kind: type) -> None:
    with pytest.raises(TypeError):
        unchecked(kind)
