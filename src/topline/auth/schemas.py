"""Pydantic shapes of users, teams and API tokens for services and the API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from topline.auth.enums import Role
from topline.types import (
    BLANKS,
    Flag,
    Id,
    IsoDateTime,
    Name,
    Omitted,
    RefusesHiddenNulls,
    Text,
    Version,
    WholeNumber,
)

# Column widths of the users, teams and api_tokens tables: longer text would fail on PostgreSQL.
EMAIL_MAX = 320
NAME_MAX = 200
TOKEN_NAME_MAX = 100
PASSWORD_MIN = 8
PASSWORD_MAX = 1024
# The same rule as `auth.service.create_user`, in the schema too: surrounding blanks are trimmed,
# NUL never reaches the database, and the blanks are spelled out because `\s` means different
# characters to the regex engines of the schema's readers and of pydantic.
_AT_LEAST_ONE = rf"[^@{BLANKS}\x00]+"
EMAIL_PATTERN = rf"^[{BLANKS}]*{_AT_LEAST_ONE}@{_AT_LEAST_ONE}\.{_AT_LEAST_ONE}[{BLANKS}]*$"

# `Name` (visible, NUL-free) narrowed to the width of the users.name and teams.name columns.
PersonName = Annotated[Name, Field(max_length=NAME_MAX)]
TeamName = PersonName


class StrictModel(RefusesHiddenNulls):
    """Input: unknown fields are refused; numbers and flags must be real JSON numbers/booleans.

    Whole-model strict mode would also refuse ISO date strings, the only way JSON carries dates,
    so strictness sits on the number types (`Cents`, `Id`, `Flag`) instead.
    """

    model_config = ConfigDict(extra="forbid")


class ReadModel(BaseModel):
    """Output, read from ORM objects."""

    model_config = ConfigDict(from_attributes=True)


class UserCreate(StrictModel):
    """A new person. Without a password they own records but cannot sign in."""

    # Plain `str`: a field has one pattern, and this one refuses NUL itself.
    email: str = Field(min_length=3, max_length=EMAIL_MAX, pattern=EMAIL_PATTERN)
    name: PersonName
    role: Role
    password: Text | None = Field(default=None, min_length=PASSWORD_MIN, max_length=PASSWORD_MAX)
    manager_id: Id | None = Field(default=None, description="Who they report to.")
    team_id: Id | None = None
    hired_at: IsoDateTime | None = Field(default=None, description="Defaults to now.")


class UserUpdate(StrictModel):
    """An admin's edit of a person; only the fields given change.

    `active: false` records that the person left (their records stay); `manager_id: null`
    takes them out of any reporting line.
    """

    # Name, role and active cannot be cleared: the schema offers no null for them.
    name: PersonName | Omitted = None
    role: Role | Omitted = None
    manager_id: Id | None = None
    team_id: Id | None = None
    active: Flag | Omitted = None


class UserPatch(UserUpdate):
    """A partial edit of a person, made against the version the editor read."""

    version: Version


class UserRead(ReadModel):
    """A person as the API shows them (never their password hash)."""

    id: int
    email: str
    name: str
    role: Role
    manager_id: int | None
    team_id: int | None
    active: bool
    hired_at: datetime
    left_at: datetime | None
    created_at: datetime
    version: int


class TeamCreate(StrictModel):
    """A new sales team, optionally led by a manager and nested under a parent team."""

    name: TeamName
    manager_id: Id | None = None
    parent_id: Id | None = None


class TeamUpdate(StrictModel):
    """An admin's edit of a team; only the fields given change."""

    name: TeamName | Omitted = None
    manager_id: Id | None = None
    parent_id: Id | None = None


class TeamPatch(TeamUpdate):
    """A partial edit of a team, made against the version the editor read."""

    version: Version


class TeamRead(ReadModel):
    """A sales team."""

    id: int
    name: str
    manager_id: int | None
    parent_id: int | None
    version: int


class TokenCreate(StrictModel):
    """A new personal API token for the caller."""

    name: Annotated[Name, Field(max_length=TOKEN_NAME_MAX, description="What it is for.")]
    expires_in_days: Annotated[int, Field(ge=1, le=3650, strict=True), WholeNumber] | None = Field(
        default=None,
        description="The token stops working this many days from now; never, when absent.",
    )


class TokenRead(ReadModel):
    """A personal API token, identified by its prefix (the token itself is never shown again)."""

    id: int
    user_id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenRead):
    """A token just created, with its plain text: shown this once, stored only as a hash."""

    token: str = Field(description="Send as `Authorization: Bearer <token>`. Shown only now.")
