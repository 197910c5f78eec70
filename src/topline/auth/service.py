"""Users, teams, sign-in and the visibility rule every read goes through."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import Select, literal, select
from sqlalchemy.orm import Session

from topline.auth.enums import Role
from topline.auth.errors import EmailTaken, InvalidCredentials, InvalidUser, UserNotFound
from topline.auth.models import Team, User
from topline.auth.passwords import burn_verification, hash_password, verify_password
from topline.clock import utcnow
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
        raise InvalidUser(f"invalid email address {email!r}")
    name = name.strip()
    if not name:
        raise InvalidUser("name must not be empty")
    try:
        role = Role(role)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise InvalidUser(f"unknown role {role!r}; use one of: {allowed}") from None
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidUser(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    if manager is not None and (manager.role == Role.REP or not manager.active):
        raise InvalidUser(f"{manager.email} cannot be a manager: not an active manager or admin")
    if find_user_by_email(session, email) is not None:
        raise EmailTaken(f"a user with email {email} already exists")
    now = utcnow()
    user = User(
        email=email,
        name=name,
        role=role,
        password_hash=hash_password(password) if password is not None else None,
        manager_id=manager.id if manager else None,
        team_id=team.id if team else None,
        hired_at=hired_at or now,
        active=True,
        created_at=now,
    )
    session.add(user)
    session.flush()
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
    """Add a team led by `manager`, optionally under a parent team."""
    name = name.strip()
    if not name:
        raise InvalidUser("team name must not be empty")
    team = Team(
        name=name,
        manager_id=manager.id if manager else None,
        parent_id=parent.id if parent else None,
    )
    session.add(team)
    session.flush()
    return team


def visible_user_ids_query(viewer: User) -> Select[tuple[int]] | None:
    """Whose records `viewer` may see, as a query of user ids to use in `IN (…)`; None for all.

    A manager sees themself and everyone below them in the reporting line, at any depth; a rep
    sees only themself; an admin everyone. This is the one scoping rule for pages, API, exports
    and reports: `topline.access` builds every record filter on it.
    """
    if viewer.role == Role.ADMIN:
        return None
    if viewer.role == Role.REP:
        return select(literal(viewer.id, type_=BigId))
    subtree = select(User.id).where(User.id == viewer.id).cte("subtree", recursive=True)
    subtree = subtree.union_all(select(User.id).where(User.manager_id == subtree.c.id))
    return select(subtree.c.id)


def visible_user_ids(session: Session, viewer: User) -> list[int] | None:
    """The ids `visible_user_ids_query` selects, loaded (None for everyone)."""
    query = visible_user_ids_query(viewer)
    if query is None:
        return None
    return list(session.scalars(query))
