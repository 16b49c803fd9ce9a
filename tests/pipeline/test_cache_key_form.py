"""The cache key's flat document: counted messages and parts keep it unambiguous, and the bytes
hashed depend on the values only, never on the identity of the objects holding them."""

from __future__ import annotations

import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmport.domain import CompletionRequest, ImagePart, Message, TextPart
from llmport.ports.cache_key import cache_key


def key(messages: list[Message], **kw: object) -> str:
    return cache_key(CompletionRequest(model="m", messages=messages, **kw), "smart", "t")  # type: ignore[arg-type]


def test_message_and_part_boundaries_change_the_key() -> None:
    one_message_two_parts = [Message("user", (TextPart("a"), TextPart("b")))]  # type: ignore[arg-type]
    two_messages = [Message.user("a"), Message.user("b")]
    joined = [Message.user("ab")]
    roles = [Message.user("a"), Message.assistant("b")]
    keys = {key(one_message_two_parts), key(two_messages), key(joined), key(roles)}
    assert len(keys) == 4
    # a message's text that looks like the count and role of another message is still its text
    assert key([Message.user("a"), Message.user("b")]) != key([Message("user", (TextPart("a"), TextPart("b")))])  # type: ignore[arg-type]


def test_the_key_depends_on_values_not_object_identity() -> None:
    text = "".join(["same ", "text"])  # built at run time: not interned
    interned = sys.intern("same text")
    shared = Message.user(interned)
    assert key([Message.user(text), Message.user(text)]) == key([shared, shared])
    assert key([Message.user(text)], system="".join(["s", "ys"])) == key([Message.user(interned)], system="sys")


def test_scalars_of_different_types_differ() -> None:
    base = [Message.user("hi")]
    keys = {key(base, temperature=1.0), key(base, temperature=0.0), key(base, seed=1), key(base, seed=0),
            key(base, max_tokens=1), key(base)}
    assert len(keys) == 6


@settings(max_examples=80, deadline=None)
@given(st.lists(st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=3), min_size=1, max_size=3),
       st.lists(st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=3), min_size=1, max_size=3))
def test_equal_keys_only_for_equal_conversations(a: list[list[str]], b: list[list[str]]) -> None:
    def convo(texts: list[list[str]]) -> list[Message]:
        return [Message("user", tuple(TextPart(t) for t in parts)) for parts in texts]  # type: ignore[arg-type]

    assert (key(convo(a)) == key(convo(b))) == (a == b)


def test_non_text_parts_are_keyed_in_full() -> None:
    png = ImagePart(data=b"\x89PNG", media_type="image/png")
    other = ImagePart(data=b"\x89PNX", media_type="image/png")
    assert key([Message.user("x", png)]) != key([Message.user("x", other)])
    assert key([Message.user("x", png)]) == key([Message.user("x", ImagePart(data=b"\x89PNG", media_type="image/png"))])


def test_messages_with_fields_beyond_role_and_parts_are_keyed_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    from llmport.ports import cache_key as module

    monkeypatch.setattr(module, "_PLAIN_MESSAGES", False)  # as if Message had gained a field
    a, b = [Message.user("a"), Message.user("b")], [Message.user("a"), Message.user("c")]
    assert key(a) == key([Message.user("a"), Message.user("b")])
    assert key(a) != key(b)
    assert key(a) != key([Message.user("a")])
    whole = key(a)
    monkeypatch.setattr(module, "_PLAIN_MESSAGES", True)
    assert key(a) != whole  # the whole-message form is another document than the flat one


@pytest.mark.parametrize(("name", "value"), [
    ("system", "be brief"), ("temperature", 0.5), ("top_p", 0.5), ("max_tokens", 5), ("seed", 5)])
def test_values_of_builtin_subclasses_are_keyed_by_their_type(name: str, value: object) -> None:
    # e.g. a numpy float or a str subclass: keyed through its plain form (marshal refuses subclasses)
    subclass = type(f"My{type(value).__name__}", (type(value),), {})
    mine = key([Message.user("hi")], **{name: subclass(value)})
    assert mine == key([Message.user("hi")], **{name: subclass(value)})
    assert mine != key([Message.user("hi")], **{name: value})
