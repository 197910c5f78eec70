"""Users over HTTP: the people in the caller's scope; admins add and edit them."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, status
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from topline import access
from topline.auth import service as auth_service
from topline.auth.enums import Role
from topline.auth.errors import StaleUser
from topline.auth.models import User
from topline.auth.schemas import UserCreate, UserPatch, UserRead, UserUpdate
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

router = APIRouter(prefix="/users", tags=["users"], route_class=TransactionRoute)

UserId = Annotated[int, Path(ge=1, le=MAX_ID, description="User id.")]
UserSort = Literal["name", "-name", "id", "-id"]
SORT_COLUMNS = {"name": User.name, "id": User.id}


@router.get("", response_model=Page[UserRead], responses=errors(404))
def list_users(
    session: DbSession,
    user: ApiUser,
    role: Role | None = None,
    active: bool | None = None,
    manager_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Direct reports of this person.")
    ] = None,
    team_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    q: Annotated[
        str | None, Query(min_length=1, max_length=100, description="Name or email contains.")
    ] = None,
    sort: UserSort = "name",
    cursor: Cursor = None,
    limit: Limit = 50,
    with_total: WithTotal = True,
) -> Page[UserRead]:
    """The people the caller may see, one page at a time.

    An admin sees everyone, a manager their reporting subtree, a rep only themself.
    """
    stmt = access.scoped(select(User), User, user)
    if role is not None:
        stmt = stmt.where(User.role == role)
    if active is not None:
        stmt = stmt.where(User.active.is_(active))
    if manager_id is not None:
        stmt = stmt.where(User.manager_id == manager_id)
    if team_id is not None:
        stmt = stmt.where(User.team_id == team_id)
    if q is not None:
        stmt = stmt.where(
            or_(User.name.icontains(q, autoescape=True), User.email.icontains(q, autoescape=True))
        )
    rows, next_cursor, total = paginate(
        session,
        stmt,
        sort_column=SORT_COLUMNS[sort.lstrip("-")],
        id_column=User.id,
        descending=sort.startswith("-"),
        cursor=cursor,
        limit=limit,
        with_total=with_total,
    )
    return Page[UserRead](
        items=[UserRead.model_validate(u) for u in rows], next_cursor=next_cursor, total=total
    )


@router.get("/me", response_model=UserRead, responses=errors())
def get_me(user: ApiUser) -> UserRead:
    """The person the API token belongs to."""
    return UserRead.model_validate(user)


# `:int` keeps /users/me out of this route, so other methods on /users/me answer 405.
@router.get("/{user_id:int}", response_model=UserRead, responses=errors(404))
@reads_one_record
def get_user(session: DbSession, user: ApiCaller, user_id: UserId) -> UserRead:
    """One person in the caller's scope."""
    return UserRead.model_validate(access.get_visible(session, User, user_id, user))


@router.post(
    "",
    response_model=UserRead,
    status_code=status.HTTP_201_CREATED,
    responses=errors(403, 404, 409),
)
def create_user(session: DbSession, user: ApiUser, body: UserCreate) -> UserRead:
    """Add a person (admins only). Without a password they own records but cannot sign in.

    An unknown `manager_id` or `team_id` is 404; a taken email, or a manager who is not an
    active manager or admin, is 409.
    """
    return add_user(session, user, body)


@router.patch("/{user_id:int}", response_model=UserRead, responses=errors(403, 404, 409))
def update_user(session: DbSession, user: ApiUser, user_id: UserId, body: UserPatch) -> UserRead:
    """Edit a person (admins only): name, role, manager, team, or deactivate when they leave.

    A stale `version` is refused with 409 and the person as they stand in `details.current`.
    An unknown `manager_id` or `team_id` is 409 too, as is a change the org chart as it stands
    refuses: a reporting line that would go round in a circle, a manager who is not an active
    manager or admin, or the last active admin stepping down.
    """
    changes = UserUpdate.model_validate(body.model_dump(exclude={"version"}, exclude_unset=True))
    return edit_user(session, user, user_id, changes, version=body.version)


def add_user(session: Session, actor: User, body: UserCreate) -> UserRead:
    """Add a person as an admin, and record it in the audit log (the API's and pages' write)."""
    access.require_role(actor, Role.ADMIN)
    manager = (
        auth_service.referenced_user(session, body.manager_id, field="manager_id")
        if body.manager_id is not None
        else None
    )
    team = (
        auth_service.referenced_team(session, body.team_id, field="team_id")
        if body.team_id is not None
        else None
    )
    created = auth_service.create_user(
        session,
        email=body.email,
        name=body.name,
        role=body.role,
        password=body.password,
        manager=manager,
        team=team,
        hired_at=body.hired_at,
    )
    after = UserRead.model_validate(created)
    audit(session, actor, action="create", entity="user", entity_id=created.id, after=after)
    return after


def edit_user(
    session: Session, actor: User, user_id: int, changes: UserUpdate, *, version: int
) -> UserRead:
    """Apply an admin's edit of a person made on `version`, and record it in the audit log when
    anything changed (the API's and pages' write). A stale version raises `StaleUser`."""
    access.require_role(actor, Role.ADMIN)
    target = access.get_visible(session, User, user_id, actor)
    before, changed = change_versioned(
        session, target, version, read=UserRead, stale=StaleUser,
        change=lambda: auth_service.update_user(session, target, changes=changes),
    )  # fmt: skip
    after = UserRead.model_validate(changed)
    if after != before:
        audit(
            session, actor, action="update", entity="user", entity_id=target.id, before=before,
            after=after,
        )  # fmt: skip
    return after
