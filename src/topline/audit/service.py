"""Writing the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Table, insert
from sqlalchemy.orm import Session

from topline.audit.models import AuditEntry
from topline.clock import utcnow


def record_audit(
    session: Session,
    *,
    actor_id: int | None,
    action: str,
    entity_type: str,
    entity_id: int | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> int:
    """Append one entry to the audit trail (in the caller's transaction); returns its id.

    A plain INSERT rather than an ORM object: every API write ends here, and nothing reads the
    entry back in the same transaction, so the unit of work would only add a flush.
    """
    result = session.execute(
        _INSERT,
        {
            "actor_id": actor_id,
            "action": action,
            "entity_type": entity_type,
            "entity_id": entity_id,
            "before": before,
            "after": after,
            "at": at or utcnow(),
        },
    )
    key = cast(CursorResult[Any], result).inserted_primary_key
    assert key is not None  # an INSERT of one row always has its key
    return int(key[0])


# Built once: a statement built per call costs more than running it.
_INSERT = insert(cast(Table, AuditEntry.__table__))
