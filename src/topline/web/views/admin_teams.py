"""Teams: every sales team with its leader, parent team and head count; admins add and change
them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from topline import access
from topline.auth.enums import Role
from topline.auth.errors import TeamNotFound
from topline.auth.models import Team, User
from topline.auth.schemas import TeamCreate, TeamUpdate
from topline.errors import StaleRecord, ToplineError
from topline.storage.sql import names_by_id
from topline.types import MAX_ID
from topline.web.api.teams import add_team, edit_team
from topline.web.deps import CurrentUser, DbSession
from topline.web.routing import TransactionRoute
from topline.web.views.admin_forms import (
    AdminForm,
    form_version,
    parse_id,
    render,
    require_staff,
    stale_form,
)

router = APIRouter(route_class=TransactionRoute)

FIELDS = ("name", "manager_id", "parent_id")
MESSAGES = {"name": "Enter the team's name (up to 200 characters)."}
TeamId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("/admin/teams", response_class=HTMLResponse)
def teams_page(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    saved: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> HTMLResponse:
    """Every team, by name (the org chart is not secret); admins add teams here."""
    require_staff(user)
    return _render(request, session, user, AdminForm(), saved=saved)


@router.post("/admin/teams", response_class=HTMLResponse, response_model=None)
def add_team_page(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    name: Annotated[str, Form(max_length=1000)] = "",
    manager_id: Annotated[str, Form(max_length=30)] = "",
    parent_id: Annotated[str, Form(max_length=30)] = "",
) -> Response:
    """Add a team (admins only); a refusal keeps what was typed and says why by the field."""
    access.require_role(user, Role.ADMIN)
    form = AdminForm({"name": name, "manager_id": manager_id, "parent_id": parent_id})
    manager, parent = parse_id(form, "manager_id"), parse_id(form, "parent_id")
    try:
        body = TeamCreate.model_validate({"name": name, "manager_id": manager, "parent_id": parent})
    except ValidationError as error:
        form.invalid(error, MESSAGES)
    if not form.failed:
        try:
            team = add_team(session, user, body)
        except ToplineError as error:
            form.refuse(error, FIELDS)
        else:
            return RedirectResponse(f"/admin/teams?saved={team.id}", status_code=303)
    return _render(request, session, user, form, status_code=form.status_code)


@router.get("/admin/teams/{team_id}", response_class=HTMLResponse)
def team_page(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    team_id: TeamId,
) -> HTMLResponse:
    """One team and its members; admins rename it, change its leader or parent here."""
    require_staff(user)
    team = _team(session, team_id)
    return _detail(request, session, user, team, _edit_form(team))


@router.post("/admin/teams/{team_id}", response_class=HTMLResponse, response_model=None)
def edit_team_page(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    team_id: TeamId,
    version: Annotated[str, Form(max_length=64)],
    name: Annotated[str, Form(max_length=1000)] = "",
    manager_id: Annotated[str, Form(max_length=30)] = "",
    parent_id: Annotated[str, Form(max_length=30)] = "",
) -> Response:
    """Change a team (admins only) as it stood when the form was opened."""
    access.require_role(user, Role.ADMIN)
    team = _team(session, team_id)
    form = AdminForm(
        {"name": name, "manager_id": manager_id, "parent_id": parent_id, "version": version}
    )
    manager, parent = parse_id(form, "manager_id"), parse_id(form, "parent_id")
    try:
        body = TeamUpdate.model_validate({"name": name, "manager_id": manager, "parent_id": parent})
    except ValidationError as error:
        form.invalid(error, MESSAGES)
    if not form.failed:
        try:
            edit_team(session, user, team.id, body, version=form_version(form))
        except StaleRecord:
            form.refuse(stale_form("team"), FIELDS)
        except ToplineError as error:
            form.refuse(error, FIELDS)
        else:
            return RedirectResponse(f"/admin/teams?saved={team.id}", status_code=303)
    form.values["version"] = str(team.version)
    return _detail(request, session, user, team, form, status_code=form.status_code)


def _team(session: Session, team_id: int) -> Team:
    team = session.get(Team, team_id)
    if team is None:
        raise TeamNotFound(f"team {team_id} not found")
    return team


def _edit_form(team: Team) -> AdminForm:
    return AdminForm(
        {
            "name": team.name,
            "manager_id": str(team.manager_id or ""),
            "parent_id": str(team.parent_id or ""),
            "version": str(team.version),
        }
    )


def _render(
    request: Request,
    session: Session,
    viewer: User,
    form: AdminForm,
    *,
    saved: int | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    teams = list(session.scalars(select(Team).order_by(Team.name, Team.id)))
    sizes = dict(
        session.execute(
            select(User.team_id, func.count())
            .where(User.team_id.is_not(None), User.active.is_(True))
            .group_by(User.team_id)
        ).all()
    )
    context: dict[str, Any] = {
        "teams": teams,
        "names": {team.id: team.name for team in teams},
        "leaders": names_by_id(session, User, {team.manager_id for team in teams}),
        "sizes": sizes,
        "saved": next((team.name for team in teams if team.id == saved), None),
        "form": form,
        **(_choices(session, teams) if viewer.role == Role.ADMIN else {}),
    }
    return render(request, "admin/teams.html", context, status_code)


def _detail(
    request: Request,
    session: Session,
    viewer: User,
    team: Team,
    form: AdminForm,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    teams = list(session.scalars(select(Team).order_by(Team.name, Team.id)))
    members_stmt = select(User.id, User.name, User.role, User.active).where(User.team_id == team.id)
    in_scope = access.users_filter(viewer)
    if in_scope is not None:
        members_stmt = members_stmt.where(in_scope)
    members = session.execute(members_stmt.order_by(User.name, User.id)).all()
    context: dict[str, Any] = {
        "team": team,
        "leader": names_by_id(session, User, [team.manager_id]).get(team.manager_id or 0),
        "parent": next((t.name for t in teams if t.id == team.parent_id), None),
        "members": members,
        "form": form,
        **(_choices(session, [t for t in teams if t.id != team.id]) if viewer.role == Role.ADMIN
           else {}),
    }  # fmt: skip
    return render(request, "admin/team.html", context, status_code)


def _choices(session: Session, teams: list[Team]) -> dict[str, Any]:
    """Who can lead a team (active managers and admins) and the teams to nest under."""
    leaders = session.execute(
        select(User.id, User.name)
        .where(User.role != Role.REP, User.active.is_(True))
        .order_by(User.name, User.id)
    )
    return {
        "leader_choices": [(str(row[0]), row[1]) for row in leaders],
        "parent_choices": [(str(team.id), team.name) for team in teams],
    }
