"""The pipelines API: everyone reads the stages in order; only admins define pipelines and edit
their stages."""

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
from topline.crm.pipelines import StageSpec, create_pipeline, list_stages

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


def _pipeline(api_as: ApiAs, org: SalesOrg) -> Json:
    return api_as(org.admin).get(f"{URL}/{org.pipeline.id}").json()  # type: ignore[no-any-return]


def _stage_id(pipeline: Json, name: str) -> int:
    return int(next(s["id"] for s in pipeline["stages"] if s["name"] == name))


def _stage_audit(session: Session, pipeline_id: int) -> list[AuditEntry]:
    return list(
        session.scalars(
            select(AuditEntry)
            .where(AuditEntry.entity_type == "pipeline", AuditEntry.entity_id == pipeline_id)
            .order_by(AuditEntry.id)
        )
    )


class TestStages:
    """Admins edit the stages of an existing pipeline; every write is audited on the pipeline
    with its stages before and after; a refusal changes nothing."""

    def test_an_admin_renames_a_stage_and_changes_its_probability(
        self, api_as: ApiAs, org: SalesOrg, session: Session
    ) -> None:
        stage_id = _stage_id(_pipeline(api_as, org), "Proposal")

        response = api_as(org.admin).patch(
            f"{URL}/{org.pipeline.id}/stages/{stage_id}",
            json={"name": "Proposal sent", "probability": 0.65},
        )

        assert response.status_code == 200, response.text
        assert response.json() == {
            "id": stage_id, "pipeline_id": org.pipeline.id, "name": "Proposal sent",
            "position": 4, "probability": 0.65, "type": "open",
        }  # fmt: skip
        [entry] = _stage_audit(session, org.pipeline.id)
        assert (entry.action, entry.actor_id) == ("update_stage", org.admin.id)
        assert entry.before is not None and entry.after is not None
        assert entry.before["stages"][3]["name"] == "Proposal"
        assert entry.after["stages"][3]["name"] == "Proposal sent"

    def test_an_empty_edit_changes_nothing_and_records_nothing(
        self, api_as: ApiAs, org: SalesOrg, session: Session
    ) -> None:
        stage_id = _stage_id(_pipeline(api_as, org), "Closed Won")

        response = api_as(org.admin).patch(f"{URL}/{org.pipeline.id}/stages/{stage_id}", json={})

        assert response.status_code == 200
        assert response.json()["name"] == "Closed Won"
        assert _stage_audit(session, org.pipeline.id) == []

    @pytest.mark.parametrize("field", ["name", "probability"])
    def test_a_null_is_refused_rather_than_read_as_no_change(
        self, api_as: ApiAs, org: SalesOrg, session: Session, field: str
    ) -> None:
        stage_id = _stage_id(_pipeline(api_as, org), "Proposal")

        response = api_as(org.admin).patch(
            f"{URL}/{org.pipeline.id}/stages/{stage_id}", json={field: None}
        )

        assert response.status_code == 422, response.text
        assert _stage_id(_pipeline(api_as, org), "Proposal") == stage_id
        assert _stage_audit(session, org.pipeline.id) == []

    def test_an_admin_adds_an_open_stage_at_a_position(
        self, api_as: ApiAs, org: SalesOrg, session: Session
    ) -> None:
        response = api_as(org.admin).post(
            f"{URL}/{org.pipeline.id}/stages",
            json={"name": "Demo", "probability": 0.5, "position": 2},
        )

        assert response.status_code == 201, response.text
        assert (response.json()["position"], response.json()["type"]) == (2, "open")
        names = [s["name"] for s in _pipeline(api_as, org)["stages"]]
        assert names[:3] == ["Prospecting", "Demo", "Qualification"]
        assert [s["position"] for s in _pipeline(api_as, org)["stages"]] == list(range(1, 9))
        [entry] = _stage_audit(session, org.pipeline.id)
        assert entry.action == "add_stage"
        assert entry.after is not None and len(entry.after["stages"]) == 8

    def test_an_admin_reorders_the_open_stages(
        self, api_as: ApiAs, org: SalesOrg, session: Session
    ) -> None:
        pipeline = _pipeline(api_as, org)
        opened = [s["id"] for s in pipeline["stages"] if s["type"] == "open"]

        response = api_as(org.admin).put(
            f"{URL}/{org.pipeline.id}/stage-order", json={"stage_ids": opened[::-1]}
        )

        assert response.status_code == 200, response.text
        assert [s["id"] for s in response.json()["stages"]][:5] == opened[::-1]
        assert [s["type"] for s in response.json()["stages"]][5:] == ["won", "lost"]
        [entry] = _stage_audit(session, org.pipeline.id)
        assert entry.action == "reorder_stages"

    def test_an_admin_deletes_an_empty_open_stage(
        self, api_as: ApiAs, org: SalesOrg, session: Session
    ) -> None:
        stage_id = _stage_id(_pipeline(api_as, org), "Qualification")

        response = api_as(org.admin).delete(f"{URL}/{org.pipeline.id}/stages/{stage_id}")

        assert response.status_code == 204
        assert response.content == b""
        assert [s["position"] for s in _pipeline(api_as, org)["stages"]] == list(range(1, 7))
        [entry] = _stage_audit(session, org.pipeline.id)
        assert entry.action == "delete_stage"
        gone = api_as(org.admin).patch(f"{URL}/{org.pipeline.id}/stages/{stage_id}", json={})
        assert gone.status_code == 404

    def test_a_stage_holding_deals_is_not_deleted(
        self, api_as: ApiAs, org: SalesOrg, session: Session
    ) -> None:
        before = _pipeline(api_as, org)
        stage_id = _stage_id(before, "Proposal")

        response = api_as(org.admin).delete(f"{URL}/{org.pipeline.id}/stages/{stage_id}")

        assert response.status_code == 409
        error = response.json()["error"]
        assert error["code"] == "stage_in_use"
        assert "move its 2 deals to another stage first" in error["message"]
        assert error["details"] == {"deals": 2}
        assert _pipeline(api_as, org) == before
        assert _stage_audit(session, org.pipeline.id) == []

    @pytest.mark.parametrize(
        ("method", "path", "body", "code", "field"),
        [
            ("patch", "stages/{proposal}", {"name": "negotiation"}, "conflict", "name"),
            ("post", "stages", {"name": "Legal", "probability": 0.9, "position": 7},
             "invalid_stage_change", "position"),
            ("post", "stages", {"name": "CLOSED WON", "probability": 0.9}, "conflict", "name"),
            ("put", "stage-order", {"stage_ids": ["{proposal}"]}, "invalid_stage_change",
             "stage_ids"),
            ("delete", "stages/{won}", None, "invalid_stage_change", None),
        ],
    )  # fmt: skip
    def test_refusals_are_409_and_change_nothing(
        self,
        api_as: ApiAs,
        org: SalesOrg,
        session: Session,
        method: str,
        path: str,
        body: Json | None,
        code: str,
        field: str | None,
    ) -> None:
        before = _pipeline(api_as, org)
        ids = {"proposal": _stage_id(before, "Proposal"), "won": _stage_id(before, "Closed Won")}
        if body and "stage_ids" in body:
            body = {"stage_ids": [ids["proposal"]]}
        url = f"{URL}/{org.pipeline.id}/{path.format(**ids)}"
        kwargs = {} if body is None else {"json": body}

        response = getattr(api_as(org.admin), method)(url, **kwargs)

        assert response.status_code == 409, response.text
        error = response.json()["error"]
        assert error["code"] == code
        assert error["details"].get("field") == field
        assert _pipeline(api_as, org) == before
        assert _stage_audit(session, org.pipeline.id) == []

    @pytest.mark.parametrize("who", ["maria", "rita"])
    def test_only_admins_edit_stages(
        self, api_as: ApiAs, org: SalesOrg, session: Session, who: str
    ) -> None:
        before = _pipeline(api_as, org)
        stage_id = _stage_id(before, "Qualification")
        opened = [s["id"] for s in before["stages"] if s["type"] == "open"]
        client = api_as(getattr(org, who))
        base = f"{URL}/{org.pipeline.id}"

        codes = [
            client.patch(f"{base}/stages/{stage_id}", json={"name": "Qual"}).status_code,
            client.post(f"{base}/stages", json={"name": "Demo", "probability": 0.5}).status_code,
            client.put(f"{base}/stage-order", json={"stage_ids": opened[::-1]}).status_code,
            client.delete(f"{base}/stages/{stage_id}").status_code,
        ]

        assert codes == [403] * 4
        assert _pipeline(api_as, org) == before
        assert _stage_audit(session, org.pipeline.id) == []

    def test_unknown_pipelines_and_stages_of_another_pipeline_are_404(
        self, api_as: ApiAs, org: SalesOrg, session: Session
    ) -> None:
        other = create_pipeline(session, name="Upsell")
        foreign = next(s.id for s in list_stages(session, other.id))
        client = api_as(org.admin)
        base = f"{URL}/{org.pipeline.id}"
        missing = f"{URL}/{2**52}"

        codes = [
            client.patch(f"{base}/stages/{foreign}", json={"name": "X"}).status_code,
            client.delete(f"{base}/stages/{foreign}").status_code,
            client.patch(f"{base}/stages/{2**52}", json={"name": "X"}).status_code,
            client.post(f"{missing}/stages", json={"name": "X", "probability": 0.1}).status_code,
            client.put(f"{missing}/stage-order", json={"stage_ids": [foreign]}).status_code,
            client.delete(f"{missing}/stages/{foreign}").status_code,
        ]

        assert codes == [404] * 6
        assert len(list_stages(session, other.id)) == 7

    @pytest.mark.parametrize(
        ("method", "path", "body", "field"),
        [
            ("patch", "stages/{stage}", {"name": ""}, "name"),
            ("patch", "stages/{stage}", {"name": "n" * 101}, "name"),
            ("patch", "stages/{stage}", {"probability": 1.01}, "probability"),
            ("patch", "stages/{stage}", {"probability": "0.5"}, "probability"),
            ("patch", "stages/{stage}", {"type": "won"}, "type"),
            ("post", "stages", {"name": "Demo"}, "probability"),
            ("post", "stages", {"name": "Demo", "probability": 0.5, "position": 0}, "position"),
            ("post", "stages", {"name": "Demo", "probability": 0.5, "position": 2.5}, "position"),
            ("put", "stage-order", {"stage_ids": []}, "stage_ids"),
            ("put", "stage-order", {"stage_ids": [0]}, "stage_ids"),
        ],
    )
    def test_bad_input_is_422_naming_the_field(
        self,
        api_as: ApiAs,
        org: SalesOrg,
        session: Session,
        method: str,
        path: str,
        body: Json,
        field: str,
    ) -> None:
        before = _pipeline(api_as, org)
        url = f"{URL}/{org.pipeline.id}/{path.format(stage=_stage_id(before, 'Proposal'))}"

        response = getattr(api_as(org.admin), method)(url, json=body)

        assert response.status_code == 422, response.text
        assert field in response.text
        assert _pipeline(api_as, org) == before
