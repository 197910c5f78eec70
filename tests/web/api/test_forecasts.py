"""The forecast submissions API: scope per role, filters, newest first, who calls whose number."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import SalesOrg
from topline.audit.models import AuditEntry
from topline.auth.models import User
from topline.forecasting.models import ForecastSubmission
from topline.forecasting.service import submit_forecast

ApiAs = Callable[[User], TestClient]
CALLS = "/api/v1/forecast-submissions"
T0 = datetime(2025, 2, 3, 9, 0, tzinfo=UTC)
Q1 = (date(2025, 1, 1), date(2025, 4, 1))
Q2 = (date(2025, 4, 1), date(2025, 7, 1))
BODY = {
    "start_month": "2025-01",
    "months": 3,
    "commit_cents": 50_000_00,
    "best_case_over_commit_cents": 20_000_00,
    "pipeline_over_best_case_cents": 20_000_00,
}


@pytest.fixture
def calls(session: Session, org: SalesOrg) -> dict[int, str]:
    """Six calls an hour apart, labelled `<whose number>-by-<who called>`; the last is for Q2."""
    labels: dict[int, str] = {}
    for hour, (user, by, period) in enumerate(
        [
            (org.rita, org.rita, Q1),
            (org.ray, org.ray, Q1),
            (org.rita, org.maria, Q1),
            (org.maria, org.maria, Q1),
            (org.olga, org.olga, Q1),
            (org.rita, org.rita, Q2),
        ]
    ):
        call = submit_forecast(
            session,
            submitted_by=by,
            user=user,
            commit_cents=10_000_00 * (hour + 1),
            best_case_cents=20_000_00 * (hour + 1),
            pipeline_cents=30_000_00 * (hour + 1),
            at=T0 + timedelta(hours=hour),
            period_start=period[0],
            period_end=period[1],
        )
        suffix = "-q2" if period is Q2 else ""
        labels[call.id] = f"{user.name.lower()}-by-{by.name.lower()}{suffix}"
    return labels


def labelled(response: Any, calls: dict[int, str]) -> list[str]:
    assert response.status_code == 200, response.text
    return [calls[item["id"]] for item in response.json()["items"]]


def call_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(ForecastSubmission)) or 0


def audit_rows(session: Session) -> list[AuditEntry]:
    stmt = select(AuditEntry).where(AuditEntry.entity_type == "forecast_submission")
    return list(session.scalars(stmt.order_by(AuditEntry.id)))


class TestRead:
    @pytest.mark.parametrize(
        ("who", "expected"),
        [
            ("admin", ["rita-by-rita-q2", "olga-by-olga", "maria-by-maria", "rita-by-maria",
                       "ray-by-ray", "rita-by-rita"]),
            ("maria", ["rita-by-rita-q2", "maria-by-maria", "rita-by-maria", "ray-by-ray",
                       "rita-by-rita"]),
            ("otto", ["olga-by-olga"]),
            # A rep sees every call on their number, their manager's adjustments included.
            ("rita", ["rita-by-rita-q2", "rita-by-maria", "rita-by-rita"]),
        ],
    )  # fmt: skip
    def test_each_role_sees_its_scope_newest_first(
        self, api_as: ApiAs, org: SalesOrg, calls: dict[int, str], who: str, expected: list[str]
    ) -> None:
        response = api_as(getattr(org, who)).get(CALLS)

        assert labelled(response, calls) == expected
        assert response.json()["total"] == len(expected)

    def test_a_call_reads_back_exactly(
        self, api_as: ApiAs, org: SalesOrg, calls: dict[int, str]
    ) -> None:
        [item] = api_as(org.otto).get(CALLS).json()["items"]

        assert item == {
            "id": item["id"],
            "user_id": org.olga.id,
            "submitted_by_id": org.olga.id,
            "period_start": "2025-01-01",
            "period_end": "2025-04-01",
            "commit_cents": 50_000_00,
            "best_case_cents": 100_000_00,
            "pipeline_cents": 150_000_00,
            "note": None,
            "submitted_at": "2025-02-03T13:00:00Z",
        }

    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ({"user_id": "rita"}, ["rita-by-rita-q2", "rita-by-maria", "rita-by-rita"]),
            ({"period_start": "2025-04-01"}, ["rita-by-rita-q2"]),
            ({"submitted_since": "2025-02-03T12:00:00Z"},
             ["rita-by-rita-q2", "olga-by-olga", "maria-by-maria"]),
            ({"submitted_since": "2025-02-03T13:00:00+01:00"},
             ["rita-by-rita-q2", "olga-by-olga", "maria-by-maria"]),
            ({"sort": "submitted_at", "user_id": "rita"},
             ["rita-by-rita", "rita-by-maria", "rita-by-rita-q2"]),
            ({"sort": "-period_start", "submitted_since": "2025-02-03T13:00:00Z"},
             ["rita-by-rita-q2", "olga-by-olga"]),
        ],
    )  # fmt: skip
    def test_filters_and_sort(
        self,
        api_as: ApiAs,
        org: SalesOrg,
        calls: dict[int, str],
        params: dict[str, Any],
        expected: list[str],
    ) -> None:
        if params.get("user_id") == "rita":
            params = {**params, "user_id": org.rita.id}

        assert labelled(api_as(org.admin).get(CALLS, params=params), calls) == expected

    def test_cursor_walks_every_page_newest_first(
        self, api_as: ApiAs, org: SalesOrg, calls: dict[int, str]
    ) -> None:
        admin = api_as(org.admin)
        pages: list[list[str]] = []
        params: dict[str, Any] = {"limit": 4}
        while True:
            page = admin.get(CALLS, params=params)
            pages.append(labelled(page, calls))
            if page.json()["next_cursor"] is None:
                break
            params["cursor"] = page.json()["next_cursor"]

        assert pages == [
            ["rita-by-rita-q2", "olga-by-olga", "maria-by-maria", "rita-by-maria"],
            ["ray-by-ray", "rita-by-rita"],
        ]

    @pytest.mark.parametrize(
        "params",
        [
            {"submitted_since": "2025-02-03T12:00:00"},
            {"submitted_since": "yesterday"},
            {"user_id": 2**63},
            {"period_start": "Q1"},
            {"sort": "commit_cents"},
            {"limit": 500},
        ],
    )
    def test_bad_filters_are_422(
        self, api_as: ApiAs, org: SalesOrg, params: dict[str, Any]
    ) -> None:
        response = api_as(org.admin).get(CALLS, params=params)

        assert response.status_code == 422
        assert next(iter(params)) in response.text


class TestSubmit:
    def test_a_rep_calls_their_own_number_and_it_is_audited(
        self, api_as: ApiAs, org: SalesOrg, session: Session
    ) -> None:
        response = api_as(org.rita).post(CALLS, json={**BODY, "note": "Two deals slip to Q2"})

        assert response.status_code == 201, response.text
        call = response.json()
        assert (call["user_id"], call["submitted_by_id"]) == (org.rita.id, org.rita.id)
        assert (call["period_start"], call["period_end"]) == ("2025-01-01", "2025-04-01")
        assert (call["commit_cents"], call["best_case_cents"], call["pipeline_cents"]) == (
            50_000_00,
            70_000_00,
            90_000_00,
        )
        assert call["note"] == "Two deals slip to Q2"
        [entry] = audit_rows(session)
        assert (entry.action, entry.actor_id, entry.entity_id) == (
            "submit",
            org.rita.id,
            call["id"],
        )
        assert entry.before is None and entry.after == call

    def test_numbers_written_with_a_fraction_of_zero_are_whole(
        self, api_as: ApiAs, org: SalesOrg
    ) -> None:
        body = {**BODY, "commit_cents": 50_000_00.0, "months": 12.0}

        response = api_as(org.rita).post(CALLS, json=body)

        assert response.status_code == 201, response.text
        assert (response.json()["commit_cents"], response.json()["period_end"]) == (
            50_000_00,
            "2026-01-01",
        )

    def test_an_unknown_user_is_409_naming_the_field(
        self, api_as: ApiAs, org: SalesOrg, session: Session
    ) -> None:
        response = api_as(org.admin).post(CALLS, json={**BODY, "user_id": 999_999})

        assert response.status_code == 409, response.text
        assert response.json()["error"]["details"] == {"field": "user_id"}
        assert call_count(session) == 0

    def test_a_manager_adjusts_a_reports_number(
        self, api_as: ApiAs, org: SalesOrg, session: Session
    ) -> None:
        response = api_as(org.maria).post(CALLS, json={**BODY, "user_id": org.ray.id})

        assert response.status_code == 201, response.text
        assert (response.json()["user_id"], response.json()["submitted_by_id"]) == (
            org.ray.id,
            org.maria.id,
        )
        assert [c["id"] for c in api_as(org.ray).get(CALLS).json()["items"]] == [
            response.json()["id"]
        ]

    @pytest.mark.parametrize(
        ("who", "whose", "status"),
        [
            ("rita", "ray", 403),
            ("rita", "maria", 403),
            # Someone outside the caller's scope is not found, as on every read.
            ("maria", "olga", 409),
            ("otto", "rita", 409),
            ("admin", "olga", 201),
            ("maria", "maria", 201),
        ],
    )
    def test_who_may_call_whose_number(
        self, api_as: ApiAs, org: SalesOrg, session: Session, who: str, whose: str, status: int
    ) -> None:
        body = {**BODY, "user_id": getattr(org, whose).id}

        response = api_as(getattr(org, who)).post(CALLS, json=body)

        assert response.status_code == status, response.text
        assert call_count(session) == (1 if status == 201 else 0)
        if status == 409:
            assert response.json()["error"]["details"] == {"field": "user_id"}

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            # A best case below the commit would be a negative upside.
            ({"best_case_over_commit_cents": -1}, "best_case_over_commit_cents"),
            ({"pipeline_over_best_case_cents": -1}, "pipeline_over_best_case_cents"),
            ({"commit_cents": 1.5}, "commit_cents"),
            ({"best_case_over_commit_cents": "70000"}, "best_case_over_commit_cents"),
            ({"pipeline_over_best_case_cents": 2**63}, "pipeline_over_best_case_cents"),
            ({"best_case_cents": 70_000_00}, "best_case_cents"),
            ({"period_start": "2025-01-01"}, "period_start"),
            ({"start_month": "2025-1"}, "start_month"),
            ({"start_month": "2025-13"}, "start_month"),
            ({"start_month": "2025-01-01"}, "start_month"),
            ({"months": 0}, "months"),
            ({"months": 13}, "months"),
            ({"note": "x\x00y"}, "note"),
            ({"note": "x" * 2001}, "note"),
            ({"user_id": 2**64}, "user_id"),
            ({"submitted_by_id": 1}, "submitted_by_id"),
            ({"submitted_at": "2025-01-01T00:00:00Z"}, "submitted_at"),
        ],
    )
    def test_bad_input_is_422_naming_the_field_and_writes_nothing(
        self, api_as: ApiAs, org: SalesOrg, session: Session, changes: dict[str, Any], field: str
    ) -> None:
        response = api_as(org.maria).post(CALLS, json={**BODY, **changes})

        assert response.status_code == 422, response.text
        assert field in response.text
        assert call_count(session) == 0
        assert audit_rows(session) == []
