"""Output types shared by the structured-output tests."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Address(BaseModel):
    city: str
    zip: str | None = None


class Person(BaseModel):
    name: str
    age: int = Field(ge=0)
    addresses: list[Address] = []


class Tags(BaseModel):
    """Every field has a default: a partial object validates from the first key on."""

    title: str = ""
    tags: list[str] = []
