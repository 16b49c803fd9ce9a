"""Building frozen slotted dataclass values cheaply on hot paths.

``@dataclass(frozen=True)`` stores every field through ``object.__setattr__`` in its ``__init__``:
for a value with many fields that costs several times a plain slotted class's ``__init__``. The
constructors here build the same value through a mutable twin (same fields, defaults and slot
layout, so its ``__init__`` stores fields directly) that then takes the frozen class: the result is
an ordinary instance of that class, equal to one built the usual way, and frozen from then on.

- ``builder(cls)``: called like ``cls(...)``, for classes without ``__post_init__``.
- ``unchecked(cls)``: every field positionally, ``__post_init__`` skipped: for copies of a value
  that was validated when it was first built (a changed field must keep it valid).

``valueclass`` declares such a class: ``@valueclass`` is ``@dataclass(frozen=True, slots=True)``,
defined at a third of the cost (start-up defines dozens of them).
"""

from __future__ import annotations

import dataclasses
import inspect
import reprlib
from collections.abc import Callable
from operator import attrgetter
from typing import Any, ParamSpec, TypeVar, dataclass_transform

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
    # The same parameters (a hand-written ``__init__`` would differ; a valueclass's own is the twin's by construction).
    if twin is None or (not getattr(kind.__init__, "_generated", False)
                        and inspect.signature(twin) != inspect.signature(kind)):
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
    # A plain class with ``kind``'s slots and one compiled ``__init__`` that stores the fields directly
    # (it has no other method: each instance is ``kind`` once built).
    init = _init(kind, dataclasses.fields(kind), twin=True, positional=positional)
    twin: Any = type(f"_{kind.__name__}Twin", (), {"__slots__": kind.__slots__, "__init__": init,
                                                    "__module__": kind.__module__})
    init.__qualname__ = f"{twin.__qualname__}.__init__"
    try:  # the layouts must match for the class switch; the interpreter checks it
        probe = object.__new__(twin)
        probe.__class__ = kind
    except TypeError:
        return None
    return twin


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, dataclasses.Field))
def valueclass(cls: type[T]) -> type[T]:
    """``@dataclass(frozen=True, slots=True)``, cheaper to define. The dataclass machinery compiles a
    function per generated method (~0.5 ms a class); here it only collects the fields and builds the
    slotted class, ``__init__`` is compiled alone, and ``__eq__``, ``__hash__``, ``__repr__`` and the
    frozen ``__setattr__``/``__delattr__`` are shared closures over the field names. The class is
    the same to its users: a dataclass (``fields``, ``replace``, ``asdict``), frozen, slotted,
    compared and hashed by its fields (``compare``/``hash``/``repr`` of ``field`` honoured), its
    own ``__eq__``/``__hash__``/``__repr__`` kept, picklable, ``__post_init__`` called."""
    own = vars(cls)
    has_eq, has_repr, documented = "__eq__" in own, "__repr__" in own, bool(own.get("__doc__"))
    own_hash = own.get("__hash__", dataclasses.MISSING)
    explicit_hash = not (own_hash is dataclasses.MISSING or (own_hash is None and has_eq))
    kind: Any = dataclasses.dataclass(cls, init=False, repr=False, eq=False, slots=True)
    fields = dataclasses.fields(kind)
    names = tuple(f.name for f in fields)
    if "__init__" not in own:  # a hand-written one is kept, as dataclass keeps it
        init: Any = _init(kind, fields)
        init._generated = True
        _method(kind, init)
    if not has_repr:
        _method(kind, _repr(tuple(f.name for f in fields if f.repr)))
    if not has_eq:
        _method(kind, _eq(_key(tuple(f.name for f in fields if f.compare))))
    if not explicit_hash:
        _method(kind, _hash(_key(tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash)))))
    for method in _frozen(kind, frozenset(names)):
        _method(kind, method)
    _method(kind, _getstate(names))
    _method(kind, _setstate(names))
    params = kind.__dataclass_params__
    params.init = params.repr = params.eq = params.frozen = True
    if not documented:  # as dataclass documents an undocumented class: its signature
        kind.__doc__ = kind.__name__ + str(inspect.signature(kind)).replace(" -> None", "")
    return kind  # type: ignore[no-any-return]


class _Factory:
    """The default of a parameter whose field has a ``default_factory``."""

    def __repr__(self) -> str:
        return "<factory>"


# dataclass's own marker where it has one: the signature is then equal to dataclass's (``builder`` checks)
_FACTORY = getattr(dataclasses, "_HAS_DEFAULT_FACTORY", None) or _Factory()


def _init(kind: Any, fields: tuple[dataclasses.Field[Any], ...], *, twin: bool = False,
          positional: bool = False) -> Callable[..., None]:
    """The ``__init__`` dataclass would write for a frozen slotted class (same parameters, defaults,
    annotations and stores; ``__post_init__`` called last). ``twin``: the mutable twin's, storing
    each field directly and ending by making the instance a ``kind`` (no ``__post_init__``);
    ``positional``: every field a required positional parameter."""
    scope: dict[str, Any] = {"__store__": object.__setattr__, "__factory__": _FACTORY, "__kind__": kind}
    given: list[str] = []
    keyword: list[str] = []
    body: list[str] = []
    for f in fields:
        default = f"__default_{f.name}__"
        if positional:
            parameter, stored = f.name, f.name
        elif f.default is not dataclasses.MISSING:
            scope[default] = f.default
            parameter, stored = f"{f.name}={default}", f.name if f.init else default
        elif f.default_factory is not dataclasses.MISSING:
            scope[default] = f.default_factory
            parameter = f"{f.name}=__factory__"
            stored = f"{default}() if {f.name} is __factory__ else {f.name}" if f.init else f"{default}()"
        elif f.init:
            parameter, stored = f.name, f.name
        else:
            continue  # no value to store: the slot stays empty, as with dataclass
        if f.init:
            (keyword if f.kw_only and not positional else given).append(parameter)
        body.append(f"  self.{f.name} = {stored}" if twin else f"  __store__(self, {f.name!r}, {stored})")
    if twin:
        body.append("  self.__class__ = __kind__")
    elif hasattr(kind, "__post_init__"):
        body.append("  self.__post_init__()")
    parameters = ", ".join(["self", *given, *(["*", *keyword] if keyword else [])])
    source = (f"def __make__({', '.join(scope)}):\n def __init__({parameters}):\n"
              + "\n".join(" " + line for line in body or ["  pass"]) + "\n return __init__")
    made: dict[str, Any] = {}
    exec(source, {}, made)  # field names are identifiers; defaults are passed in, never written
    init: Callable[..., None] = made["__make__"](**scope)
    init.__annotations__ = {f.name: f.type for f in fields if f.init} | {"return": None}
    return init


def _key(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """The tuple of these fields' values (what dataclass compares and hashes)."""
    if len(names) > 1:
        return attrgetter(*names)
    if names:
        one = attrgetter(names[0])
        return lambda self: (one(self),)
    return lambda self: ()


def _eq(key: Callable[[Any], tuple[Any, ...]]) -> Callable[[Any, Any], Any]:
    def __eq__(self: Any, other: Any) -> Any:
        if other.__class__ is self.__class__:
            return key(self) == key(other)
        return NotImplemented
    return __eq__


def _hash(key: Callable[[Any], tuple[Any, ...]]) -> Callable[[Any], int]:
    def __hash__(self: Any) -> int:
        return hash(key(self))
    return __hash__


def _repr(names: tuple[str, ...]) -> Callable[[Any], str]:
    @reprlib.recursive_repr()
    def __repr__(self: Any) -> str:
        return f"{self.__class__.__qualname__}({', '.join(f'{n}={getattr(self, n)!r}' for n in names)})"
    return __repr__


def _frozen(kind: Any, names: frozenset[str]) -> tuple[Callable[..., None], ...]:
    def __setattr__(self: Any, name: str, value: Any) -> None:
        if type(self) is kind or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
        super(kind, self).__setattr__(name, value)

    def __delattr__(self: Any, name: str) -> None:
        if type(self) is kind or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
        super(kind, self).__delattr__(name)
    return __setattr__, __delattr__


def _getstate(names: tuple[str, ...]) -> Callable[[Any], list[Any]]:
    def __getstate__(self: Any) -> list[Any]:  # slots and no __dict__: pickled as the field values
        return [getattr(self, n) for n in names]
    return __getstate__


def _setstate(names: tuple[str, ...]) -> Callable[[Any, list[Any]], None]:
    def __setstate__(self: Any, state: list[Any]) -> None:
        for name, item in zip(names, state, strict=True):
            object.__setattr__(self, name, item)
    return __setstate__


def _method(kind: Any, function: Callable[..., Any]) -> None:
    function.__qualname__ = f"{kind.__qualname__}.{function.__name__}"
    type.__setattr__(kind, function.__name__, function)
