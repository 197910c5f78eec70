"""Users, teams, sign-in and the visibility rule every read goes through."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import Select, func, literal, select
from sqlalchemy.orm import Session

from topline.auth.enums import Role
from topline.auth.errors import (
    EmailTaken,
    InvalidCredentials,
    InvalidReportingLine,
    InvalidUser,
    StaleTeam,
    StaleUser,
    UserNotFound,
)
from topline.auth.models import Team, User
from topline.auth.passwords import burn_verification, hash_password, verify_password
from topline.auth.schemas import TeamUpdate, UserUpdate
from topline.auth.viewers import Viewer
from topline.clock import ensure_utc, utcnow
from topline.errors import Conflict, MissingReference
from topline.storage.db import refuse_duplicates
from topline.storage.locking import flush_versioned
from topline.storage.types import BigId

MIN_PASSWORD_LENGTH = 8
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalize_email(email: str) -> str:
    """Emails compare case-insensitively and without surrounding blanks."""
    return email.strip().lower()


def get_user(session: Session, user_id: int) -> User:
    """The user with `user_id`, or `UserNotFound`."""
    user = session.get(User, user_id)
    if user is None:
        raise UserNotFound(f"user {user_id} not found")
    return user


def find_user_by_email(session: Session, email: str) -> User | None:
    """The user signing in with `email`, if any."""
    return session.scalar(select(User).where(User.email == normalize_email(email)))


def create_user(
    session: Session,
    *,
    email: str,
    name: str,
    role: Role | str,
    password: str | None = None,
    manager: User | None = None,
    team: Team | None = None,
    hired_at: datetime | None = None,
) -> User:
    """Add a person who can sign in (or, without a password, who owns records only).

    Emails are unique, passwords at least 8 characters, and a manager must be an active
    manager or admin: reps do not have reports.
    """
    email = normalize_email(email)
    if not _EMAIL.match(email):
        raise InvalidUser(f"invalid email address {email!r}", details={"field": "email"})
    name = name.strip()
    if not name:
        raise InvalidUser("name must not be empty", details={"field": "name"})
    try:
        role = Role(role)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise InvalidUser(
            f"unknown role {role!r}; use one of: {allowed}", details={"field": "role"}
        ) from None
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidUser(
            f"password must have at least {MIN_PASSWORD_LENGTH} characters",
            details={"field": "password"},
        )
    if manager is not None and (manager.role == Role.REP or not manager.active):
        raise InvalidReportingLine(
            f"manager_id: {manager.email} cannot be a manager: not an active manager or admin",
            details={"field": "manager_id"},
        )
    taken = EmailTaken(f"a user with email {email} already exists", details={"field": "email"})
    if find_user_by_email(session, email) is not None:
        raise taken
    now = utcnow()
    user = User(
        email=email,
        name=name,
        role=role,
        password_hash=hash_password(password) if password is not None else None,
        manager_id=manager.id if manager else None,
        team_id=team.id if team else None,
        hired_at=ensure_utc(hired_at) if hired_at else now,
        active=True,
        created_at=now,
    )
    # The constraint also catches a user with this email created since the check above.
    with refuse_duplicates(session, taken):
        session.add(user)
    return user


def authenticate(session: Session, *, email: str, password: str) -> User:
    """The active user with this email and password, or `InvalidCredentials`.

    The message never says which of the two was wrong.
    """
    user = find_user_by_email(session, email)
    if user is None or user.password_hash is None:
        burn_verification(password)
        raise InvalidCredentials("wrong email or password")
    if not verify_password(user.password_hash, password) or not user.active:
        raise InvalidCredentials("wrong email or password")
    return user


def create_team(
    session: Session, *, name: str, manager: User | None = None, parent: Team | None = None
) -> Team:
    """Add a team led by `manager`, optionally under a parent team.

    Team names are unique; the manager must be an active manager or admin.
    """
    name = name.strip()
    if not name:
        raise InvalidUser("team name must not be empty", details={"field": "name"})
    taken = _team_name_taken(name)
    if find_team_by_name(session, name) is not None:
        raise taken
    if manager is not None:
        _check_team_manager(manager)
    team = Team(
        name=name,
        manager_id=manager.id if manager else None,
        parent_id=parent.id if parent else None,
    )
    # The constraint also catches a team of this name created since the check above.
    with refuse_duplicates(session, taken):
        session.add(team)
    return team


def find_team_by_name(session: Session, name: str) -> Team | None:
    """The team called exactly `name`, if any."""
    return session.scalar(select(Team).where(Team.name == name))


def update_team(session: Session, team: Team, *, changes: TeamUpdate) -> Team:
    """Rename a team, change who leads it or move it under another parent team.

    Names stay unique, leaders are active managers or admins, and a team cannot end up
    under itself. Everything is checked before anything changes.
    """
    values = changes.model_dump(exclude_unset=True)
    if "name" in values:
        if values["name"] is None or not values["name"].strip():
            raise InvalidUser("team name must not be empty", details={"field": "name"})
        values["name"] = values["name"].strip()
        other = find_team_by_name(session, values["name"])
        if other is not None and other.id != team.id:
            raise _team_name_taken(values["name"])
    if values.get("manager_id") is not None:
        _check_team_manager(referenced_user(session, values["manager_id"], field="manager_id"))
    if values.get("parent_id") is not None:
        parent = referenced_team(session, values["parent_id"], field="parent_id")
        if _team_is_under(session, parent, team.id):
            raise InvalidReportingLine(
                f"parent_id: team {parent.name!r} is {team.name!r} or one of its sub-teams; "
                "a team cannot sit under itself",
                details={"field": "parent_id"},
            )
    with refuse_duplicates(session, _team_name_taken(values.get("name", team.name))):
        for field, value in values.items():
            setattr(team, field, value)
        flush_versioned(session, team, stale=StaleTeam)
    return team


def referenced_user(session: Session, user_id: int, *, field: str) -> User:
    """The user a request field names, or `UserNotFound` naming the field."""
    user = session.get(User, user_id)
    if user is None:
        raise MissingReference(f"{field}: user {user_id} not found", details={"field": field})
    return user


def referenced_team(session: Session, team_id: int, *, field: str) -> Team:
    """The team a request field names, or `TeamNotFound` naming the field."""
    team = session.get(Team, team_id)
    if team is None:
        raise MissingReference(f"{field}: team {team_id} not found", details={"field": field})
    return team


def update_user(
    session: Session, user: User, *, changes: UserUpdate, at: datetime | None = None
) -> User:
    """Apply an admin's edit of a person: name, role, reporting line, team, active.

    The reporting line stays a tree led by active managers and admins: nobody reports to
    themself or to someone below them, a person with active reports stays an active manager
    or admin, and the last active admin stays one. Deactivating records `left_at` (their
    records stay); reactivating clears it. Everything is checked before anything changes.
    """
    values = changes.model_dump(exclude_unset=True)
    for required in ("name", "role", "active"):
        if required in values and values[required] is None:
            raise InvalidUser(f"{required} cannot be cleared", details={"field": required})
    if "name" in values:
        values["name"] = values["name"].strip()
        if not values["name"]:
            raise InvalidUser("name must not be empty", details={"field": "name"})
    role: Role = values.get("role", user.role)
    active: bool = values.get("active", user.active)
    if values.get("manager_id") is not None:
        _check_new_manager(session, user, values["manager_id"])
    elif active and not user.active and "manager_id" not in values:
        _check_manager_still_leads(session, user)
    if values.get("team_id") is not None:
        referenced_team(session, values["team_id"], field="team_id")
    if (role == Role.REP and user.role != Role.REP) or (user.active and not active):
        _check_no_active_reports(session, user, "a rep" if role == Role.REP else "inactive")
    if user.role == Role.ADMIN and user.active and (role != Role.ADMIN or not active):
        _check_another_admin(session, user, "active" if not active else "role")
    if user.active and not active:
        user.left_at = ensure_utc(at or utcnow())
    elif active and not user.active:
        user.left_at = None
    for field, value in values.items():
        setattr(user, field, value)
    flush_versioned(session, user, stale=StaleUser)
    return user


def _team_name_taken(name: str) -> Conflict:
    return Conflict(f"name: a team named {name!r} already exists", details={"field": "name"})


def _check_team_manager(manager: User) -> None:
    if manager.role == Role.REP or not manager.active:
        raise InvalidReportingLine(
            f"manager_id: {manager.email} cannot lead a team: not an active manager or admin",
            details={"field": "manager_id"},
        )


def _team_is_under(session: Session, team: Team, ancestor_id: int) -> bool:
    """True when `team` is the team `ancestor_id` or nested anywhere below it."""
    seen: set[int] = set()
    current: Team | None = team
    while current is not None and current.id not in seen:
        if current.id == ancestor_id:
            return True
        seen.add(current.id)
        current = session.get(Team, current.parent_id) if current.parent_id else None
    return False


def _reports_to(session: Session, person: User, boss_id: int) -> bool:
    """True when `person` is `boss_id` or anywhere below them in the reporting line."""
    seen: set[int] = set()
    current: User | None = person
    while current is not None and current.id not in seen:
        if current.id == boss_id:
            return True
        seen.add(current.id)
        current = session.get(User, current.manager_id) if current.manager_id else None
    return False


def _check_new_manager(session: Session, user: User, manager_id: int) -> None:
    manager = referenced_user(session, manager_id, field="manager_id")
    if manager.id == user.id:
        raise InvalidReportingLine(
            "manager_id: a person cannot report to themself", details={"field": "manager_id"}
        )
    if _reports_to(session, manager, user.id):
        raise InvalidReportingLine(
            f"manager_id: {manager.email} is {user.email} or reports to them; "
            "the reporting line cannot go round in a circle",
            details={"field": "manager_id"},
        )
    if manager.role == Role.REP or not manager.active:
        raise InvalidReportingLine(
            f"manager_id: {manager.email} cannot be a manager: not an active manager or admin",
            details={"field": "manager_id"},
        )


def _check_manager_still_leads(session: Session, user: User) -> None:
    if user.manager_id is None:
        return
    manager = session.get(User, user.manager_id)
    if manager is None or manager.role == Role.REP or not manager.active:
        raise InvalidReportingLine(
            f"manager_id: {user.email}'s manager is no longer an active manager; "
            "give a new manager_id (or null) to reactivate them",
            details={"field": "manager_id"},
        )


def _check_no_active_reports(session: Session, user: User, becoming: str) -> None:
    reports = session.scalar(
        select(func.count()).where(User.manager_id == user.id, User.active.is_(True))
    )
    if reports:
        raise Conflict(
            f"{user.email} has {reports} active report(s) and cannot become {becoming}; "
            "give them another manager first",
            details={"field": "role" if becoming == "a rep" else "active"},
        )


def _check_another_admin(session: Session, user: User, field: str) -> None:
    others = session.scalar(
        select(func.count()).where(
            User.role == Role.ADMIN, User.active.is_(True), User.id != user.id
        )
    )
    if not others:
        raise Conflict(
            f"{user.email} is the last active admin; make someone else an admin first",
            details={"field": field},
        )


def visible_user_ids_query(viewer: Viewer) -> Select[tuple[int]] | None:
    """Whose records `viewer` may see, as a query of user ids to use in `IN (…)`; None for all.

    A manager sees themself and everyone below them in the reporting line, at any depth; a rep
    sees only themself; an admin everyone. This is the one scoping rule for pages, API, exports
    and reports: `topline.access` builds every record filter on it.
    """
    if viewer.role == Role.ADMIN:
        return None
    if viewer.role == Role.REP:
        return select(literal(viewer.id, type_=BigId))
    # Anonymous, so one statement can hold several scopes (each compiles to its own name).
    subtree = select(User.id).where(User.id == viewer.id).cte(recursive=True)
    subtree = subtree.union_all(select(User.id).where(User.manager_id == subtree.c.id))
    return select(subtree.c.id)


def visible_user_ids(session: Session, viewer: User) -> list[int] | None:
    """The ids `visible_user_ids_query` selects, loaded (None for everyone)."""
    query = visible_user_ids_query(viewer)
    if query is None:
        return None
    return list(session.scalars(query))
