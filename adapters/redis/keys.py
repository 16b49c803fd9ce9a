"""Key names and URL handling for llmport's Redis state: pure functions, no Redis import."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

SCHEMES = ("redis", "rediss", "unix")

_NAMESPACE = re.compile(r"[A-Za-z0-9_.\-:]{1,64}")


def check_url(url: str) -> None:
    """Raise ``ValueError`` (without echoing the URL, which may hold a password) unless ``url``
    is a ``redis://``, ``rediss://`` (TLS) or ``unix://`` URL with a host or socket path."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port validates it
    except ValueError:
        raise ValueError("not a valid URL") from None
    if parts.scheme not in SCHEMES:
        raise ValueError(f"the URL scheme must be one of {', '.join(s + '://' for s in SCHEMES)}")
    if parts.scheme == "unix" and not parts.path:
        raise ValueError("a unix:// URL needs a socket path")
    if parts.scheme != "unix" and not parts.hostname:
        raise ValueError("the URL needs a host")


def redact_url(url: str) -> str:
    """``url`` with its password (and a ``password=`` query value) replaced by ``***``: safe to log."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.password is not None:
            user = parts.username or ""
            host = netloc.rpartition("@")[2]
            netloc = f"{user}:***@{host}"
        query = re.sub(r"(?i)(password=)[^&]*", r"\1***", parts.query)
        return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")
    except ValueError:
        return "<unparseable redis URL>"


def check_namespace(namespace: str) -> None:
    """Raise ``ValueError`` unless ``namespace`` is 1-64 characters of letters, digits, ``_.-:``
    (no braces: the namespace must never become a Redis Cluster hash tag itself)."""
    if not _NAMESPACE.fullmatch(namespace):
        raise ValueError("the namespace must be 1-64 characters of letters, digits and _ . - :")


def _escape(part: str) -> str:
    # Braces would change the hash tag, and ``%`` escapes them, so all three are escaped.
    return part.replace("%", "%25").replace("{", "%7B").replace("}", "%7D")


class RedisKeys:
    """Builds every key llmport writes: ``<namespace>:{<tag>}:<part>:...``.

    The ``{tag}`` is a Redis Cluster hash tag: every key built with one tag lands in one slot, so a
    Lua script or transaction over them works on a cluster. Pick the tag for what one atomic
    operation touches (a route, a budget, a ledger account); different tags spread over the cluster.
    """

    __slots__ = ("namespace",)

    def __init__(self, namespace: str = "llmport") -> None:
        check_namespace(namespace)
        self.namespace = namespace

    def key(self, tag: str, *parts: str) -> str:
        """One key in the ``tag`` slot, e.g. ``key("route:openai/gpt-4o", "breaker")``."""
        if not tag:
            raise ValueError("a key's tag must not be empty (an empty {} is no hash tag)")
        tail = "".join(":" + _escape(p) for p in parts)
        return f"{self.namespace}:{{{_escape(tag)}}}{tail}"

    def channel(self, name: str) -> str:
        """A pub/sub channel name in this namespace (channels have no slot)."""
        return f"{self.namespace}:{_escape(name)}"

    def __repr__(self) -> str:
        return f"RedisKeys({self.namespace!r})"
