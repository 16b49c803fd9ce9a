"""``MarkdownContextSource``: guidance from a directory of Markdown files (a team's guidelines, ADRs).

Each ``*.md`` file (subdirectories included) is one snippet; optional front matter says when it applies::

    ---
    tags: [python, api]        # only for requests tagged with one of these (metadata "tags")
    tenants: [acme]            # only for these tenants
    keywords: [database, sql]  # only when the last user message mentions one of these
    priority: 10               # higher is kept first under the token cap (default 0)
    ---
    Use SQLAlchemy 2 style queries; never build SQL strings by hand.

A missing key means "always". The files are read once, at construction (``reload()`` re-reads them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from llmport.ports.context import ContextQuery, Snippet

_LIST_KEYS = frozenset({"tags", "tenants", "keywords"})


class ContextFileError(ValueError):
    """A guidance file that cannot be read or whose front matter is malformed."""


@dataclass(frozen=True, slots=True)
class _Guidance:
    snippet: Snippet
    tags: frozenset[str]
    tenants: frozenset[str]
    keywords: tuple[str, ...]

    def applies(self, query: ContextQuery) -> bool:
        if self.tenants and query.tenant not in self.tenants:
            return False
        if self.tags and not self.tags & query.tags:
            return False
        if self.keywords:
            message = query.last_user_message.lower()
            return any(k in message for k in self.keywords)
        return True


class MarkdownContextSource:
    """A ``ContextSource`` over a directory of Markdown files with front matter."""

    _guidance: tuple[_Guidance, ...]  # set by reload()

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.reload()

    def reload(self) -> None:
        """Read the directory again."""
        if not self.directory.is_dir():
            raise ContextFileError(f"{self.directory} is not a directory")
        files = sorted(p for p in self.directory.rglob("*.md") if p.is_file())
        self._guidance = tuple(g for g in (_load(p, p.relative_to(self.directory).as_posix()) for p in files) if g)

    async def snippets(self, query: ContextQuery) -> Sequence[Snippet]:
        return tuple(g.snippet for g in self._guidance if g.applies(query))


def _load(path: Path, name: str) -> _Guidance | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ContextFileError(f"{name}: cannot read the file ({type(exc).__name__})") from None
    meta, body = parse_front_matter(text, name)
    if not body.strip():
        return None
    priority = meta.get("priority", "0")
    if not isinstance(priority, str) or not priority.lstrip("-").isdigit():
        raise ContextFileError(f"{name}: priority must be an integer")
    return _Guidance(
        Snippet(body.strip(), name, int(priority)),
        frozenset(t.lower() for t in _list(meta, "tags")),
        frozenset(_list(meta, "tenants")),
        tuple(k.lower() for k in _list(meta, "keywords")),
    )


def _list(meta: dict[str, str | list[str]], key: str) -> list[str]:
    value = meta.get(key, [])
    return value if isinstance(value, list) else [value]


def parse_front_matter(text: str, name: str = "<text>") -> tuple[dict[str, str | list[str]], str]:
    """Split ``---``-fenced front matter (``key: value`` and ``key: [a, b]`` lines) from the body."""
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        return {}, text
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise ContextFileError(f"{name}: front matter opened with '---' is never closed") from None
    meta: dict[str, str | list[str]] = {}
    for number, line in enumerate(lines[1:end], start=2):
        stripped = line.split(" #", 1)[0].strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, sep, value = stripped.partition(":")
        key = key.strip().lower()
        if not sep or not key:
            raise ContextFileError(f"{name}:{number}: expected 'key: value'")
        value = value.strip()
        if key in _LIST_KEYS:
            inner = value[1:-1] if value.startswith("[") and value.endswith("]") else value
            meta[key] = [v.strip().strip("'\"") for v in inner.split(",") if v.strip().strip("'\"")]
        else:
            meta[key] = value.strip("'\"")
    return meta, "\n".join(lines[end + 1:])
