"""Writing the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

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
) -> AuditEntry:
    """Append one entry to the audit trail (in the caller's transaction)."""
    entry = AuditEntry(
        actor_id=actor_id,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        before=before,
        after=after,
        at=at or utcnow(),
    )
    session.add(entry)
    session.flush()
    return entry
