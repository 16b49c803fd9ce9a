"""Building frozen slotted dataclass values cheaply on hot paths.

``@dataclass(frozen=True)`` stores every field through ``object.__setattr__`` in its ``__init__``:
for a many-field event that costs about five times a plain slotted class's ``__init__``. A
``builder`` makes the same value through a mutable twin (same fields, defaults and slot layout, so
its ``__init__`` stores fields directly) and then gives the instance the frozen class: the result is
an ordinary instance of that class, equal to one built the usual way, and frozen from then on.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


def builder(cls: Callable[P, T]) -> Callable[P, T]:
    """A constructor equivalent to ``cls(...)`` for a frozen slotted dataclass with plain fields
    (no ``__post_init__``, every field in ``__init__``); ``cls`` itself for any other class, or
    where the interpreter does not allow the switch of class."""
    kind: Any = cls
    if not _eligible(kind):
        return cls
    specs = []
    for f in dataclasses.fields(kind):
        spec: Any = dataclasses.field(kw_only=f.kw_only)
        if f.default is not dataclasses.MISSING:
            spec = dataclasses.field(default=f.default, kw_only=f.kw_only)
        elif f.default_factory is not dataclasses.MISSING:
            spec = dataclasses.field(default_factory=f.default_factory, kw_only=f.kw_only)
        specs.append((f.name, f.type, spec))
    def switch(self: Any) -> None:  # the twin's last step in ``__init__``: become the frozen class
        self.__class__ = kind

    twin: Any = dataclasses.make_dataclass(
        f"_{kind.__name__}Builder", specs, namespace={"__post_init__": switch}, slots=True, eq=False, repr=False,
        match_args=False, weakref_slot="__weakref__" in kind.__slots__)
    # The same slots in the same order, and the same parameters (a hand-written ``__init__`` differs).
    if twin.__slots__ != kind.__slots__ or inspect.signature(twin) != inspect.signature(kind):
        return cls
    try:  # the layouts must match for the class switch; the interpreter checks it
        probe = object.__new__(twin)
        probe.__class__ = kind
    except TypeError:
        return cls
    return twin  # type: ignore[no-any-return]


def _eligible(kind: Any) -> bool:
    if not (isinstance(kind, type) and dataclasses.is_dataclass(kind)):
        return False
    params = kind.__dataclass_params__  # type: ignore[attr-defined]
    fields = dataclasses.fields(kind)
    # Only real fields (no InitVar or ClassVar pseudo-fields), each an ``__init__`` parameter.
    plain = len(fields) == len(kind.__dataclass_fields__) and all(f.init for f in fields)
    return bool(params.frozen and params.init and plain and "__slots__" in vars(kind)
                and not hasattr(kind, "__post_init__"))
