"""Setting and reading quotas."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from topline.auth.enums import Role
from topline.auth.models import Team, User
from topline.auth.service import visible_user_ids
from topline.errors import Conflict, InvalidInput, PermissionDenied
from topline.money import require_cents
from topline.quotas.models import Quota
from topline.storage.db import refuse_duplicates


def set_quota(
    session: Session,
    *,
    amount_cents: int,
    period_start: date,
    period_end: date,
    user: User | None = None,
    team: Team | None = None,
) -> Quota:
    """Set the bookings target of one rep or one team for `[period_start, period_end)`.

    Setting it again for the same owner and start replaces the amount (and end) in place.
    """
    if (user is None) == (team is None):
        raise InvalidInput("a quota belongs to exactly one rep or one team")
    require_cents(amount_cents, "quota")
    if period_end <= period_start:
        raise InvalidInput(f"quota period ends ({period_end}) before it starts ({period_start})")
    quota = find_quota(session, period_start=period_start, user=user, team=team)
    if quota is not None:
        quota.period_end = period_end
        quota.amount_cents = amount_cents
        session.flush()
        return quota
    quota = Quota(
        user_id=user.id if user else None,
        team_id=team.id if team else None,
        period_start=period_start,
        period_end=period_end,
        amount_cents=amount_cents,
    )
    # Two people setting the same new quota at once: the unique index refuses the second.
    clash = Conflict(
        f"period_start: a quota starting {period_start} was just set by someone else; "
        "send the request again to replace it",
        details={"field": "period_start"},
    )
    with refuse_duplicates(session, clash):
        session.add(quota)
    return quota


def find_quota(
    session: Session, *, period_start: date, user: User | None = None, team: Team | None = None
) -> Quota | None:
    """The quota of `user` or `team` starting on `period_start`, if one is set."""
    if user is not None:
        owner_filter = Quota.user_id == user.id
    elif team is not None:
        owner_filter = Quota.team_id == team.id
    else:
        return None
    return session.scalar(select(Quota).where(owner_filter, Quota.period_start == period_start))


def require_quota_setter(
    session: Session, setter: User, *, user: User | None = None, team: Team | None = None
) -> None:
    """Refuse unless `setter` may set this quota.

    Admins set any quota. A manager sets the quotas of the people strictly below them (never
    their own number) and of the teams led by them or by someone below them. Reps set none.
    """
    if setter.role == Role.ADMIN:
        return
    if setter.role == Role.REP:
        raise PermissionDenied("reps cannot set quotas; ask your manager")
    below = set(visible_user_ids(session, setter) or ())
    if user is not None:
        if user.id == setter.id:
            raise PermissionDenied("managers cannot set their own quota; ask your manager")
        if user.id not in below:
            raise PermissionDenied(f"{user.email} is not in your team")
    if team is not None and team.manager_id not in below:
        raise PermissionDenied(f"team {team.name!r} is not led by you or someone in your team")
