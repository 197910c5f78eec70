"""Who may see and change which records: the one access rule, applied inside queries.

- An admin sees and changes everything.
- A manager sees the records of everyone in their reporting subtree (themself included): their
  deals, leads, activities, quotas and forecasts, the accounts those people own or sell to, and
  the contacts at those accounts; plus unassigned leads, which managers route.
- A rep sees their own deals, leads, activities, quotas and forecasts, and the accounts and
  contacts they own or have deals with.

Every function returns a SQL condition (or None for "no restriction") that callers put in the
WHERE clause, so nothing invisible is ever loaded, counted or searched. A record outside the
viewer's scope is reported as not found, never as forbidden, so its existence does not leak.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, RowMapping, Select, bindparam, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.interfaces import ORMOption

from topline.audit.models import AuditEntry
from topline.auth.enums import Role
from topline.auth.models import Team, User
from topline.auth.service import visible_user_ids_query
from topline.auth.viewers import Viewer
from topline.crm.models import Account, Activity, Contact, Deal, Lead
from topline.errors import Conflict, MissingReference, NotFound, PermissionDenied
from topline.forecasting.models import ForecastSubmission
from topline.quotas.models import Quota

Row = TypeVar("Row")


def _in_scope(column: Any, viewer: Viewer) -> ColumnElement[bool] | None:
    """`column` holds the id of someone the viewer may see."""
    if viewer.role == Role.ADMIN:
        return None
    if viewer.role == Role.REP:
        return column == viewer.id  # type: ignore[no-any-return]
    query = visible_user_ids_query(viewer)
    assert query is not None
    return column.in_(query)  # type: ignore[no-any-return]


def deals_filter(viewer: Viewer) -> ColumnElement[bool] | None:
    """Deals owned by someone in the viewer's scope."""
    return _in_scope(Deal.owner_id, viewer)


def accounts_filter(viewer: Viewer) -> ColumnElement[bool] | None:
    """Accounts owned by, or with a deal owned by, someone in the viewer's scope."""
    owned = _in_scope(Account.owner_id, viewer)
    if owned is None:
        return None
    deal_owner = _in_scope(Deal.owner_id, viewer)
    assert deal_owner is not None
    sold_to = select(Deal.account_id).where(deal_owner, Deal.account_id.is_not(None))
    return or_(owned, Account.id.in_(sold_to))


def contacts_filter(viewer: Viewer) -> ColumnElement[bool] | None:
    """Contacts at accounts the viewer may see."""
    accounts = accounts_filter(viewer)
    if accounts is None:
        return None
    return Contact.account_id.in_(select(Account.id).where(accounts))


def leads_filter(viewer: Viewer) -> ColumnElement[bool] | None:
    """Leads owned by someone in scope; managers also see unassigned leads to route them."""
    owned = _in_scope(Lead.owner_id, viewer)
    if owned is None or viewer.role == Role.REP:
        return owned
    return or_(owned, Lead.owner_id.is_(None))


def activities_filter(viewer: Viewer) -> ColumnElement[bool] | None:
    """Activities logged by someone in the viewer's scope."""
    return _in_scope(Activity.user_id, viewer)


def users_filter(viewer: Viewer) -> ColumnElement[bool] | None:
    """The people in the viewer's scope (a rep sees only themself)."""
    return _in_scope(User.id, viewer)


def quotas_filter(viewer: Viewer) -> ColumnElement[bool] | None:
    """Quotas of people in scope, and of teams led by someone in scope."""
    personal = _in_scope(Quota.user_id, viewer)
    if personal is None:
        return None
    team_lead = _in_scope(Team.manager_id, viewer)
    assert team_lead is not None
    return or_(personal, Quota.team_id.in_(select(Team.id).where(team_lead)))


def forecasts_filter(viewer: Viewer) -> ColumnElement[bool] | None:
    """Forecast calls for the number of someone in scope."""
    return _in_scope(ForecastSubmission.user_id, viewer)


def audit_filter(viewer: Viewer) -> ColumnElement[bool] | None:
    """Audit entries written by people in scope. Reps do not read the audit log."""
    if viewer.role == Role.REP:
        raise PermissionDenied("the audit log is for managers and admins")
    return _in_scope(AuditEntry.actor_id, viewer)


FILTERS = {
    Deal: deals_filter,
    Account: accounts_filter,
    Contact: contacts_filter,
    Lead: leads_filter,
    Activity: activities_filter,
    User: users_filter,
    Quota: quotas_filter,
    ForecastSubmission: forecasts_filter,
    AuditEntry: audit_filter,
}


def scoped(stmt: Select[Any], model: type[Any], viewer: Viewer) -> Select[Any]:
    """`stmt` restricted to the rows of `model` the viewer may see."""
    condition = FILTERS[model](viewer)
    return stmt if condition is None else stmt.where(condition)


def get_visible(
    session: Session,
    model: type[Row],
    record_id: int,
    viewer: Viewer,
    *,
    options: Sequence[ORMOption] = (),
    for_update: bool = False,
) -> Row:
    """The record with `record_id` if the viewer may see it, else `NotFound`.

    `options` are loader options for the same query (e.g. `joinedload` of what the caller
    is about to read); options made once, at import, let the statement be reused.
    `for_update` locks the record's row until the transaction ends (PostgreSQL; a writer on
    SQLite holds the whole database).
    """
    stmt = _statement(model, viewer, tuple(options), for_update=for_update)
    record = session.scalar(stmt, {"record_id": record_id})
    if record is None:
        raise NotFound(f"{_noun(model)} {record_id} not found")
    return record  # type: ignore[no-any-return]


def get_visible_row(
    session: Session, model: type[Any], record_id: int, viewer: Viewer
) -> RowMapping:
    """`get_visible` for a read that only answers the record: its columns as a mapping, without
    the ORM's identity map and change tracking (measured: about half the cost of a read)."""
    stmt = _statement(model, viewer, None)
    row = session.execute(stmt, {"record_id": record_id}).mappings().one_or_none()
    if row is None:
        raise NotFound(f"{_noun(model)} {record_id} not found")
    return row


# The statements that fetch one record in a viewer's scope, by model, viewer and options (None
# for columns rather than the ORM object). A scope's SQL depends only on the viewer's role and
# id (a manager's subtree is worked out by the query itself), so a statement serves every
# request of that viewer; building it cost about as much as running it.
_STATEMENTS: dict[tuple[Any, Role, int, tuple[ORMOption, ...] | None, bool], Select[Any]] = {}
_STATEMENTS_KEPT = 4096


def _statement(
    model: type[Any],
    viewer: Viewer,
    options: tuple[ORMOption, ...] | None,
    *,
    for_update: bool = False,
) -> Select[Any]:
    key = (model, viewer.role, viewer.id, options, for_update)
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        if options is None:
            table = model.__table__
            stmt = scoped(select(table), model, viewer).where(table.c.id == bindparam("record_id"))
        else:
            stmt = (
                scoped(select(model), model, viewer)
                .where(model.id == bindparam("record_id"))
                .options(*options)
            )
            if for_update:
                # The record's own row only, not those of what it joins; and the locked row's
                # values replace those of the same record loaded earlier in the session.
                stmt = stmt.with_for_update(of=model).execution_options(populate_existing=True)
        if len(_STATEMENTS) >= _STATEMENTS_KEPT:
            _STATEMENTS.clear()
        _STATEMENTS[key] = stmt
    return stmt


def assignable_owner(session: Session, viewer: User, owner_id: int | None, *, field: str) -> User:
    """The user `owner_id` names (the viewer when None), if the viewer may give them records.

    Reps give records only to themselves (403 otherwise); managers to people in their scope
    and admins to anyone (someone outside that is an unknown user: 404 naming the field). An
    inactive person cannot be given records (409).
    """
    if owner_id is None or owner_id == viewer.id:
        return viewer
    if viewer.role == Role.REP:
        raise PermissionDenied("reps can only assign records to themselves")
    owner = resolve_user(session, viewer, owner_id, field=field)
    if not owner.active:
        raise Conflict(f"{field}: {owner.email} is inactive", details={"field": field})
    return owner


def require_assignable(session: Session, viewer: User, owner: User) -> None:
    """`owner` may be given records by `viewer`: reps only themselves, managers their scope."""
    if viewer.role == Role.ADMIN or owner.id == viewer.id:
        return
    if viewer.role == Role.REP:
        raise PermissionDenied("reps can only assign records to themselves")
    in_scope = _in_scope(User.id, viewer)
    assert in_scope is not None
    if session.scalar(select(User.id).where(User.id == owner.id, in_scope)) is None:
        raise PermissionDenied(f"{owner.email} is not in your team")


def require_editable(viewer: Viewer, record: Account | Deal | Lead | Activity) -> None:
    """Reps change only what they own (or logged); managers and admins what they can see."""
    if viewer.role != Role.REP:
        return
    owner_id = record.user_id if isinstance(record, Activity) else record.owner_id
    if owner_id != viewer.id:
        raise PermissionDenied(f"reps can only change their own {_noun(type(record))}s")


def require_role(viewer: Viewer, *roles: Role) -> None:
    """Refuse unless the viewer has one of `roles`."""
    if viewer.role not in roles:
        allowed = " or ".join(role.value for role in roles)
        raise PermissionDenied(f"only {allowed} users may do this")


def get_referenced(
    session: Session, model: type[Row], record_id: int | None, viewer: User, *, field: str
) -> Row | None:
    """The record a request's `field` points at (None when not given), if the viewer may see it.

    A record that does not exist or lies outside the viewer's scope is `MissingReference`
    (409) naming the field: the request is well formed, but the data it points at is not there
    for this viewer.
    """
    if record_id is None:
        return None
    try:
        return get_visible(session, model, record_id, viewer)
    except NotFound:
        raise MissingReference(
            f"{field}: {_noun(model)} {record_id} not found", details={"field": field}
        ) from None


def resolve_user(session: Session, viewer: User, user_id: int | None, *, field: str) -> User:
    """The user `user_id` names (the viewer when None), if the viewer may see them."""
    return get_referenced(session, User, user_id, viewer, field=field) or viewer


def _noun(model: type[Any]) -> str:
    names = {ForecastSubmission: "forecast", AuditEntry: "audit entry"}
    return names.get(model, model.__name__.lower())
