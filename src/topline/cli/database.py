"""Database chores behind the CLI commands: connect, migrate, inspect, reset a demo org."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine, func, inspect, select, text
from sqlalchemy.orm import Session

from topline.auth import service as auth_service
from topline.auth.enums import Role
from topline.auth.errors import UserNotFound
from topline.auth.models import Team, User
from topline.errors import Conflict
from topline.storage import statistics
from topline.storage.all_models import Base
from topline.storage.db import (
    make_engine,
    make_session_factory,
    session_scope,
    write_transaction,
)
from topline.storage.migrate import current_revision, head_revision, upgrade_database

DEMO_EMAIL_DOMAIN = "@topline-demo.example"


def engine_for(url: str) -> Engine:
    """An engine for `url`; bad URLs raise `InvalidInput` with the reason."""
    return make_engine(url)


def describe(engine: Engine) -> str:
    """The database location, without any password."""
    return engine.url.render_as_string(hide_password=True)


def upgrade(engine: Engine) -> None:
    """Migrate the schema to the latest revision."""
    upgrade_database(engine)


def analyze(engine: Engine) -> float:
    """Refresh the planner statistics of every table; returns the seconds it took."""
    started = time.perf_counter()
    with Session(engine) as session:
        statistics.refresh(session)
    return time.perf_counter() - started


def require_schema(engine: Engine) -> None:
    """Refuse to work on a database whose schema is missing or out of date."""
    current = current_revision(engine)
    if current != head_revision():
        state = "has no Topline schema" if current is None else f"is at revision {current}"
        raise Conflict(
            f"{describe(engine)} {state}; run `topline db upgrade --db {describe(engine)}` first"
        )


def prepare_for_import(engine: Engine) -> None:
    """Create the schema in an empty database; refuse one whose schema is out of date."""
    if not inspect(engine).get_table_names():
        upgrade_database(engine)
    require_schema(engine)


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """A session whose transaction begins as a writer (SQLite waits for its write lock)."""
    with Session(engine, expire_on_commit=False) as session, write_transaction(session):
        yield session


def demo_state(engine: Engine) -> Literal["empty", "demo", "foreign"]:
    """Whether the database is empty, holds a demo org, or holds someone's real data."""
    tables = set(inspect(engine).get_table_names())
    if "users" not in tables:
        return "foreign" if tables - {"alembic_version"} else "empty"
    with engine.connect() as conn:
        users = conn.scalar(select(func.count()).select_from(User))
        demo_users = conn.scalar(
            select(func.count()).select_from(User).where(User.email.endswith(DEMO_EMAIL_DOMAIN))
        )
    if not users:
        return "empty"
    return "demo" if users == demo_users else "foreign"


def wipe_demo(engine: Engine) -> Engine:
    """Remove a demo org entirely and return an engine on the emptied database."""
    if demo_state(engine) != "demo":
        raise Conflict(f"{describe(engine)} does not hold a demo org; refusing to erase it")
    url = engine.url
    engine.dispose()
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        path = Path(url.database or "")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return make_engine(url.render_as_string(hide_password=False))
    Base.metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    return engine


def demo_logins(engine: Engine) -> list[dict[str, str]]:
    """The people to sign in as in a demo org: admins, managers and the first three reps."""
    columns = (User.email, User.name, User.role, Team.name)
    signs_in = (User.active, User.password_hash.is_not(None))
    with engine.connect() as conn:
        leaders = conn.execute(
            select(*columns)
            .outerjoin(Team, Team.id == User.team_id)
            .where(*signs_in, User.role != Role.REP)
            .order_by(User.role, User.id)
        ).all()
        reps = conn.execute(
            select(*columns)
            .outerjoin(Team, Team.id == User.team_id)
            .where(*signs_in, User.role == Role.REP)
            .order_by(User.id)
            .limit(3)
        ).all()
    return [
        {"email": email, "name": name, "role": Role(role).value, "team": team or ""}
        for email, name, role, team in [*leaders, *reps]
    ]


def create_user(
    engine: Engine,
    *,
    email: str,
    name: str,
    role: str,
    password: str,
    manager_email: str | None,
) -> dict[str, Any]:
    """Create a user in its own transaction and describe the result."""
    with session_scope(make_session_factory(engine)) as session:
        manager = None
        if manager_email:
            manager = auth_service.find_user_by_email(session, manager_email)
            if manager is None:
                raise UserNotFound(f"no user with email {manager_email} to report to")
        user = auth_service.create_user(
            session, email=email, name=name, role=role, password=password, manager=manager
        )
        return {"id": user.id, "email": user.email, "name": user.name, "role": user.role.value}


def create_token(engine: Engine, *, email: str, name: str) -> dict[str, Any]:
    """Create an API token for the user with `email` in its own transaction."""
    from topline.auth.tokens import create_token as make_token

    with session_scope(make_session_factory(engine)) as session:
        user = auth_service.find_user_by_email(session, email)
        if user is None:
            raise UserNotFound(f"no user with email {email}")
        token, plain = make_token(session, user=user, name=name)
        return {"id": token.id, "email": user.email, "name": token.name, "token": plain}
