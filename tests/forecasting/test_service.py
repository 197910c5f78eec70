from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.orm import Session

from tests.factories import T0, make_user
from topline.auth.enums import Role
from topline.errors import InvalidInput, PermissionDenied
from topline.forecasting.service import submit_forecast

PERIOD = {"period_start": date(2025, 1, 1), "period_end": date(2025, 4, 1)}


def test_manager_overrides_a_reports_number(session: Session) -> None:
    manager = make_user(session, role=Role.MANAGER)
    rep = make_user(session, manager=manager)
    call = submit_forecast(
        session,
        submitted_by=manager,
        user=rep,
        commit_cents=50_00,
        best_case_cents=80_00,
        pipeline_cents=200_00,
        at=T0,
        **PERIOD,
    )
    assert (call.user_id, call.submitted_by_id) == (rep.id, manager.id)


def test_rep_cannot_call_a_peers_number_and_outsider_manager_neither(session: Session) -> None:
    manager = make_user(session, role=Role.MANAGER)
    rep, peer = make_user(session, manager=manager), make_user(session, manager=manager)
    other_manager = make_user(session, role=Role.MANAGER)
    amounts = {"commit_cents": 1, "best_case_cents": 1, "pipeline_cents": 1}
    with pytest.raises(PermissionDenied):
        submit_forecast(session, submitted_by=rep, user=peer, at=T0, **amounts, **PERIOD)
    with pytest.raises(PermissionDenied):
        submit_forecast(session, submitted_by=other_manager, user=rep, at=T0, **amounts, **PERIOD)


def test_commit_above_best_case_is_refused(session: Session) -> None:
    rep = make_user(session)
    with pytest.raises(InvalidInput, match="commit ≤ best case ≤ pipeline"):
        submit_forecast(
            session,
            submitted_by=rep,
            user=rep,
            commit_cents=10,
            best_case_cents=5,
            pipeline_cents=20,
            at=T0,
            **PERIOD,
        )
