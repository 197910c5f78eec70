"""Declarative base with a deterministic constraint naming convention."""

from __future__ import annotations

from typing import Any

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from topline.storage.types import BigId

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base of every Topline table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class IdMixin:
    """An integer surrogate primary key."""

    id: Mapped[int] = mapped_column(BigId, primary_key=True)


def exists_on(item: Any, dialect: str) -> bool:
    """Whether a schema item (an index) is made on the database `dialect` names: those made
    for one database only (`Index(...).ddl_if(dialect=...)`) are absent from the others."""
    only = getattr(item, "_ddl_if", None)
    return only is None or only.dialect is None or only.dialect == dialect
