"""Keys that records had in the systems they were imported from."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from topline.storage.base import Base, IdMixin
from topline.storage.types import BigId, UTCDateTime


class ExternalId(IdMixin, Base):
    """Record `record_id` of `entity` was imported from `source` under `key`.

    Importing the same source again finds its records by these keys and updates them instead
    of creating duplicates.
    """

    __tablename__ = "external_ids"
    __table_args__ = (
        UniqueConstraint("source", "entity", "key"),
        Index("ix_external_ids_record", "entity", "record_id"),
    )

    source: Mapped[str] = mapped_column(String(50))
    entity: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(200))
    record_id: Mapped[int] = mapped_column(BigId)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime)
