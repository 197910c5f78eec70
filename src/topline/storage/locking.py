"""Optimistic locking: a write names the version it read, and loses to a newer write.

Users, teams, accounts, contacts, leads and deals carry `version`. SQLAlchemy raises it on
every update (`version_id_col`) and puts the loaded value in the UPDATE's WHERE clause, so an
update of a row that another transaction changed in the meantime matches nothing. These
helpers turn both ways of being stale into the record's `StaleRecord` error: the caller read an
older version than the one loaded, or someone else committed between our read and our flush.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from topline.errors import StaleRecord


class Versioned(Protocol):
    """A record with an id and a `version` that every write raises."""

    @property
    def id(self) -> int: ...

    @property
    def version(self) -> int: ...


def require_version(
    record: Versioned, expected_version: int | None, *, stale: type[StaleRecord]
) -> None:
    """Refuse a change made against another version than the one loaded (None: no check)."""
    if expected_version is not None and expected_version != record.version:
        raise stale(
            f"{stale.entity} {record.id} changed since version {expected_version} "
            f"(now {record.version}); reload it and try again"
        )


def flush_versioned(session: Session, record: Versioned, *, stale: type[StaleRecord]) -> None:
    """Write pending changes; an update someone else's commit overtook fails as `stale`.

    After the error the session's transaction is unusable unless the write ran inside a
    savepoint (`session.begin_nested()`). The API locks the row first instead
    (`web.api.common.change_versioned`), so that its flush cannot fail this way.
    """
    # Read before the flush: a failed flush expires the record and leaves nothing to load with.
    record_id = record.id
    try:
        session.flush()
    except StaleDataError as exc:
        raise stale(
            f"{stale.entity} {record_id} was changed by someone else meanwhile; "
            "reload it and try again"
        ) from exc
