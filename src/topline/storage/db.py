"""Engines and sessions for SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from topline.errors import InvalidInput


def normalize_database_url(url: str) -> str:
    """Accept the URLs people type and return the one SQLAlchemy should use.

    `postgresql://` and `postgres://` get the psycopg 3 driver; anything unparseable raises
    `InvalidInput` with the reason, instead of a driver traceback.
    """
    try:
        parsed = make_url(url)
    except Exception as exc:  # SQLAlchemy raises ArgumentError with a terse text
        raise InvalidInput(f"invalid database URL {url!r}: {exc}") from exc
    backend = parsed.get_backend_name()
    if backend in {"postgres", "postgresql"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend != "sqlite":
        raise InvalidInput(
            f"unsupported database {backend!r} in {url!r}: use sqlite:///PATH or postgresql://…"
        )
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Writers queue on SQLite's single write lock; wait for it rather than fail under load.
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for `url`; SQLite files get WAL, foreign keys and their parent directory."""
    url = normalize_database_url(url)
    parsed = make_url(url)
    # A server process runs up to 40 request threads; a pool smaller than that opens and closes
    # a connection per request under load (measured: hundreds per second on PostgreSQL).
    kwargs: dict[str, Any] = {"echo": echo}
    if parsed.get_backend_name() != "sqlite" or parsed.database not in (None, "", ":memory:"):
        kwargs.update(pool_size=20, max_overflow=20)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False}
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory.begin() as session:
        yield session
