"""What import tests check the database with."""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from topline.storage.all_models import Base


def counts(engine: Engine) -> dict[str, int]:
    """Rows per table."""
    with engine.connect() as connection:
        return {
            table.name: connection.scalar(select(func.count()).select_from(table)) or 0
            for table in Base.metadata.sorted_tables
        }
