"""``valueclass``: the same class as ``@dataclass(frozen=True, slots=True)`` (fields, constructor,
equality, hash, repr, frozenness, copies, pickling), built without compiling a function per method."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
from dataclasses import FrozenInstanceError, dataclass, field
from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmport.domain import Message, TextDelta, Usage
from llmport.domain.frozen import builder, unchecked, valueclass
from llmport.domain.usage_record import UsageRecord


def _shapes(decorate: Any) -> dict[str, Any]:
    """The same class bodies under ``decorate`` (``valueclass`` or the dataclass it stands for)."""

    @decorate
    class Full:
        """Every kind of field."""

        a: int
        b: str = "b"
        tags: tuple[str, ...] = field(default_factory=tuple)
        hidden: int = field(default=0, repr=False)
        loose: int = field(default=0, compare=False)
        unhashed: int = field(default=0, hash=False)
        derived: str = field(init=False, default="")
        made: list[int] = field(init=False, default_factory=lambda: [1], hash=False)
        label: str = field(default="x", kw_only=True)
        LIMIT: ClassVar[int] = 3

        def __post_init__(self) -> None:
            object.__setattr__(self, "derived", f"{self.a}{self.b}")

    @decorate
    class Empty:
        pass

    @decorate
    class One:
        x: float

    @decorate
    class Own:
        """Its own comparison and text."""

        x: int

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Own) and abs(self.x - other.x) <= 1

        def __hash__(self) -> int:
            return 7

        def __repr__(self) -> str:
            return "own"

    @decorate
    class EqOnly:
        x: int

        def __eq__(self, other: object) -> bool:
            return isinstance(other, EqOnly)

    @decorate
    class Later:
        y: int = field(init=False)

    return {"Full": Full, "Empty": Empty, "One": One, "Own": Own, "EqOnly": EqOnly, "Later": Later}


OURS = _shapes(valueclass)
THEIRS = _shapes(dataclass(frozen=True, slots=True))


def _both(name: str) -> tuple[Any, Any]:
    return OURS[name], THEIRS[name]


def test_the_class_is_a_frozen_slotted_dataclass_with_the_same_fields_and_signature() -> None:
    for name in OURS:
        ours, theirs = _both(name)
        assert dataclasses.is_dataclass(ours)
        assert [(f.name, f.init, f.repr, f.compare, f.hash, f.kw_only) for f in dataclasses.fields(ours)] == \
            [(f.name, f.init, f.repr, f.compare, f.hash, f.kw_only) for f in dataclasses.fields(theirs)]
        assert ours.__slots__ == theirs.__slots__ and "__dict__" not in dir(ours)
        assert ours.__match_args__ == theirs.__match_args__
        assert inspect.signature(ours) == inspect.signature(theirs)  # defaults included
        assert ours.__init__.__annotations__ == theirs.__init__.__annotations__
        params = ours.__dataclass_params__
        assert (params.init, params.repr, params.eq, params.frozen) == (True, True, True, True)
        for method in ("__init__", "__repr__", "__eq__", "__hash__", "__setattr__", "__delattr__"):
            assert getattr(ours, method).__qualname__.startswith(ours.__qualname__ + ".") or method in vars(
                type(ours))
    full, _ = _both("Full")
    assert full.__doc__ == "Every kind of field."
    assert OURS["One"].__doc__ == THEIRS["One"].__doc__ == "One(x: 'float') -> None".replace(" -> None", "")
    assert "tags: 'tuple[str, ...]' = <factory>" in str(inspect.signature(full))


values = st.tuples(st.integers(-3, 3), st.sampled_from(["", "b", "é"]), st.tuples() | st.tuples(st.sampled_from("xy")),
                   st.integers(0, 1), st.integers(0, 1), st.integers(0, 1), st.sampled_from(["x", "y"]))


@settings(max_examples=60, deadline=None)
@given(values, values)
def test_instances_behave_as_the_dataclass_instances(left: tuple[Any, ...], right: tuple[Any, ...]) -> None:
    ours, theirs = _both("Full")

    def build(kind: Any, v: tuple[Any, ...]) -> Any:
        a, b, tags, hidden, loose, unhashed, label = v
        return kind(a, b, tags, hidden, loose, unhashed, label=label)

    o1, o2, t1, t2 = build(ours, left), build(ours, right), build(theirs, left), build(theirs, right)
    assert (o1 == o2) == (t1 == t2) and (o1 != o2) == (t1 != t2)
    assert (hash(o1) == hash(o2)) == (hash(t1) == hash(t2))
    assert hash(o1) == hash(t1)  # the same tuple of fields is hashed
    assert repr(o1).replace(".<locals>", "") == repr(t1).replace(".<locals>", "")
    assert dataclasses.asdict(o1) == dataclasses.asdict(t1) and dataclasses.astuple(o1) == dataclasses.astuple(t1)
    assert (o1.derived, o1.made) == (t1.derived, t1.made)


def test_defaults_factories_and_post_init() -> None:
    full, _ = _both("Full")
    one, two = full(1), full(1)
    assert (one.b, one.tags, one.hidden, one.label, one.derived, one.made) == ("b", (), 0, "x", "1b", [1])
    assert one.made is not two.made  # a fresh default per instance
    assert full(1, tags=("t",)).tags == ("t",)
    with pytest.raises(TypeError):
        full(1, "b", (), 0, 0, 0, "label")  # keyword-only
    with pytest.raises(TypeError):
        full(1, derived="no")  # not a parameter
    later = OURS["Later"]()
    with pytest.raises(AttributeError):
        later.y  # noqa: B018 -- an init=False field without default stays unset, as with dataclass
    assert OURS["Empty"]() == OURS["Empty"]() and hash(OURS["Empty"]()) == hash(())


def test_comparison_against_other_types_and_single_fields() -> None:
    one, their_one = _both("One")
    nan = float("nan")
    assert (one(nan) == one(nan)) == (their_one(nan) == their_one(nan)) is True  # the same object in both tuples
    assert one(1.0) == one(1.0) and one(1.0) != one(2.0)
    assert one(1.0) != their_one(1.0)  # another class: not equal
    assert one(1.0).__eq__(1.0) is NotImplemented
    assert hash(one(1.0)) == hash((1.0,))


def test_the_class_own_methods_are_kept() -> None:
    own = OURS["Own"]
    assert own(1) == own(2) and hash(own(1)) == 7 and repr(own(5)) == "own"
    eq_only = OURS["EqOnly"]
    assert eq_only(1) == eq_only(2)
    assert hash(eq_only(1)) == hash(THEIRS["EqOnly"](1))  # dataclass adds the field hash when eq is the class's


def test_instances_are_frozen() -> None:
    value = OURS["Full"](1)
    with pytest.raises(FrozenInstanceError, match="cannot assign to field 'a'"):
        value.a = 2
    with pytest.raises(FrozenInstanceError, match="cannot assign to field 'other'"):
        value.other = 2
    with pytest.raises(FrozenInstanceError, match="cannot delete field 'a'"):
        del value.a
    with pytest.raises(FrozenInstanceError, match="cannot delete field 'other'"):
        del value.other


def test_a_subclass_sets_and_deletes_its_own_attributes() -> None:
    class Child(OURS["One"]):  # type: ignore[misc]
        __slots__ = ("note",)

    child = Child(1.0)
    child.note = "n"
    assert child.note == "n"
    del child.note
    assert not hasattr(child, "note")
    with pytest.raises(FrozenInstanceError):
        child.x = 2.0
    with pytest.raises(FrozenInstanceError):
        del child.x


def test_copies_replace_and_pickle() -> None:
    value = OURS["Full"](1, "q", ("t",), label="y")
    assert dataclasses.replace(value, a=2) == OURS["Full"](2, "q", ("t",), label="y")
    assert copy.copy(value) == value and copy.deepcopy(value) == value
    restored = pickle.loads(pickle.dumps(Message.user("hi")))
    assert restored == Message.user("hi") and type(restored) is Message
    assert pickle.loads(pickle.dumps(Usage(1, 2))) == Usage(1, 2)


def test_recursive_reprs_end() -> None:
    @valueclass
    class Node:
        items: list[Any]

    node = Node([])
    node.items.append(node)
    assert repr(node) == "test_recursive_reprs_end.<locals>.Node(items=[...])"


def test_the_cheap_constructors_accept_value_classes() -> None:
    make = builder(TextDelta)
    assert make is not TextDelta and make("x") == TextDelta("x") and type(make("x")) is TextDelta
    full = OURS["One"]
    assert unchecked(full)(1.0) == full(1.0)
    record = builder(UsageRecord)  # a default_factory field: the same parameters as dataclass's
    assert record is not UsageRecord
    made = record(1.0, "r", "p", "m", "a", Usage(1, 2), None, "ok")
    assert made == UsageRecord(1.0, "r", "p", "m", "a", Usage(1, 2), None, "ok") and type(made) is UsageRecord


def test_two_fields_are_compared_and_hashed_together() -> None:
    @valueclass
    class Pair:
        a: int
        b: int

    assert Pair(1, 2) != Pair(1, 3) and Pair(1, 2) == Pair(1, 2)
    assert hash(Pair(1, 2)) == hash((1, 2))


def test_a_twin_names_its_constructor() -> None:
    make = builder(TextDelta)
    assert make.__init__.__qualname__ == "_TextDeltaTwin.__init__"


def test_a_hand_written_init_is_kept_and_the_cheap_constructor_refuses_it() -> None:
    @valueclass
    class Parsed:
        x: int

        def __init__(self, x: str) -> None:
            object.__setattr__(self, "x", int(x))

    assert Parsed("3").x == 3  # type: ignore[arg-type]
    assert builder(Parsed) is Parsed
    assert builder(OURS["One"]) is not OURS["One"]
