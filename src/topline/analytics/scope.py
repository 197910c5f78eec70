"""Whose deals a report covers: the whole org, a manager's reporting subtree, or one rep.

A viewer can report only on what they may see (the one access rule of `topline.access`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Select, literal, select
from sqlalchemy.orm import Session

from topline import access
from topline.auth.enums import Role
from topline.auth.models import User
from topline.auth.service import visible_user_ids_query
from topline.errors import InvalidInput
from topline.storage.types import BigId


class ScopeKind(StrEnum):
    ORG = "org"
    TEAM = "team"
    REP = "rep"


@dataclass(frozen=True)
class Scope:
    """The owners whose deals count: `owners` selects their ids (None: everyone)."""

    kind: ScopeKind
    user_id: int | None
    name: str
    owners: Select[tuple[int]] | None

    def owned(self, column: Any) -> ColumnElement[bool] | None:
        """The filter on an owner column, or None for the whole org."""
        return None if self.owners is None else column.in_(self.owners)


def org_scope(name: str = "Whole org") -> Scope:
    return Scope(ScopeKind.ORG, None, name, None)


def rep_scope(rep: User) -> Scope:
    return Scope(ScopeKind.REP, rep.id, rep.name, select(literal(rep.id, type_=BigId)))


def team_scope(manager: User) -> Scope:
    """The manager and everyone below them in the reporting line."""
    if manager.role == Role.ADMIN:
        return org_scope()
    owners = visible_user_ids_query(manager)
    assert owners is not None
    return Scope(ScopeKind.TEAM, manager.id, f"Team of {manager.name}", owners)


def resolve_scope(
    session: Session, viewer: User, *, team_of: int | None = None, rep_id: int | None = None
) -> Scope:
    """The scope asked for, if the viewer may see it; by default all the viewer may see."""
    if team_of is not None and rep_id is not None:
        raise InvalidInput("give a team or a rep, not both")
    if rep_id is not None:
        return rep_scope(access.get_visible(session, User, rep_id, viewer))
    if team_of is not None:
        manager = access.get_visible(session, User, team_of, viewer)
        return rep_scope(manager) if manager.role == Role.REP else team_scope(manager)
    if viewer.role == Role.ADMIN:
        return org_scope()
    if viewer.role == Role.MANAGER:
        return team_scope(viewer)
    return rep_scope(viewer)
