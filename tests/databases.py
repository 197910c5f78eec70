"""Fresh test databases: a SQLite file, and PostgreSQL when TOPLINE_TEST_DATABASE_URL is set."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from topline.storage.db import make_engine, normalize_database_url

PG_ENV = "TOPLINE_TEST_DATABASE_URL"


def backends() -> list[str]:
    """The databases this run tests against."""
    return ["sqlite", "postgresql"] if os.environ.get(PG_ENV) else ["sqlite"]


def fresh_postgres_url(suffix: str) -> str:
    """Drop and create a PostgreSQL database named after the configured one plus `suffix`.

    Each pytest-xdist worker and each purpose gets its own database, so runs never share state.
    """
    base = make_url(normalize_database_url(os.environ[PG_ENV]))
    name = f"{base.database}_{suffix}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def fresh_engine(backend: str, directory: Path, purpose: str) -> Engine:
    """An engine on a new, empty database of `backend` for `purpose`."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    if backend == "sqlite":
        return make_engine(f"sqlite:///{directory / f'{purpose}_{worker}.sqlite'}")
    return make_engine(fresh_postgres_url(f"{purpose}_{worker}"))
