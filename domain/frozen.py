"""Building frozen slotted dataclass values cheaply on hot paths.

``@dataclass(frozen=True)`` stores every field through ``object.__setattr__`` in its ``__init__``:
for a value with many fields that costs several times a plain slotted class's ``__init__``. The
constructors here build the same value through a mutable twin (same fields, defaults and slot
layout, so its ``__init__`` stores fields directly) that then takes the frozen class: the result is
an ordinary instance of that class, equal to one built the usual way, and frozen from then on.

- ``builder(cls)``: called like ``cls(...)``, for classes without ``__post_init__``.
- ``unchecked(cls)``: every field positionally, ``__post_init__`` skipped: for copies of a value
  that was validated when it was first built (a changed field must keep it valid).
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
    if not _eligible(kind) or hasattr(kind, "__post_init__"):
        return cls
    twin = _twin(kind)
    # The same parameters (a hand-written ``__init__`` would differ).
    if twin is None or inspect.signature(twin) != inspect.signature(kind):
        return cls
    return twin  # type: ignore[no-any-return]


def unchecked(cls: type[T]) -> Callable[..., T]:
    """A constructor taking every field of ``cls`` positionally, in declaration order, that skips
    ``__post_init__`` (validation, normalisation): only for values known to be valid, such as a copy
    of a validated value with a field changed that cannot make it invalid. ``TypeError`` for a class
    it cannot build this way (not a frozen slotted dataclass with plain fields)."""
    kind: Any = cls
    twin = _twin(kind, positional=True) if _eligible(kind) else None
    if twin is None:
        raise TypeError(f"{kind!r} is not a frozen slotted dataclass with plain fields")
    return twin  # type: ignore[no-any-return]


def _eligible(kind: Any) -> bool:
    if not (isinstance(kind, type) and dataclasses.is_dataclass(kind)):
        return False
    params = kind.__dataclass_params__  # type: ignore[attr-defined]
    fields = dataclasses.fields(kind)
    # Only real fields (no InitVar or ClassVar pseudo-fields), each an ``__init__`` parameter.
    plain = len(fields) == len(kind.__dataclass_fields__) and all(f.init for f in fields)
    return bool(params.frozen and params.init and plain and "__slots__" in vars(kind))


def _twin(kind: Any, *, positional: bool = False) -> Any:
    """The mutable twin of ``kind`` whose ``__init__`` ends by giving the instance ``kind`` as its
    class, or None when the layouts do not allow that. ``positional``: every field a required
    positional parameter, else the parameters of ``kind``'s own ``__init__``."""
    specs = []
    for f in dataclasses.fields(kind):
        spec: Any = dataclasses.field(kw_only=f.kw_only and not positional)
        if positional:
            pass
        elif f.default is not dataclasses.MISSING:
            spec = dataclasses.field(default=f.default, kw_only=f.kw_only)
        elif f.default_factory is not dataclasses.MISSING:
            spec = dataclasses.field(default_factory=f.default_factory, kw_only=f.kw_only)
        specs.append((f.name, f.type, spec))

    def switch(self: Any) -> None:  # the twin's last step in ``__init__``: become the frozen class
        self.__class__ = kind

    # (Its own methods besides ``__init__`` never run: each instance is ``kind`` once built.)
    twin: Any = dataclasses.make_dataclass(f"_{kind.__name__}Twin", specs, namespace={"__post_init__": switch},
                                           slots=True, weakref_slot="__weakref__" in kind.__slots__)
    if twin.__slots__ != kind.__slots__:
        return None
    try:  # the layouts must match for the class switch; the interpreter checks it
        probe = object.__new__(twin)
        probe.__class__ = kind
    except TypeError:
        return None
    return twin
