"""Teams over HTTP: everyone signed in reads them; admins add and edit them."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from topline import access
from topline.auth import service as auth_service
from topline.auth.enums import Role
from topline.auth.errors import StaleTeam, TeamNotFound
from topline.auth.models import Team, User
from topline.auth.schemas import TeamCreate, TeamPatch, TeamRead, TeamUpdate
from topline.types import MAX_ID
from topline.web.api.common import (
    ApiCaller,
    ApiUser,
    Cursor,
    Limit,
    Page,
    WithTotal,
    audit,
    change_versioned,
    errors,
    paginate,
)
from topline.web.deps import DbSession
from topline.web.routing import TransactionRoute, reads_one_record

router = APIRouter(prefix="/teams", tags=["teams"], route_class=TransactionRoute)

TeamId = Annotated[int, Path(ge=1, le=MAX_ID, description="Team id.")]
TeamSort = Literal["name", "-name", "id", "-id"]
SORT_COLUMNS = {"name": Team.name, "id": Team.id}


@router.get("", response_model=Page[TeamRead], responses=errors(404))
def list_teams(
    session: DbSession,
    user: ApiUser,
    manager_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    parent_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    q: Annotated[
        str | None, Query(min_length=1, max_length=100, description="Name contains.")
    ] = None,
    sort: TeamSort = "name",
    cursor: Cursor = None,
    limit: Limit = 50,
    with_total: WithTotal = True,
) -> Page[TeamRead]:
    """The sales teams of the organisation (the org chart is not secret: everyone reads it)."""
    stmt = select(Team)
    if manager_id is not None:
        stmt = stmt.where(Team.manager_id == manager_id)
    if parent_id is not None:
        stmt = stmt.where(Team.parent_id == parent_id)
    if q is not None:
        stmt = stmt.where(Team.name.icontains(q, autoescape=True))
    rows, next_cursor, total = paginate(
        session,
        stmt,
        sort_column=SORT_COLUMNS[sort.lstrip("-")],
        id_column=Team.id,
        descending=sort.startswith("-"),
        cursor=cursor,
        limit=limit,
        with_total=with_total,
    )
    return Page[TeamRead](
        items=[TeamRead.model_validate(t) for t in rows], next_cursor=next_cursor, total=total
    )


@router.get("/{team_id:int}", response_model=TeamRead, responses=errors(404))
@reads_one_record
def get_team(session: DbSession, user: ApiCaller, team_id: TeamId) -> TeamRead:
    """One team."""
    return TeamRead.model_validate(_team(session, team_id))


@router.post(
    "",
    response_model=TeamRead,
    status_code=status.HTTP_201_CREATED,
    responses=errors(403, 404, 409),
)
def create_team(session: DbSession, user: ApiUser, body: TeamCreate) -> TeamRead:
    """Add a team (admins only); team names are unique.

    An unknown `manager_id` or `parent_id` is 404; a taken name, or a leader who is not an
    active manager or admin, is 409.
    """
    return add_team(session, user, body)


@router.patch("/{team_id:int}", response_model=TeamRead, responses=errors(403, 404, 409))
def update_team(session: DbSession, user: ApiUser, team_id: TeamId, body: TeamPatch) -> TeamRead:
    """Rename a team, change its leader or move it under another team (admins only).

    A stale `version` is refused with 409 and the team as it stands in `details.current`. An
    unknown `manager_id` or `parent_id` is 409 too, as is a taken name, a leader who is not an
    active manager or admin, or a team that would sit under itself.
    """
    changes = TeamUpdate.model_validate(body.model_dump(exclude={"version"}, exclude_unset=True))
    return edit_team(session, user, team_id, changes, version=body.version)


def add_team(session: Session, actor: User, body: TeamCreate) -> TeamRead:
    """Add a team as an admin, and record it in the audit log (the API's and pages' write)."""
    access.require_role(actor, Role.ADMIN)
    manager = (
        auth_service.referenced_user(session, body.manager_id, field="manager_id")
        if body.manager_id is not None
        else None
    )
    parent = (
        auth_service.referenced_team(session, body.parent_id, field="parent_id")
        if body.parent_id is not None
        else None
    )
    team = auth_service.create_team(session, name=body.name, manager=manager, parent=parent)
    after = TeamRead.model_validate(team)
    audit(session, actor, action="create", entity="team", entity_id=team.id, after=after)
    return after


def edit_team(
    session: Session, actor: User, team_id: int, changes: TeamUpdate, *, version: int
) -> TeamRead:
    """Apply an admin's edit of a team made on `version`, and record it in the audit log when
    anything changed (the API's and pages' write). A stale version raises `StaleTeam`."""
    access.require_role(actor, Role.ADMIN)
    team = _team(session, team_id)
    before, changed = change_versioned(
        session, team, version, read=TeamRead, stale=StaleTeam,
        change=lambda: auth_service.update_team(session, team, changes=changes),
    )  # fmt: skip
    after = TeamRead.model_validate(changed)
    if after != before:
        audit(
            session, actor, action="update", entity="team", entity_id=team.id, before=before,
            after=after,
        )  # fmt: skip
    return after


def _team(session: Session, team_id: int) -> Team:
    team = session.get(Team, team_id)
    if team is None:
        raise TeamNotFound(f"team {team_id} not found")
    return team
