"""The audit log: every write made by the people in the viewer's scope (everyone's for an
admin), newest first, by kind of record, person and day, with the fields before and after."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from topline.audit.models import AuditEntry
from topline.auth.models import User
from topline.auth.service import visible_user_ids
from topline.storage.sql import names_by_id
from topline.types import MAX_ID
from topline.web.api.audit import audit_query
from topline.web.api.common import paginate
from topline.web.deps import CurrentUser, DbSession
from topline.web.routing import TransactionRoute
from topline.web.views.admin_forms import PAGE_SIZE, render, require_staff

router = APIRouter(route_class=TransactionRoute)

# The kinds of record the API and the pages write, as the filter offers them.
ENTITY_TYPES = (
    "account", "activity", "api_token", "contact", "deal", "forecast_submission", "import",
    "lead", "pipeline", "quota", "saved_view", "team", "user",
)  # fmt: skip
# Where a record of each kind has a page.
LINKS = {
    "account": "/accounts/{}",
    "deal": "/deals/{}",
    "team": "/admin/teams/{}",
    "user": "/admin/users/{}",
}
SHOWN_CHARS = 80


@router.get("/admin/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    entity_type: Annotated[
        str | None, Query(max_length=64, pattern=r"^([a-z_]+)?$", alias="type")
    ] = None,
    actor_id: Annotated[
        str | None, Query(max_length=20, pattern=r"^[0-9]*$", alias="actor")
    ] = None,
    day_from: Annotated[date | None, Query(alias="from")] = None,
    day_to: Annotated[date | None, Query(alias="to", description="Inclusive.")] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> HTMLResponse:
    """Writes made by the people the viewer may see, newest first (reps: 403)."""
    require_staff(user)
    actor = int(actor_id) if actor_id and 1 <= int(actor_id) <= MAX_ID else None
    stmt = audit_query(
        user,
        entity_type=entity_type or None,
        actor_id=actor,
        since=datetime.combine(day_from, time.min, tzinfo=UTC) if day_from else None,
        before=(
            datetime.combine(day_to + timedelta(days=1), time.min, tzinfo=UTC)
            if day_to and day_to < date.max
            else None
        ),
    )
    entries, next_cursor, _ = paginate(
        session, stmt, sort_column=AuditEntry.at, id_column=AuditEntry.id, descending=True,
        cursor=cursor, limit=PAGE_SIZE, with_total=False,
    )  # fmt: skip
    given = {"type": entity_type or "", "actor": str(actor or ""),
             "from": day_from.isoformat() if day_from else "",
             "to": day_to.isoformat() if day_to else ""}  # fmt: skip
    kept = {key: value for key, value in given.items() if value}
    context: dict[str, Any] = {
        "entries": [_entry(entry) for entry in entries],
        "actors": names_by_id(session, User, {entry.actor_id for entry in entries}),
        "filters": given,
        "filtered": bool(kept),
        "entity_types": sorted({*ENTITY_TYPES, entity_type} - {None, ""}),
        "people": _people(session, user),
        "next_link": f"/admin/audit?{urlencode({**kept, 'cursor': next_cursor})}"
        if next_cursor
        else None,
        "first_link": f"/admin/audit?{urlencode(kept)}" if kept else "/admin/audit",
        "first_page": cursor is None,
    }
    return render(request, "admin/audit.html", context)


def _entry(entry: AuditEntry) -> dict[str, Any]:
    """An entry as the page shows it: each changed field with its value before and after."""
    before, after = entry.before or {}, entry.after or {}
    fields = sorted(set(before) | set(after))
    link = LINKS.get(entry.entity_type)
    return {
        "id": entry.id,
        "at": entry.at,
        "actor_id": entry.actor_id,
        "action": entry.action,
        "entity_type": entry.entity_type,
        "entity_id": entry.entity_id,
        "link": link.format(entry.entity_id) if link and entry.entity_id else None,
        "changes": [(name, _shown(before, name), _shown(after, name)) for name in fields],
    }


def _shown(values: dict[str, Any], name: str) -> str | None:
    """A field's value in short (None when the side has no such field)."""
    if name not in values:
        return None
    value = values[name]
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


def _people(session: Session, viewer: User) -> list[tuple[int, str]]:
    """The people whose writes the viewer may read, to filter by."""
    ids = visible_user_ids(session, viewer)
    stmt = select(User.id, User.name).order_by(User.name, User.id)
    if ids is not None:
        stmt = stmt.where(User.id.in_(ids))
    return [(row[0], row[1]) for row in session.execute(stmt)]
