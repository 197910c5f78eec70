"""Who is asking: what the access rule needs to know of a person."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from topline.auth.enums import Role


class Viewer(Protocol):
    """Anyone the access rule can scope for: a `User`, or a `Caller`."""

    @property
    def id(self) -> int: ...

    @property
    def role(self) -> Role: ...


@dataclass(frozen=True)
class Caller:
    """The person behind a request, as a read of one record needs them: their id and role.

    Reading them without the ORM's `User` (identity map, change tracking, every column) costs
    a fifth of such a read (`topline.auth.tokens.check_token_caller`).
    """

    id: int
    role: Role
