from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import make_user
from topline.errors import Conflict, InvalidInput
from topline.quotas import service as quota_service
from topline.quotas.models import Quota
from topline.quotas.service import set_quota

Q1 = (date(2025, 1, 1), date(2025, 4, 1))


def test_setting_a_quota_twice_replaces_it(session: Session) -> None:
    rep = make_user(session)
    first = set_quota(
        session, user=rep, amount_cents=150_000_00, period_start=Q1[0], period_end=Q1[1]
    )
    second = set_quota(
        session, user=rep, amount_cents=120_000_00, period_start=Q1[0], period_end=Q1[1]
    )
    assert second.id == first.id
    assert second.amount_cents == 120_000_00


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"amount_cents": -1}, "quota must not be negative"),
        ({"amount_cents": 1.5}, "whole number of cents"),
        ({"period_end": date(2024, 12, 1)}, "before it starts"),
        ({"user": None}, "exactly one rep or one team"),
    ],
)
def test_bad_quota_is_refused(session: Session, kwargs: dict, message: str) -> None:
    values = {
        "user": make_user(session),
        "amount_cents": 1,
        "period_start": Q1[0],
        "period_end": Q1[1],
    }
    values.update(kwargs)
    with pytest.raises(InvalidInput, match=message):
        set_quota(session, **values)


def test_a_new_quota_set_by_someone_else_meanwhile_is_a_conflict(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    rep = make_user(session)
    set_quota(session, user=rep, amount_cents=100_000_00, period_start=Q1[0], period_end=Q1[1])
    # Both requests looked before either wrote: the lookup finds nothing, the index refuses.
    monkeypatch.setattr(quota_service, "find_quota", lambda session, **kwargs: None)

    with pytest.raises(Conflict, match="period_start: a quota starting 2025-01-01") as raised:
        set_quota(session, user=rep, amount_cents=90_000_00, period_start=Q1[0], period_end=Q1[1])

    assert raised.value.details == {"field": "period_start"}
    amounts = session.scalars(select(Quota.amount_cents).where(Quota.user_id == rep.id)).all()
    assert amounts == [100_000_00]
