"""The audit trail over HTTP: who changed what and when, for managers and admins."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from sqlalchemy import Select, select

from topline import access
from topline.audit.models import AuditEntry
from topline.audit.schemas import AuditEntryRead
from topline.auth.models import User
from topline.types import MAX_ID, IsoDateTime
from topline.web.api.common import ApiUser, Cursor, Limit, Page, WithTotal, errors, paginate
from topline.web.deps import DbSession
from topline.web.routing import TransactionRoute

router = APIRouter(prefix="/audit", tags=["audit"], route_class=TransactionRoute)

AuditSort = Literal["at", "-at"]


@router.get("", response_model=Page[AuditEntryRead], responses=errors(403, 404))
def list_audit_entries(
    session: DbSession,
    user: ApiUser,
    entity_type: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=64,
            pattern=r"^[a-z_]+$",
            description="Kind of record: deal, user, team, quota, api_token, …",
        ),
    ] = None,
    entity_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    actor_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Writes made by this person.")
    ] = None,
    since: Annotated[
        IsoDateTime | None, Query(description="With a timezone, e.g. 2025-01-31T00:00:00Z.")
    ] = None,
    sort: AuditSort = "-at",
    cursor: Cursor = None,
    limit: Limit = 50,
    with_total: WithTotal = True,
) -> Page[AuditEntryRead]:
    """Writes made by the people the caller may see, newest first.

    A manager sees the writes of their reporting subtree, an admin all. Reps do not read the
    audit log.
    """
    stmt = audit_query(
        user, entity_type=entity_type, entity_id=entity_id, actor_id=actor_id, since=since
    )
    rows, next_cursor, total = paginate(
        session,
        stmt,
        sort_column=AuditEntry.at,
        id_column=AuditEntry.id,
        descending=sort.startswith("-"),
        cursor=cursor,
        limit=limit,
        with_total=with_total,
    )
    return Page[AuditEntryRead](
        items=[AuditEntryRead.model_validate(e) for e in rows],
        next_cursor=next_cursor,
        total=total,
    )


def audit_query(
    viewer: User,
    *,
    entity_type: str | None = None,
    entity_id: int | None = None,
    actor_id: int | None = None,
    since: datetime | None = None,
    before: datetime | None = None,
) -> Select[tuple[AuditEntry]]:
    """The audit entries the viewer may read, filtered (the API's and pages' list).

    `since` is inclusive, `before` exclusive. Reps are refused (403).
    """
    stmt = access.scoped(select(AuditEntry), AuditEntry, viewer)
    if entity_type is not None:
        stmt = stmt.where(AuditEntry.entity_type == entity_type)
    if entity_id is not None:
        stmt = stmt.where(AuditEntry.entity_id == entity_id)
    if actor_id is not None:
        stmt = stmt.where(AuditEntry.actor_id == actor_id)
    if since is not None:
        stmt = stmt.where(AuditEntry.at >= since)
    if before is not None:
        stmt = stmt.where(AuditEntry.at < before)
    return stmt
