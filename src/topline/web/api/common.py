"""What every API endpoint shares: bearer tokens, error declarations, pages, audit, versions."""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from datetime import date, datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Select, and_, bindparam, func, inspect, or_, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import InstrumentedAttribute, Session

from topline.audit.service import record_audit
from topline.auth.models import User
from topline.auth.tokens import (
    InvalidToken,
    TokenUse,
    check_token,
    check_token_caller,
    record_token_use,
)
from topline.auth.viewers import Caller
from topline.errors import NotFound, StaleRecord
from topline.storage.db import write_transaction
from topline.storage.locking import Versioned
from topline.types import MAX_ID
from topline.web.deps import (
    REFUSAL_ENDS_REQUEST,
    DbSession,
    InThread,
    MustRunInThread,
    RequestWork,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


class CursorNotFound(NotFound):
    """A `cursor` that no page of the list answers to."""

    code = "cursor_not_found"


_bearer = HTTPBearer(auto_error=False, description="A personal API token: `tl_…`.")


async def api_user(
    session: DbSession,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> InThread[User]:
    """The user a valid `Authorization: Bearer` token belongs to, else 401.

    The token is looked up in the request's worker thread (see `topline.web.routing`).
    """
    token = _bearer_token(credentials)
    return InThread(lambda work: _authenticate(session, token, work, check_token))


def _bearer_token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise InvalidToken("send a personal API token as 'Authorization: Bearer tl_…'")
    return credentials.credentials


async def api_caller(
    session: DbSession,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> InThread[Caller]:
    """`api_user` as a `Caller` (id and role), for reads of one record: the same token check
    and refusals, without building the ORM's `User`."""
    token = _bearer_token(credentials)
    return InThread(lambda work: _authenticate(session, token, work, check_token_caller))


Person = TypeVar("Person", User, Caller)


def _authenticate(
    session: Session,
    token: str,
    work: RequestWork,
    check: Callable[[Session, str], tuple[Person, TokenUse | None]],
) -> Person:
    # An API endpoint never catches a refusal: it fails the request, which rolls back whole.
    session.info[REFUSAL_ENDS_REQUEST] = True
    user, use = check(session, token)
    if use is not None and work.writing:
        record_token_use(session, use)
    elif use is not None and work.on_event_loop:
        # Recording the use may wait for SQLite's write lock, which the event loop must not.
        raise MustRunInThread
    elif use is not None:
        _record_use(session, use)
    return user


def _record_use(session: Session, use: TokenUse) -> None:
    """Write the token's last use in a transaction of its own, best effort.

    A read request's transaction must stay read-only: on SQLite, a reader that starts writing
    fails at once when another writer committed since it began, whatever the busy timeout.
    """
    try:
        with Session(bind=session.get_bind()) as own, write_transaction(own):
            record_token_use(own, use)
            own.commit()
    except OperationalError:
        logger.warning("could not record the use of API token %s", use.token_id, exc_info=True)


# Endpoints receive the User: their route resolves the InThread first.
ApiUser = Annotated[User, Depends(api_user)]
# Reads of one record receive the Caller.
ApiCaller = Annotated[Caller, Depends(api_caller)]


class ErrorDetail(BaseModel):
    """What went wrong, for people and for programs."""

    code: str = Field(examples=["not_found"])
    message: str = Field(examples=["deal 42 not found"])
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorBody(BaseModel):
    """Every error response has this shape."""

    error: ErrorDetail


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI declarations of the error responses an endpoint can give."""
    descriptions = {
        400: "Malformed request",
        401: "No valid API token",
        403: "Not allowed for this user",
        404: "Not found (or not visible to this user)",
        409: "Conflicts with the record's current state",
        422: "Invalid input; `details` names the fields",
    }
    return {
        status: {"model": ErrorBody, "description": descriptions[status]}
        for status in sorted({400, 401, 422, *statuses})
    }


class Page(BaseModel, Generic[T]):
    """One page of a list, in a stable order; pass `next_cursor` back to get the next."""

    items: list[T]
    next_cursor: str | None = Field(description="Opaque; absent on the last page.")
    total: int | None = Field(description="Rows matching the filters (when asked for).")


Limit = Annotated[int, Query(ge=1, le=200, description="Page size.")]
Cursor = Annotated[str | None, Query(max_length=500, description="From `next_cursor`.")]
WithTotal = Annotated[bool, Query(description="Also count all matching rows.")]


def paginate(
    session: Session,
    stmt: Select[Any],
    *,
    sort_column: InstrumentedAttribute[Any],
    id_column: InstrumentedAttribute[int],
    descending: bool,
    cursor: str | None,
    limit: int,
    with_total: bool,
    mappings: bool = False,
) -> tuple[Sequence[Any], str | None, int | None]:
    """Keyset pagination on (sort column, id): stable under inserts, fast at any depth.

    With `mappings`, `stmt` selects a table's columns (Core) and the page comes back as row
    mappings: a list that only answers with the rows skips the ORM's per-object bookkeeping.
    """
    total = None
    if with_total:
        total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    if cursor is not None:
        stmt = stmt.where(_after(cursor, sort_column, id_column, descending))
    order = (sort_column.desc(), id_column.desc()) if descending else (sort_column, id_column)
    page = stmt.order_by(*order).limit(limit + 1)
    rows: Sequence[Any] = (
        session.execute(page).mappings().all() if mappings else session.scalars(page).all()
    )
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        if mappings:
            next_cursor = _encode(last[sort_column.key], last["id"])
        else:
            next_cursor = _encode(getattr(last, sort_column.key), last.id)
    return rows, next_cursor, total


def _encode(value: Any, row_id: int) -> str:
    if isinstance(value, datetime | date):
        value = value.isoformat()
    raw = json.dumps([value, row_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after(
    cursor: str, sort_column: InstrumentedAttribute[Any], id_column: Any, descending: bool
) -> ColumnElement[bool]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value, row_id = json.loads(raw)
        python_type = sort_column.type.python_type
        if python_type is datetime:
            value = datetime.fromisoformat(value)
            if value.tzinfo is None:
                raise ValueError("cursor moment without a timezone")
        elif python_type is date:
            value = date.fromisoformat(value)
        elif not isinstance(value, python_type):
            raise ValueError("cursor value of the wrong type")
        # Forged cursors must not reach the database: PostgreSQL refuses NUL in text and
        # both databases refuse integers beyond 64 bits.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("cursor text with NUL")
        if isinstance(value, int) and not -MAX_ID - 1 <= value <= MAX_ID:
            raise ValueError("cursor number out of range")
        if type(row_id) is not int or not 1 <= row_id <= MAX_ID:
            raise ValueError("cursor row id out of range")
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        # 404, not 422: the parameter is well-formed text, but no page of this list has it.
        raise CursorNotFound(
            "cursor: no page of this list has that cursor; use next_cursor from the same "
            "query (with the same sort)",
            details={"field": "cursor"},
        ) from None
    if descending:
        return or_(sort_column < value, and_(sort_column == value, id_column < row_id))
    return or_(sort_column > value, and_(sort_column == value, id_column > row_id))


def audit(
    session: Session,
    actor: User,
    *,
    action: str,
    entity: str,
    entity_id: int | None,
    before: BaseModel | None = None,
    after: BaseModel | None = None,
) -> None:
    """Record a write made through the API: who, when, what, and only the fields that changed."""
    before_data = before.model_dump(mode="json") if before is not None else None
    after_data = after.model_dump(mode="json") if after is not None else None
    if before_data is not None and after_data is not None:
        changed = {k for k in after_data if before_data.get(k) != after_data[k]}
        before_data = {k: before_data.get(k) for k in sorted(changed)}
        after_data = {k: after_data[k] for k in sorted(changed)}
    record_audit(
        session,
        actor_id=actor.id,
        action=action,
        entity_type=entity,
        entity_id=entity_id,
        before=before_data,
        after=after_data,
    )


def change_versioned(
    session: Session,
    record: Versioned,
    version: int,
    *,
    read: type[M],
    stale: type[StaleRecord],
    change: Callable[[], T],
    locked: bool = False,
) -> tuple[M, T]:
    """Run `change` if the caller read the record's current `version`; else 409 with the record.

    The 409 carries the record as it now stands in `details.current`, so the client can merge
    and retry. Before the change the record's row is locked and its stored version read again
    (`lock_version`; `locked` says the record was loaded with its row locked, so what was
    loaded is current): a write that another transaction committed since our read is refused
    here, and none can land between this check and our flush, so the flush's own version check
    never fails. A refused change leaves no trace: an API request rolls back whole when it
    fails; a page, which shows the refusal and goes on, runs the change in a savepoint.
    Returns the record as it was read and what `change` returned.
    """
    before = read.model_validate(record)
    if version != record.version:
        raise _stale(stale, record, version, before)
    stored = record.version if locked else lock_version(session, record)
    if stored is None:
        raise NotFound(f"{stale.entity} {record.id} not found")
    if stored != record.version:
        session.refresh(record)
        raise _stale(stale, record, version, read.model_validate(record))
    try:
        with nullcontext() if session.info.get(REFUSAL_ENDS_REQUEST) else session.begin_nested():
            result = change()
    except stale as exc:  # refused before writing: the transaction is still usable
        session.refresh(record)
        raise _stale(stale, record, version, read.model_validate(record)) from exc
    return before, result


def lock_version(session: Session, record: Versioned) -> int | None:
    """The record's stored version, its row locked until the transaction ends (None: gone).

    PostgreSQL locks the row (`FOR UPDATE`). SQLite has no row locks and needs none: a writing
    request holds the database's write lock from its first statement (`write_transaction`).
    """
    table = inspect(record).mapper.local_table
    statement = _LOCK_VERSION.get(table)
    if statement is None:
        statement = select(table.c.version).where(table.c.id == bindparam("id")).with_for_update()
        _LOCK_VERSION[table] = statement
    found: int | None = session.execute(statement, {"id": record.id}).scalar_one_or_none()
    return found


# Per table, built once: building the statement costs more than running it.
_LOCK_VERSION: dict[Any, Select[Any]] = {}


def _stale(
    stale: type[StaleRecord], record: Versioned, version: int, current: BaseModel
) -> StaleRecord:
    return stale(
        f"{stale.entity} {record.id} changed since version {version} (now {record.version}); "
        f"merge with the current {stale.entity} in details.current and try again",
        details={"current": current.model_dump(mode="json")},
    )
