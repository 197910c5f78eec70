"""The pipelines API: everyone reads the stages in order; only admins define pipelines."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import SalesOrg
from topline.audit.models import AuditEntry
from topline.auth.models import User
from topline.crm.enums import StageType
from topline.crm.models import Pipeline
from topline.crm.pipelines import StageSpec, create_pipeline

ApiAs = Callable[[User], TestClient]
Json = dict[str, Any]
URL = "/api/v1/pipelines"
DEFAULT_STAGES = [
    ("Prospecting", 0.1, "open"),
    ("Qualification", 0.2, "open"),
    ("Discovery", 0.4, "open"),
    ("Proposal", 0.6, "open"),
    ("Negotiation", 0.8, "open"),
    ("Closed Won", 1.0, "won"),
    ("Closed Lost", 0.0, "lost"),
]
RENEWAL = {
    "name": "Renewals",
    "stages": [
        {"name": "Notice", "probability": 0.5},
        {"name": "Renewed", "probability": 1, "type": "won"},
        {"name": "Churned", "probability": 0, "type": "lost"},
    ],
}


def stages(pipeline: Json) -> list[tuple[str, float, str]]:
    return [(s["name"], s["probability"], s["type"]) for s in pipeline["stages"]]


class TestRead:
    def test_everyone_reads_every_pipeline_with_stages_in_order(
        self, api_as: ApiAs, org: SalesOrg, session: Session
    ) -> None:
        upsell = create_pipeline(
            session,
            name="Upsell",
            stages=[
                StageSpec("Pitch", 0.3),
                StageSpec("Won", 1.0, StageType.WON),
                StageSpec("Lost", 0.0, StageType.LOST),
            ],
        )
        response = api_as(org.rita).get(URL)
        assert response.status_code == 200, response.text
        listed = response.json()
        assert [(p["name"], p["is_default"]) for p in listed] == [
            ("New Business", True), ("Upsell", False),
        ]  # fmt: skip
        assert stages(listed[0]) == DEFAULT_STAGES
        assert [s["position"] for s in listed[1]["stages"]] == [1, 2, 3]
        one = api_as(org.olga).get(f"{URL}/{upsell.id}")
        assert one.status_code == 200
        assert stages(one.json()) == [("Pitch", 0.3, "open"), ("Won", 1.0, "won"),
                                      ("Lost", 0.0, "lost")]  # fmt: skip

    @pytest.mark.parametrize(("path", "status"), [(str(2**52), 404), (str(2**63), 422), ("0", 422)])
    def test_unknown_or_out_of_range_ids(
        self, api_as: ApiAs, org: SalesOrg, path: str, status: int
    ) -> None:
        response = api_as(org.rita).get(f"{URL}/{path}")
        assert response.status_code == status, response.text

    def test_reading_needs_a_token(self, make_client: Callable[..., TestClient]) -> None:
        assert make_client().get(URL).status_code == 401


class TestCreate:
    def test_admin_defines_a_pipeline_and_it_is_audited(
        self, api_as: ApiAs, org: SalesOrg, session: Session
    ) -> None:
        response = api_as(org.admin).post(URL, json=RENEWAL)
        assert response.status_code == 201, response.text
        created = response.json()
        assert (created["name"], created["is_default"]) == ("Renewals", False)
        assert stages(created) == [
            ("Notice", 0.5, "open"), ("Renewed", 1.0, "won"), ("Churned", 0.0, "lost"),
        ]  # fmt: skip
        assert [s["pipeline_id"] for s in created["stages"]] == [created["id"]] * 3
        entry = session.scalars(
            select(AuditEntry).where(
                AuditEntry.entity_type == "pipeline", AuditEntry.entity_id == created["id"]
            )
        ).one()
        assert (entry.action, entry.actor_id) == ("create", org.admin.id)
        assert entry.after is not None and len(entry.after["stages"]) == 3
        assert api_as(org.ray).get(f"{URL}/{created['id']}").json() == created

    @pytest.mark.parametrize("who", ["maria", "rita"])
    def test_only_admins_define_pipelines(
        self, api_as: ApiAs, org: SalesOrg, session: Session, who: str
    ) -> None:
        assert api_as(getattr(org, who)).post(URL, json=RENEWAL).status_code == 403
        assert session.scalar(select(func.count()).select_from(Pipeline)) == 1

    def test_duplicate_name_is_409(self, api_as: ApiAs, org: SalesOrg) -> None:
        response = api_as(org.admin).post(URL, json={**RENEWAL, "name": " New Business "})
        assert response.status_code == 409
        assert response.json()["error"]["details"] == {"field": "name"}

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"name": ""}, "name"),
            ({"name": "n" * 101}, "name"),
            ({"name": "Re\x00new"}, "name"),
            ({"is_default": True}, "is_default"),
            ({"stages": []}, "stages"),
        ],
    )
    def test_bad_definition_is_422_naming_the_field_and_writes_nothing(
        self, api_as: ApiAs, org: SalesOrg, session: Session, change: Json, field: str
    ) -> None:
        response = api_as(org.admin).post(URL, json={**RENEWAL, **change})
        assert response.status_code == 422, response.text
        assert field in response.text
        assert session.scalar(select(func.count()).select_from(Pipeline)) == 1

    @pytest.mark.parametrize(
        ("last", "problem"),
        [
            ({"name": "Lost", "probability": 1.5, "type": "lost"}, "probability"),
            ({"name": "Lost", "probability": "0", "type": "lost"}, "probability"),
            ({"name": "Lost", "probability": 0, "type": "gone"}, "type"),
            ({"name": "Lost", "probability": 0, "type": "lost", "colour": 1}, "colour"),
            ({"name": "Lost", "probability": 0}, "lost stage"),
        ],
    )
    def test_bad_stage_is_422_naming_the_problem_and_writes_nothing(
        self, api_as: ApiAs, org: SalesOrg, session: Session, last: Json, problem: str
    ) -> None:
        body = {"name": "Renewals", "stages": [*RENEWAL["stages"][:2], last]}
        response = api_as(org.admin).post(URL, json=body)
        assert response.status_code == 422, response.text
        assert problem in response.text
        assert session.scalar(select(func.count()).select_from(Pipeline)) == 1

    def test_two_stages_of_one_name_is_409_and_writes_nothing(
        self, api_as: ApiAs, org: SalesOrg, session: Session
    ) -> None:
        # A well-formed definition whose stage names clash: the schema cannot say "unique".
        twin = {"name": "Notice", "probability": 0, "type": "lost"}
        body = {"name": "Renewals", "stages": [*RENEWAL["stages"][:2], twin]}
        response = api_as(org.admin).post(URL, json=body)
        assert response.status_code == 409, response.text
        error = response.json()["error"]
        assert error["code"] == "conflict"
        assert error["message"] == "stages: two stages of a pipeline cannot share a name"
        assert session.scalar(select(func.count()).select_from(Pipeline)) == 1
