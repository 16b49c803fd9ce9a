"""Reading the settings' sources and naming problems the way the user wrote them.

The environment: every ``LLMPORT_*`` variable (except those in ``NOT_SETTINGS``) is a setting:
``LLMPORT_A__B__C`` sets ``a.b.c`` (names are case-insensitive); a value starting with ``{`` is a JSON
object. The file named by ``LLMPORT_CONFIG`` (else the user config file, see ``user_config_file``): TOML
(or JSON for ``.json``), a table at the top level.
Environment variables win over the file; keyword overrides win over both.

Every value's origin is remembered, so a validation error at ``providers.x.timeout`` is reported as
``LLMPORT_PROVIDERS__X__TIMEOUT`` when the environment set it and as ``llmport.toml: providers.x.timeout``
when the file did; unknown names get a "did you mean …?" from the names valid at that place. Messages
never carry a value.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from llmport.composition.families import KIND_MODELS

#: ``LLMPORT_*`` variables that are not settings (read elsewhere).
NOT_SETTINGS = frozenset({"LLMPORT_CONFIG"})
PREFIX = "LLMPORT_"
MAX_DEPTH = 32

Source = Literal["env", "file", "argument"]
Path_ = tuple[str, ...]


class Origins:
    """Where each setting (and each table above it) was written."""

    __slots__ = ("arguments", "env", "file", "file_keys", "leaves")

    def __init__(self, file: str | None = None) -> None:
        self.file = file
        self.env: dict[Path_, str] = {}  # path -> variable name as written
        self.file_keys: dict[Path_, str] = {}  # path -> dotted key as written
        self.arguments: set[Path_] = set()
        self.leaves: set[Path_] = set()  # paths a variable set directly

    def name(self, path: tuple[Any, ...]) -> str:
        """The variable or file key the user wrote for ``path`` (or would write, for a missing one)."""
        keys = _keys(path)
        if keys in self.arguments:
            return "argument " + ".".join(keys)
        if keys in self.env:
            return self.env[keys]
        if keys in self.file_keys:
            return f"{self.file}: {self.file_keys[keys]}"
        for i in range(len(keys) - 1, 0, -1):
            prefix, rest = keys[:i], keys[i:]
            if prefix in self.leaves:  # a single value stands for a whole table (``RETRY=aggressive``)
                return self.env[prefix] if prefix in self.env else f"{self.file}: {self.file_keys[prefix]}"
            if prefix in self.file_keys:
                return f"{self.file}: " + ".".join([self.file_keys[prefix], *rest])
            if prefix in self.env:
                return self.env[prefix] + "".join("__" + r.upper() for r in rest)
        return env_name(keys)

    def written(self, path: tuple[Any, ...]) -> list[str]:
        """Every variable or file key the user wrote at or below ``path`` (for unknown names)."""
        keys = _keys(path)
        leaves = sorted(v for p, v in self.env.items() if p[:len(keys)] == keys and v.upper().startswith(
            PREFIX + "__".join(keys).upper()) and p in self.leaves)
        return leaves or [self.name(path)]


def _keys(path: tuple[Any, ...]) -> Path_:
    """A location as origin keys: names compared case-insensitively, list indices dropped."""
    return tuple(str(p).lower() for p in path if not isinstance(p, int))


def env_name(path: Path_) -> str:
    return PREFIX + "__".join(p.upper() for p in path) if path else PREFIX + "*"


class _Problems(Exception):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems


def given(data: dict[str, Any], label: str) -> Origins:
    """Origins for settings given as a mapping (named as dotted keys after ``label``)."""
    origins = Origins(file=label)
    _record(data, (), lambda p: origins.file_keys.__setitem__(_keys(p), ".".join(p)), origins.leaves.add)
    return origins


def read_sources(overrides: dict[str, Any]) -> tuple[dict[str, Any], Origins]:
    """The merged settings data (file, then environment, then overrides) and where each came from."""
    from llmport.composition.settings import SettingsError

    origins = Origins()
    problems: list[str] = []
    data = _read_file(origins, problems)
    _merge(data, _read_environment(origins, problems))
    if overrides:
        _merge(data, overrides)
        _record(overrides, (), lambda p: origins.arguments.add(_keys(p)))
    if problems:
        raise SettingsError(*problems) from None
    return data, origins


def _read_file(origins: Origins, problems: list[str]) -> dict[str, Any]:
    path = os.environ.get("LLMPORT_CONFIG")
    label = "LLMPORT_CONFIG"
    if not path:
        path = user_config_file()
        label = "user config file"
    if not path:
        return {}
    file = Path(path)
    origins.file = file.name
    kind = "JSON" if file.suffix.lower() == ".json" else "TOML"
    try:
        raw = file.read_bytes()
    except OSError as exc:
        problems.append(f"{label}: cannot read {path!r}: {exc.strerror}")
        return {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.append(f"{label}: {file.name} is not UTF-8 text (invalid byte at offset {exc.start})")
        return {}
    import tomllib  # only with a TOML file

    try:
        data = json.loads(text) if kind == "JSON" else tomllib.loads(text)
    except RecursionError:
        problems.append(f"{label}: {file.name} nests too deeply (at most {MAX_DEPTH} levels)")
        return {}
    except ValueError as exc:  # json.JSONDecodeError and tomllib.TOMLDecodeError: positions, never content
        problems.append(f"{label}: {file.name} is not valid {kind}: {_position(exc)}")
        return {}
    if not isinstance(data, dict):
        problems.append(f"{label}: {file.name} must hold a table (a JSON object) at the top level, "
                        f"not a {type(data).__name__}")
        return {}
    try:
        _record(data, (), lambda p: origins.file_keys.__setitem__(_keys(p), ".".join(p)), origins.leaves.add)
    except _Problems as exc:
        problems.extend(f"{label}: {file.name}: {p}" for p in exc.problems)
        return {}
    return data


def user_config_file() -> str | None:
    """The XDG user config file (``$XDG_CONFIG_HOME/llmport/config.toml``, else
    ``~/.config/llmport/config.toml``) when it exists; read when ``LLMPORT_CONFIG`` is unset."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    file = Path(base) / "llmport" / "config.toml"
    return str(file) if file.is_file() else None


def _position(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"line {exc.lineno}, column {exc.colno}"
    message = str(exc)
    start = message.rfind("(at ")
    return message[start + 1:-1] if start >= 0 and message.endswith(")") else "syntax error"


def _record(data: dict[str, Any], path: Path_, add: typing.Callable[[Path_], object],
            leaf: typing.Callable[[Path_], object] | None = None) -> None:
    """Call ``add`` for every key path in ``data`` and ``leaf`` for those holding a single value
    (iteratively; nesting is bounded)."""
    stack: list[tuple[Path_, Any]] = [(path, data)]
    while stack:
        where, node = stack.pop()
        if len(where) > MAX_DEPTH:
            raise _Problems([f"nests deeper than {MAX_DEPTH} levels (at {'.'.join(where[:3])}...)"])
        if where:
            add(where)
            if leaf is not None and not isinstance(node, dict):
                leaf(_keys(where))
        if isinstance(node, dict):
            stack.extend(((*where, str(k)), v) for k, v in node.items())


def _read_environment(origins: Origins, problems: list[str]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for variable in sorted(os.environ):
        upper = variable.upper()
        if not upper.startswith(PREFIX) or upper in NOT_SETTINGS:
            continue
        path = tuple(variable[len(PREFIX):].lower().split("__"))
        if not all(path):
            problems.append(f"{variable}: not a setting name (levels are separated by exactly two underscores)")
            continue
        value: Any = os.environ[variable]
        if value.strip().startswith("{"):
            with contextlib.suppress(ValueError, RecursionError):  # validation reports the type, not the value
                value = json.loads(value)
        if isinstance(value, dict):
            try:
                _record(value, path, lambda p: None)
            except _Problems as exc:
                problems.extend(f"{variable}: {p}" for p in exc.problems)
                continue
        segments = variable[len(PREFIX):].split("__")
        node = data
        for depth, key in enumerate(path[:-1], 1):
            origins.env.setdefault(path[:depth], PREFIX + "__".join(segments[:depth]))
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                problems.append(f"{variable}: conflicts with {env_name(path[:depth])}, which sets a single value")
                break
            node = child
        else:
            if isinstance(node.get(path[-1]), dict) and isinstance(value, dict):
                _merge(node[path[-1]], value)
            elif isinstance(node.get(path[-1]), dict):
                problems.append(f"{variable}: conflicts with the {env_name(path)}__* variables")
                continue
            else:
                node[path[-1]] = value
            origins.env[path] = variable
            origins.leaves.add(path)  # problems inside a JSON value are reported under this variable
    return data


def _merge(base: dict[str, Any], top: dict[str, Any]) -> None:
    """Deep-merge ``top`` into ``base`` (``top`` wins; names match case-insensitively, as the
    environment's do)."""
    for key, value in top.items():
        if key not in base:
            key = next((k for k in base if k.lower() == key.lower()), key)
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


# --- describing validation errors ---------------------------------------------------------------

_MARK = "\x00"


def describe(exc: ValidationError, origins: Origins, data: dict[str, Any]) -> list[str]:
    """One line per problem: the variable or file key as written, what is wrong, no value."""
    lines: list[str] = []
    for err in exc.errors(include_input=False, include_url=False, include_context=True):
        loc = tuple(err["loc"])
        message = err["msg"]
        kind = err["type"]
        if kind == "value_error" and message.startswith("Value error, "):
            message = message[len("Value error, "):]
            if message.startswith(_MARK):
                _, where, message = message.split(_MARK, 2)
                loc = (*loc, where)
        elif kind == "union_tag_not_found":
            loc = (*loc, "kind")
            message = f"missing: the provider kind, one of {', '.join(KIND_MODELS)}"
        elif kind == "union_tag_invalid":
            loc = (*loc, "kind")
            message = "unknown provider kind" + _did_you_mean_value(_at(data, loc), list(KIND_MODELS)) + \
                f" (kinds: {', '.join(KIND_MODELS)})"
        elif kind in ("extra_forbidden", "unexpected_keyword_argument"):
            elsewhere = _kinds_with(loc)
            for written in origins.written(loc):
                if elsewhere:
                    kind_given = _at(data, (*loc[:2], "kind"))
                    line = (f"{written}: does not apply to kind {kind_given} "
                            f"(a setting of the kinds {', '.join(elsewhere)})")
                else:
                    line = f"{written}: unknown setting" + _did_you_mean_name(loc, written, data)
                if line not in lines:
                    lines.append(line)
            continue
        elif kind == "missing":
            message = "required"
        line = f"{origins.name(loc)}: {message}"
        if line not in lines:
            lines.append(line)
    return lines


def close_matches(word: str, choices: Iterable[str]) -> list[str]:
    """The closest of ``choices`` to ``word`` (for "did you mean"; difflib is imported on a mistake only)."""
    import difflib

    return difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)


def _kinds_with(loc: tuple[Any, ...]) -> list[str]:
    """The provider kinds that have the setting at ``providers.<name>.<field>`` (none elsewhere)."""
    if len(loc) != 3 or loc[0] != "providers" or not isinstance(loc[2], str):
        return []
    return [kind for kind, model in KIND_MODELS.items() if loc[2] in model.model_fields]


def _at(data: Any, loc: tuple[Any, ...]) -> Any:
    for key in loc:
        found = isinstance(data, dict) and key in data
        if found or (isinstance(data, list) and isinstance(key, int) and key < len(data)):
            data = data[key]
        else:
            return None
    return data


def _did_you_mean_value(value: Any, choices: list[str]) -> str:
    if not isinstance(value, str):
        return ""
    close = close_matches(value.lower(), choices)
    return f"; did you mean {close[0]!r}?" if close else ""


def _did_you_mean_name(loc: tuple[Any, ...], written: str, data: dict[str, Any]) -> str:
    keys = _keys(loc)
    if not keys:
        return ""
    candidates = _names_at(keys[:-1], data)
    close = close_matches(keys[-1].lower(), candidates)
    if not close:
        return ""
    if written.upper().startswith(PREFIX):
        segments = written[len(PREFIX):].split("__")
        segments[len(keys) - 1] = close[0].upper()
        return f"; did you mean {PREFIX + '__'.join(segments)}?"
    return f"; did you mean {'.'.join((*keys[:-1], close[0]))}?"


def _names_at(path: Path_, data: dict[str, Any]) -> list[str]:
    """The setting names valid at ``path`` (for suggestions)."""
    from llmport.composition.settings import Settings

    model: Any = Settings
    i = 0
    while i < len(path):
        if model is Settings and path[i] == "providers":
            if i + 1 >= len(path):
                return []
            kind = _at(data, ("providers", path[i + 1], "kind"))
            found = KIND_MODELS.get(kind) if isinstance(kind, str) else None
            if found is None:
                return sorted({n for m in KIND_MODELS.values() for n in m.model_fields})
            model, i = found, i + 2
            continue
        annotation = _unwrap(model.model_fields[path[i]].annotation) if path[i] in model.model_fields else None
        if annotation is None:
            return []
        if typing.get_origin(annotation) is dict:
            annotation = _unwrap(typing.get_args(annotation)[1])
            i += 1
        if dataclasses.is_dataclass(annotation) and i == len(path) - 1:
            return [f.name for f in dataclasses.fields(annotation)]
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model, i = annotation, i + 1
    return list(model.model_fields)


def _unwrap(annotation: Any) -> Any:
    """``X | None`` and ``Annotated[X, ...]`` -> ``X``."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation
