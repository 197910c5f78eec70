from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.orm import Session

from tests.factories import make_user
from topline.errors import InvalidInput
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
