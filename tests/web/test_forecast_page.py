"""The forecast page: the kept projection, every method, the call roll-up and the call form,
scoped to what the viewer may see."""

from __future__ import annotations

import html
import json
from datetime import UTC, date, datetime

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import PASSWORD
from tests.factories import SalesOrg, make_user
from tests.web.helpers import assert_max_queries, csrf_from, login, table_rows
from topline.analytics.periods import PeriodKind, period_containing
from topline.audit.models import AuditEntry
from topline.auth.models import User
from topline.clock import utcnow
from topline.crm.models import Deal
from topline.forecasting.models import ForecastSnapshot, ForecastSubmission

# The org's deals close in 2025Q1; the page is read as of 2025-02-20.
Q1 = (date(2025, 1, 1), date(2025, 4, 1))
AS_OF = {"as_of": "2025-02-20"}


def keep(
    session: Session, scope: str, user: User | None, method: str, cents: int, **more: object
) -> None:
    session.add(
        ForecastSnapshot(
            scope_key=scope,
            scope_kind=scope.split(":")[0],
            scope_user_id=None if user is None else user.id,
            period_start=Q1[0],
            period_end=Q1[1],
            method=method,
            taken_on=date(2025, 2, 19),
            taken_at=datetime(2025, 2, 19, 5, 30, tzinfo=UTC),
            expected_cents=cents,
            won_cents=500_000_00,
            open_deals=4,
            **more,
        )
    )
    session.flush()


def call(session: Session, user: User, by: User, commit: int, day: int = 18) -> None:
    session.add(
        ForecastSubmission(
            user_id=user.id,
            submitted_by_id=by.id,
            period_start=Q1[0],
            period_end=Q1[1],
            commit_cents=commit,
            best_case_cents=commit,
            pipeline_cents=commit,
            submitted_at=datetime(2025, 2, day, 12, tzinfo=UTC),
        )
    )
    session.flush()


def team_projection(session: Session, org: SalesOrg) -> None:
    ray_deal = session.scalars(select(Deal).where(Deal.name == "Ray Proposal")).one()
    scope = f"team:{org.maria.id}"
    keep(
        session, scope, org.maria, "projection", 540_000_00,
        p10_cents=510_000_00, p50_cents=539_000_00, p90_cents=575_000_00,
        details={"new_deals_cents": 3_000_00, "drivers": [{
            "deal_id": ray_deal.id, "amount_cents": 40_000_00, "probability": 0.75,
            "expected_cents": 30_000_00, "factors": ["Stage Proposal: +12 pts"],
        }]},
    )  # fmt: skip
    keep(session, scope, org.maria, "stage_weighted", 552_000_00)
    keep(session, scope, org.maria, "people", 530_000_00)
    keep(session, f"team:{org.otto.id}", org.otto, "projection", 1, p10_cents=1, p90_cents=1)


def test_a_manager_sees_the_teams_projection_methods_and_drivers(
    client: TestClient, session: Session, org: SalesOrg
) -> None:
    team_projection(session, org)
    login(client, "maria@topline.example", PASSWORD)

    page = client.get("/forecast", params=AS_OF)

    assert page.status_code == 200
    assert "<h1>Forecast — team of Maria</h1>" in page.text
    assert "As it stood on" in page.text
    assert 'data-testid="projection">$540,000<' in page.text
    assert 'data-testid="range">$510,000 – $575,000<' in page.text
    assert 'data-testid="call">$530,000<' in page.text
    assert table_rows(page.text, "methods")[1:] == [
        ["Projection (per-deal model)", "$540,000", "$510,000", "$539,000", "$575,000"],
        ["Forecast call (commit)", "$530,000", "", "", ""],
        ["Stage-weighted pipeline", "$552,000", "", "", ""],
    ]
    assert table_rows(page.text, "drivers")[1:] == [
        ["Ray Proposal", "$40,000", "75%", "$30,000", "Stage Proposal: +12 pts"]
    ]


def test_the_rollup_shows_each_persons_effective_call_and_staleness(
    client: TestClient, session: Session, org: SalesOrg
) -> None:
    call(session, org.rita, org.rita, 20_000_00, day=18)
    call(session, org.rita, org.maria, 15_000_00, day=19)  # Maria adjusts Rita's number
    call(session, org.ray, org.ray, 40_000_00, day=2)  # older than a week on Feb 20
    call(session, org.olga, org.olga, 99_000_00)  # another team: never shown to Maria
    login(client, "maria@topline.example", PASSWORD)

    rows = table_rows(client.get("/forecast", params=AS_OF).text, "rollup")

    people = {row[0].removesuffix(" Adjusted"): row for row in rows[1:]}
    assert set(people) == {"Maria", "Rita", "Ray"}
    assert rows[1][0] == "Maria"
    assert people["Rita"][0] == "Rita Adjusted"
    assert people["Rita"][1:4] == ["$15,000", "$15,000", "$15,000"]
    # Rita: won 500,000 in February + open deals in the pipeline category: commit is the won.
    assert people["Rita"][4] == "$500,000"
    assert people["Rita"][6] == "Current"
    assert people["Ray"][1] == "$40,000"
    assert people["Ray"][6] == "Stale"
    assert people["Maria"][1] == "No call"
    assert people["Maria"][5] == "$55,000"  # the team adds up: 15,000 + 40,000


def test_without_a_kept_projection_the_page_says_how_to_get_one(
    client: TestClient, org: SalesOrg
) -> None:
    login(client, "rita@topline.example", PASSWORD)

    page = client.get("/forecast", params=AS_OF)

    assert page.status_code == 200
    assert "<h1>Your forecast</h1>" in page.text
    assert "No projection kept for this quarter yet" in page.text
    assert "topline forecast snapshot" in page.text
    assert 'id="call-commit"' in page.text


def test_a_rep_submits_a_call_and_mistakes_keep_what_was_typed(
    client: TestClient, session: Session, org: SalesOrg
) -> None:
    login(client, "rita@topline.example", PASSWORD)
    token = csrf_from(client.get("/forecast").text)

    bad = client.post(
        "/forecast/call",
        data={"csrf_token": token, "commit": "50,000", "best_case": "40000",
              "pipeline": "lots", "note": "Big quarter"},
    )  # fmt: skip

    assert bad.status_code == 422
    assert 'value="50,000"' in bad.text and 'value="lots"' in bad.text
    assert 'value="Big quarter"' in bad.text
    assert "Enter an amount in dollars" in bad.text
    assert session.scalars(select(ForecastSubmission)).all() == []

    order = client.post(
        "/forecast/call",
        data={"csrf_token": token, "commit": "40000", "best_case": "$55,000.50",
              "pipeline": "90000", "note": " Big quarter "},
        follow_redirects=False,
    )  # fmt: skip

    assert order.status_code == 303
    assert order.headers["location"] == "/forecast?saved=true"
    stored = session.scalars(select(ForecastSubmission)).one()
    quarter = period_containing(utcnow().date(), PeriodKind.QUARTER)
    assert (stored.user_id, stored.submitted_by_id) == (org.rita.id, org.rita.id)
    assert (stored.period_start, stored.period_end) == (quarter.start, quarter.end)
    assert (stored.commit_cents, stored.best_case_cents, stored.pipeline_cents) == (
        40_000_00,
        55_000_50,
        90_000_00,
    )
    assert stored.note == "Big quarter"
    entry = session.scalars(select(AuditEntry)).one()
    assert (entry.action, entry.entity_type, entry.entity_id) == (
        "submit",
        "forecast_submission",
        stored.id,
    )
    assert "Your call for" in client.get("/forecast?saved=true").text


def test_best_case_below_commit_is_refused_with_the_field_named(
    client: TestClient, org: SalesOrg
) -> None:
    login(client, "rita@topline.example", PASSWORD)
    token = csrf_from(client.get("/forecast").text)

    page = client.post(
        "/forecast/call",
        data={"csrf_token": token, "commit": "100", "best_case": "50", "pipeline": "200"},
    )

    assert page.status_code == 422
    assert 'id="call-best_case-error"' in page.text
    assert "Best case includes the commit" in page.text


def test_a_call_without_the_csrf_token_is_refused(client: TestClient, org: SalesOrg) -> None:
    login(client, "rita@topline.example", PASSWORD)

    page = client.post("/forecast/call", data={"commit": "1", "best_case": "1", "pipeline": "1"})

    assert page.status_code == 403


def test_the_page_reads_a_fixed_number_of_queries_whatever_the_team_size(
    client: TestClient, session: Session, org: SalesOrg
) -> None:
    team_projection(session, org)
    login(client, "maria@topline.example", PASSWORD)
    client.get("/forecast", params=AS_OF)
    with assert_max_queries(session, 40) as small:
        client.get("/forecast", params=AS_OF)
    for n in range(8):
        rep = make_user(session, manager=org.maria, name=f"Extra {n}")
        call(session, rep, rep, 1_000_00)
    with assert_max_queries(session, 40) as large:
        client.get("/forecast", params=AS_OF)

    assert len(large.statements) == len(small.statements)


def test_a_manager_adjusts_a_reports_number_from_their_row(
    client: TestClient, session: Session, org: SalesOrg
) -> None:
    login(client, "maria@topline.example", PASSWORD)
    page = client.get("/forecast")
    assert f'id="adjust-{org.ray.id}-commit"' in page.text
    assert f'id="adjust-{org.maria.id}-commit"' not in page.text  # her own call is the form above
    token = csrf_from(page.text)

    bad = client.post(
        "/forecast/call",
        data={"csrf_token": token, "user_id": str(org.ray.id), "commit": "9000",
              "best_case": "8000", "pipeline": "9000", "note": "Haircut"},
    )  # fmt: skip
    assert bad.status_code == 422
    assert f'id="adjust-{org.ray.id}-best_case-error"' in bad.text
    assert 'value="Haircut"' in bad.text
    assert '<details class="adjust" open>' in bad.text

    done = client.post(
        "/forecast/call",
        data={"csrf_token": token, "user_id": str(org.ray.id), "commit": "9000",
              "best_case": "12000", "pipeline": "30000", "note": "Haircut"},
        follow_redirects=False,
    )  # fmt: skip
    assert done.status_code == 303
    stored = session.scalars(select(ForecastSubmission)).one()
    assert (stored.user_id, stored.submitted_by_id, stored.commit_cents) == (
        org.ray.id,
        org.maria.id,
        9_000_00,
    )
    rows = table_rows(client.get("/forecast").text, "rollup")
    ray = next(row for row in rows if row[0].startswith("Ray"))
    assert ray[0] == "Ray Adjusted"
    assert ray[1:4] == ["$9,000", "$12,000", "$30,000"]


def test_nobody_adjusts_a_number_outside_their_reach(
    client: TestClient, session: Session, org: SalesOrg
) -> None:
    amounts = {"commit": "1", "best_case": "1", "pipeline": "1"}
    login(client, "rita@topline.example", PASSWORD)
    token = csrf_from(client.get("/forecast").text)
    assert 'id="adjust-' not in client.get("/forecast").text

    peer = client.post(
        "/forecast/call", data={"csrf_token": token, "user_id": str(org.ray.id), **amounts}
    )
    assert peer.status_code == 403

    client.post("/logout", data={"csrf_token": token})
    login(client, "maria@topline.example", PASSWORD)
    token = csrf_from(client.get("/forecast").text)
    other_team = client.post(
        "/forecast/call", data={"csrf_token": token, "user_id": str(org.olga.id), **amounts}
    )
    assert other_team.status_code == 404
    assert session.scalars(select(ForecastSubmission)).all() == []


def test_the_viewers_call_history_lists_own_calls_and_adjustments_newest_first(
    client: TestClient, session: Session, org: SalesOrg
) -> None:
    call(session, org.rita, org.rita, 30_000_00, day=12)
    call(session, org.rita, org.maria, 45_000_00, day=18)
    call(session, org.rita, org.rita, 99_000_00, day=25)  # after the day the page is read at
    login(client, "rita@topline.example", PASSWORD)

    rows = table_rows(client.get("/forecast", params=AS_OF).text, "call-history")

    assert [row[:3] for row in rows[1:]] == [
        ["Feb 18, 2025 12:00 UTC", "Maria (adjustment)", "$45,000"],
        ["Feb 12, 2025 12:00 UTC", "You", "$30,000"],
    ]


def test_the_quarters_moves_are_charted_once_two_days_are_kept(
    client: TestClient, session: Session, org: SalesOrg
) -> None:
    team_projection(session, org)
    login(client, "maria@topline.example", PASSWORD)
    one_day = client.get("/forecast", params=AS_OF).text
    session.add(
        ForecastSnapshot(
            scope_key=f"team:{org.maria.id}", scope_kind="team", scope_user_id=org.maria.id,
            period_start=Q1[0], period_end=Q1[1], method="projection",
            taken_on=date(2025, 2, 12), taken_at=datetime(2025, 2, 12, 5, 30, tzinfo=UTC),
            expected_cents=520_000_00, p10_cents=480_000_00, p90_cents=560_000_00,
            won_cents=0, open_deals=5,
        )
    )  # fmt: skip
    session.flush()

    two_days = client.get("/forecast", params=AS_OF).text

    assert 'id="history-chart"' not in one_day
    assert 'id="history-chart"' in two_days
    figure = json.loads(html.unescape(two_days.split('id="history-chart" data-figure="')[1]
                                      .split('"')[0]))  # fmt: skip
    by_name = {trace.get("name"): trace for trace in figure["data"]}
    assert by_name["Projection"]["x"] == ["2025-02-12", "2025-02-19"]
    assert by_name["Projection"]["y"] == [520_000, 540_000]
    assert by_name["Won so far"]["y"] == [0, 500_000]
    assert by_name["Forecast call"]["y"] == [None, 530_000]


def test_each_ended_quarter_shows_what_was_forecast_and_what_was_won(
    client: TestClient, session: Session, org: SalesOrg
) -> None:
    scope = f"team:{org.maria.id}"
    for method, cents in (("projection", 450_000_00), ("people", 600_000_00)):
        session.add(
            ForecastSnapshot(
                scope_key=scope, scope_kind="team", scope_user_id=org.maria.id,
                period_start=date(2025, 1, 1), period_end=date(2025, 4, 1), method=method,
                taken_on=date(2025, 1, 29), taken_at=datetime(2025, 1, 29, 5, tzinfo=UTC),
                expected_cents=cents, won_cents=0, open_deals=5,
                **({"p10_cents": 400_000_00, "p90_cents": 520_000_00} if method == "projection"
                   else {}),
            )
        )  # fmt: skip
    session.flush()
    login(client, "maria@topline.example", PASSWORD)

    rows = table_rows(client.get("/forecast", params={"as_of": "2025-04-10"}).text, "past-quarters")

    # Q1 won: Rita's 500,000; four weeks in, the projection said 450,000 (400,000–520,000).
    assert rows[1] == [
        "2025Q1",
        "4",
        "$500,000",
        "$450,000",
        "$400,000 – $520,000 inside",
        "$600,000",
    ]
