"""People and the reporting line: the people in the viewer's scope, and (admins) adding a
person and changing their role, manager, team or whether they are still active."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from topline import access
from topline.auth.enums import Role
from topline.auth.models import Team, User
from topline.auth.schemas import UserCreate, UserUpdate
from topline.errors import StaleRecord, ToplineError
from topline.storage.sql import names_by_id
from topline.types import MAX_ID
from topline.web.api.common import paginate
from topline.web.api.users import add_user, edit_user
from topline.web.deps import CurrentUser, DbSession
from topline.web.routing import TransactionRoute
from topline.web.views.admin_forms import (
    PAGE_SIZE,
    AdminForm,
    form_version,
    parse_id,
    render,
    require_staff,
    stale_form,
)

router = APIRouter(route_class=TransactionRoute)

NEW_FIELDS = ("name", "email", "role", "manager_id", "team_id", "password")
EDIT_FIELDS = ("name", "role", "manager_id", "team_id", "active")
MESSAGES = {
    "email": "Enter an email address such as ana@example.com.",
    "name": "Enter the person's name (up to 200 characters).",
    "role": "Pick a role.",
    "password": "A password has 8 to 1,024 characters; leave it empty for a person who does "
    "not sign in.",
}
Words = Annotated[str | None, Query(max_length=100)]
Cursor = Annotated[str | None, Query(max_length=500)]
UserId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    q: Words = None,
    cursor: Cursor = None,
    added: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> HTMLResponse:
    """The people the viewer may see, by name; admins also add people here."""
    require_staff(user)
    form = AdminForm({"role": Role.REP.value})
    return _list(request, session, user, form, q=q, cursor=cursor, added=added)


@router.post("/admin/users", response_class=HTMLResponse, response_model=None)
def add_user_page(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    name: Annotated[str, Form(max_length=1000)] = "",
    email: Annotated[str, Form(max_length=1000)] = "",
    role: Annotated[str, Form(max_length=20)] = "",
    manager_id: Annotated[str, Form(max_length=30)] = "",
    team_id: Annotated[str, Form(max_length=30)] = "",
    password: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Add a person (admins only); a refusal keeps what was typed and says why by the field."""
    access.require_role(user, Role.ADMIN)
    typed = {"name": name, "email": email, "role": role, "manager_id": manager_id,
             "team_id": team_id}  # fmt: skip
    form = AdminForm(typed)
    manager = parse_id(form, "manager_id")
    team = parse_id(form, "team_id")
    body = None
    try:
        body = UserCreate.model_validate(
            {
                "name": name,
                "email": email,
                "role": role or None,
                "manager_id": manager,
                "team_id": team,
                "password": password or None,
            }
        )
    except ValidationError as error:
        form.invalid(error, MESSAGES)
    if body is not None and not form.failed:
        try:
            created = add_user(session, user, body)
        except ToplineError as error:
            form.refuse(error, NEW_FIELDS)
        else:
            return RedirectResponse(f"/admin/users?added={created.id}", status_code=303)
    if password and form.failed:
        form.errors.setdefault("password", "For safety the password is not kept: type it again.")
    return _list(request, session, user, form, status_code=form.status_code)


@router.get("/admin/users/{user_id}", response_class=HTMLResponse)
def user_page(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    user_id: UserId,
    saved: bool = False,
) -> HTMLResponse:
    """One person in the viewer's scope; admins change their role and reporting line here."""
    require_staff(user)
    person = access.get_visible(session, User, user_id, user)
    return _detail(request, session, user, person, _edit_form(person), saved=saved)


@router.post("/admin/users/{user_id}", response_class=HTMLResponse, response_model=None)
def edit_user_page(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    user_id: UserId,
    version: Annotated[str, Form(max_length=64)],
    name: Annotated[str, Form(max_length=1000)] = "",
    role: Annotated[str, Form(max_length=20)] = "",
    manager_id: Annotated[str, Form(max_length=30)] = "",
    team_id: Annotated[str, Form(max_length=30)] = "",
    active: Annotated[bool, Form()] = False,
) -> Response:
    """Change a person (admins only) as they stood when the form was opened; a refusal keeps
    what was typed and says why by the field."""
    access.require_role(user, Role.ADMIN)
    person = access.get_visible(session, User, user_id, user)
    typed = {"name": name, "role": role, "manager_id": manager_id, "team_id": team_id,
             "active": "true" if active else "", "version": version}  # fmt: skip
    form = AdminForm(typed)
    manager = parse_id(form, "manager_id")
    team = parse_id(form, "team_id")
    body = None
    try:
        fields: dict[str, object] = {
            "name": name, "manager_id": manager, "team_id": team, "active": active,
        }  # fmt: skip
        if role:  # no role chosen keeps the one they have
            fields["role"] = role
        body = UserUpdate.model_validate(fields)
    except ValidationError as error:
        form.invalid(error, MESSAGES)
    if body is not None and not form.failed:
        try:
            edit_user(session, user, person.id, body, version=form_version(form))
        except StaleRecord:
            form.refuse(stale_form("person"), EDIT_FIELDS)
        except ToplineError as error:
            form.refuse(error, EDIT_FIELDS)
        else:
            return RedirectResponse(f"/admin/users/{person.id}?saved=true", status_code=303)
    # Saving again (after reading the message) is made on the person as they stand now.
    form.values["version"] = str(person.version)
    return _detail(request, session, user, person, form, status_code=form.status_code)


def _edit_form(person: User) -> AdminForm:
    return AdminForm(
        {
            "name": person.name,
            "role": person.role.value,
            "manager_id": str(person.manager_id or ""),
            "team_id": str(person.team_id or ""),
            "active": "true" if person.active else "",
            "version": str(person.version),
        }
    )


def _list(
    request: Request,
    session: Session,
    viewer: User,
    form: AdminForm,
    *,
    q: str | None = None,
    cursor: str | None = None,
    added: int | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    stmt = access.scoped(select(User), User, viewer)
    words = q.strip() if q else ""
    if words:
        stmt = stmt.where(
            or_(
                User.name.icontains(words, autoescape=True),
                User.email.icontains(words, autoescape=True),
            )
        )
    people, next_cursor, total = paginate(
        session, stmt, sort_column=User.name, id_column=User.id, descending=False,
        cursor=cursor, limit=PAGE_SIZE, with_total=True,
    )  # fmt: skip
    managers = names_by_id(session, User, {person.manager_id for person in people})
    context: dict[str, Any] = {
        "people": people,
        "total": total,
        "managers": managers,
        "teams": names_by_id(session, Team, {person.team_id for person in people}),
        "query": words,
        "next_link": _next(words, next_cursor),
        "first_page": cursor is None,
        "added": names_by_id(session, User, [added]).get(added) if added else None,
        "form": form,
        "role_choices": [(r.value, r.value.capitalize()) for r in Role],
        **(_choices(session) if viewer.role == Role.ADMIN else {}),
    }
    return render(request, "admin/users.html", context, status_code)


def _detail(
    request: Request,
    session: Session,
    viewer: User,
    person: User,
    form: AdminForm,
    *,
    saved: bool = False,
    status_code: int = 200,
) -> HTMLResponse:
    context: dict[str, Any] = {
        "person": person,
        "manager": names_by_id(session, User, [person.manager_id]).get(person.manager_id or 0),
        "team": names_by_id(session, Team, [person.team_id]).get(person.team_id or 0),
        "reports": session.execute(
            select(User.id, User.name, User.active)
            .where(User.manager_id == person.id)
            .order_by(User.name, User.id)
        ).all(),
        "form": form,
        "saved": saved,
        "role_choices": [(r.value, r.value.capitalize()) for r in Role],
        **(_choices(session, person) if viewer.role == Role.ADMIN else {}),
    }
    return render(request, "admin/user.html", context, status_code)


def _choices(session: Session, person: User | None = None) -> dict[str, Any]:
    """Who can be a manager (active managers and admins, not the person) and every team."""
    stmt = select(User.id, User.name).where(User.role != Role.REP, User.active.is_(True))
    if person is not None:
        stmt = stmt.where(User.id != person.id)
    managers = [(str(row[0]), row[1]) for row in session.execute(stmt.order_by(User.name))]
    if person is not None and person.manager_id and str(person.manager_id) not in dict(managers):
        # A manager who has since left still shows, so the form does not change them silently.
        current = names_by_id(session, User, [person.manager_id])
        managers.append((str(person.manager_id), f"{current.get(person.manager_id, '?')} (left)"))
    teams = session.execute(select(Team.id, Team.name).order_by(Team.name, Team.id))
    return {
        "manager_choices": managers,
        "team_choices": [(str(row[0]), row[1]) for row in teams],
    }


def _next(words: str, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    query = {"q": words, "cursor": cursor} if words else {"cursor": cursor}
    return f"/admin/users?{urlencode(query)}"
