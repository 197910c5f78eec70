"""Validated value types shared by every schema: text without control bytes, cents, ids."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

# Both databases store 64-bit integers, but JSON numbers are exact only up to 2**53 (a larger
# bound shows in the OpenAPI schema as a rounded float); no id or amount comes near either.
MAX_ID = 2**53 - 1


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL bytes; refuse them at the door with a clear message.
    if "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
# A name has at least one visible character; the pattern says so in the OpenAPI schema too.
Name = Annotated[str, Field(min_length=1, max_length=300, pattern=r"\S"), AfterValidator(_no_nul)]
Cents = Annotated[int, Field(ge=0, le=MAX_ID, strict=True)]
Id = Annotated[int, Field(ge=1, le=MAX_ID, strict=True)]
Version = Annotated[
    int,
    Field(
        ge=1,
        le=MAX_ID,
        strict=True,
        description="The record's `version` as read; a stale one is refused with 409.",
    ),
]
Flag = Annotated[bool, Field(strict=True)]
