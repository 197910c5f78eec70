"""Alembic environment: runs migrations on the connection or URL it is given."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection

from topline.config import get_settings
from topline.storage.all_models import Base
from topline.storage.base import exists_on
from topline.storage.db import make_engine

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    dialect = connection.dialect.name

    def for_this_database(item: Any, name: str | None, kind: str, *_: Any) -> bool:
        # Schema items made for one database only: the comparison of models with migrations
        # would miss them on the others.
        return exists_on(item, dialect)

    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=dialect == "sqlite",
        compare_type=True,
        include_object=for_this_database,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Use the connection handed over by `topline.storage.migrate`, else open one."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or get_settings().database_url
    engine = make_engine(url)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
run_migrations_online()
