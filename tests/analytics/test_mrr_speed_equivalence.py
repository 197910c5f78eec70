"""The array replay behind the `mrr` report gives the figures of a straightforward replay.

The report replays subscription deals column by column (`_replay`, `_Ledger`). Here random
deals are replayed one at a time with `metrics.account_mrr_after` and `metrics.mrr_movement`,
the way the report defines its figures, and every figure the report reads must be equal: MRR
at a moment, a month's movements, the NRR cohort's and each account's. Moments are whole
microseconds; few of them, so that many deals close at the same moment.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from tests.factories import make_account
from topline.analytics import metrics
from topline.analytics.revenue import _cents_array, _Events, _replay
from topline.crm.models import Account
from topline.storage import sql

Event = tuple[int, int, bool, bool, int]  # account, moment, renewal, won, recurring cents
Change = tuple[int, int, int, int]  # account, moment, before, after

KINDS = ("new", "expansion", "contraction", "churn")


def events(largest_cents: int) -> st.SearchStrategy[list[Event]]:
    return st.lists(
        st.tuples(
            st.sampled_from([1, 2, 3, 4, -7, -8]),
            st.integers(0, 12),
            st.booleans(),
            st.booleans(),
            st.integers(0, largest_cents),
        ),
        max_size=40,
    )


def straightforward(replay: list[Event]) -> list[Change]:
    """Each account's MRR changes, deal by deal in close order (equal moments as given)."""
    current: dict[int, int] = {}
    changes = []
    for account, moment, renewal, won, recurring in sorted(replay, key=lambda e: e[1]):
        before = current.get(account, 0)
        after = metrics.account_mrr_after(before, recurring, renewal=renewal, won=won)
        current[account] = after
        if after != before:
            changes.append((account, moment, before, after))
    return changes


def mrr_at(changes: list[Change], moment: int, *, inclusive: bool) -> dict[int, int]:
    mrr = {}
    for account, at, _, after in changes:
        if at < moment or (inclusive and at == moment):
            mrr[account] = after
    return mrr


def figures(changes: list[Change], start_mrr: int) -> dict[str, int]:
    parts = dict.fromkeys(KINDS, 0)
    for _, _, before, after in changes:
        kind = metrics.mrr_movement(before, after)
        assert kind is not None
        parts[kind] += abs(after - before)
    return {
        "mrr_start_cents": start_mrr,
        "new_cents": parts["new"],
        "expansion_cents": parts["expansion"],
        "contraction_cents": parts["contraction"],
        "churn_cents": parts["churn"],
        "mrr_end_cents": start_mrr
        + parts["new"]
        + parts["expansion"]
        - parts["contraction"]
        - parts["churn"],
    }


def ledger_of(replay: list[Event]) -> Any:
    ordered = sorted(replay, key=lambda e: e[1])
    return _replay(
        _Events(
            account=np.array([e[0] for e in ordered], dtype=np.int64),
            at=np.array([e[1] for e in ordered], dtype=np.int64),
            renewal=np.array([e[2] for e in ordered], dtype=bool),
            won_cents=_cents_array([e[4] if e[3] else 0 for e in ordered]),
        )
    )


def check(replay: list[Event], start: int, end: int) -> None:
    changes = straightforward(replay)
    ledger = ledger_of(replay)
    for moment in range(-1, 14):
        for inclusive in (False, True):
            expected = sum(mrr_at(changes, moment, inclusive=inclusive).values())
            assert ledger.total_at(moment, inclusive=inclusive) == expected
    # A month: the changes in [start, end) from the MRR before start.
    inside = [c for c in changes if start <= c[1] < end]
    before = sum(mrr_at(changes, start, inclusive=False).values())
    assert ledger.month(start, end) == figures(inside, before)
    # The NRR cohort: accounts with MRR at `start`, their changes after it up to `end`.
    cohort = {a: v for a, v in mrr_at(changes, start, inclusive=True).items() if v > 0}
    moved = [c for c in changes if c[0] in cohort and start < c[1] <= end]
    assert ledger.cohort(start, end) == figures(moved, sum(cohort.values()))
    # By account: MRR before `start` or a change in [start, end).
    at_start = mrr_at(changes, start, inclusive=False)
    listed = {a for a, v in at_start.items() if v > 0} | {a for a, _, _, _ in inside}
    expected_rows = {
        a: figures([c for c in inside if c[0] == a], at_start.get(a, 0)) for a in listed
    }
    rows = ledger.by_account(start, end)
    assert len(rows) == len({account for account, _ in rows})
    assert dict(rows) == expected_rows


@given(events(5_000), st.integers(-1, 13), st.integers(0, 14))
def test_the_array_replay_gives_the_straightforward_figures(
    replay: list[Event], start: int, length: int
) -> None:
    check(replay, start, start + length)


@given(events(2**70), st.integers(-1, 13), st.integers(0, 14))
def test_amounts_beyond_64_bits_stay_exact(replay: list[Event], start: int, length: int) -> None:
    check(replay, start, start + length)


def test_a_renewal_restarts_and_equal_moments_keep_their_order() -> None:
    # Account 1: +1,000, then at moment 5 a renewal at 1,200 before an expansion of 300, and
    # a lost renewal at 9. Account 2 closes nothing that changes its MRR.
    replay = [
        (1, 1, False, True, 1_000),
        (1, 5, True, True, 1_200),
        (1, 5, False, True, 300),
        (2, 6, False, False, 900),
        (1, 9, True, False, 1_500),
    ]
    ledger = ledger_of(replay)
    assert [ledger.total_at(m, inclusive=True) for m in (0, 1, 5, 9)] == [0, 1_000, 1_500, 0]
    assert ledger.month(2, 10) == {
        "mrr_start_cents": 1_000,
        "new_cents": 0,
        "expansion_cents": 200 + 300,
        "contraction_cents": 0,
        "churn_cents": 1_500,
        "mrr_end_cents": 0,
    }
    assert [account for account, _ in ledger.by_account(0, 10)] == [1]


def test_no_deals() -> None:
    ledger = ledger_of([])
    assert ledger.total_at(0, inclusive=True) == 0
    assert ledger.month(0, 5)["mrr_end_cents"] == 0
    assert ledger.cohort(0, 5)["mrr_start_cents"] == 0
    assert ledger.by_account(0, 5) == []


def test_account_names_are_read_in_slices(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL refuses more than 65,535 parameters: names come a slice of ids at a time."""
    accounts = [make_account(session, name=f"Account {n}") for n in range(5)]
    monkeypatch.setattr(sql, "NAME_SLICE", 2)

    names = sql.names_by_id(session, Account, [a.id for a in accounts] + [10**12])

    assert names == {a.id: a.name for a in accounts}
