"""The admin pages: people and the reporting line, teams, pipelines, quotas, API tokens and the
audit log, each behind the access rule, each write checked and audited as the API's is."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tests.conftest import PASSWORD
from tests.databases import fresh_engine
from tests.factories import SalesOrg, make_pipeline, make_user, stage_named
from tests.helpers import serving
from tests.web.helpers import assert_max_queries, csrf_from, login, table_rows
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS, assert_accessible, require_chromium
from topline.audit.models import AuditEntry
from topline.audit.service import record_audit
from topline.auth.enums import Role
from topline.auth.models import ApiToken, Team, User
from topline.auth.passwords import hash_password
from topline.auth.service import create_team
from topline.config import Settings
from topline.crm.models import Pipeline
from topline.crm.pipelines import list_stages
from topline.quotas.models import Quota
from topline.quotas.service import set_quota
from topline.storage.migrate import upgrade_database
from topline.web.app import create_app


def post(client: TestClient, path: str, page: str, **fields: str) -> Response:
    """Post a form of `page` as a browser would: with the CSRF token the page rendered."""
    data = {"csrf_token": csrf_from(client.get(page).text), **fields}
    return cast(Response, client.post(path, data=data, follow_redirects=False))


def field_value(html: str, field_id: str) -> str:
    """The value an input of the page shows."""
    match = re.search(rf'<input id="{field_id}"[^>]*value="([^"]*)"', html)
    assert match, f"no input #{field_id}"
    return match.group(1)


def selected(html: str, field_id: str) -> str:
    """The value of the selected option of a select of the page."""
    select_html = re.search(rf'<select id="{field_id}".*?</select>', html, re.S)
    assert select_html, f"no select #{field_id}"
    match = re.search(r'<option value="([^"]*)" selected>', select_html.group(0))
    return match.group(1) if match else ""


def field_error(html: str, field_id: str) -> str:
    match = re.search(rf'<p class="field__error" id="{field_id}-error">([^<]*)</p>', html)
    assert match, f"no error under #{field_id}"
    return match.group(1)


def audit_log(session: Session, entity: str) -> list[AuditEntry]:
    return list(
        session.scalars(
            select(AuditEntry).where(AuditEntry.entity_type == entity).order_by(AuditEntry.id)
        )
    )


class TestAccess:
    @pytest.mark.parametrize(
        "path",
        ["/admin", "/admin/users", "/admin/teams", "/admin/pipelines", "/admin/quotas",
         "/admin/audit"],
    )  # fmt: skip
    def test_reps_are_refused_every_admin_page(
        self, client: TestClient, org: SalesOrg, path: str
    ) -> None:
        login(client, "rita@topline.example", PASSWORD)

        assert client.get(path).status_code == 403

    def test_reps_manage_their_own_tokens(self, client: TestClient, org: SalesOrg) -> None:
        login(client, "rita@topline.example", PASSWORD)

        page = client.get("/settings/tokens")

        assert page.status_code == 200
        assert "No token yet" in page.text

    def test_the_index_offers_each_role_its_sections(
        self, client: TestClient, make_client: Callable[..., TestClient], org: SalesOrg
    ) -> None:
        login(client, "ada@topline.example", PASSWORD)
        manager = make_client()
        login(manager, "maria@topline.example", PASSWORD)

        admin_page = client.get("/admin").text
        manager_page = manager.get("/admin").text

        for path in ("/admin/users", "/admin/teams", "/admin/pipelines", "/admin/quotas",
                     "/admin/audit", "/settings/tokens"):  # fmt: skip
            assert f'href="{path}"' in admin_page
            assert f'href="{path}"' in manager_page
        assert "read-only" in manager_page

    def test_a_manager_sees_their_subtree_read_only(
        self, client: TestClient, org: SalesOrg
    ) -> None:
        login(client, "maria@topline.example", PASSWORD)

        page = client.get("/admin/users")
        names = [row[0] for row in table_rows(page.text, "people")[1:]]

        assert names == ["Maria", "Ray", "Rita"]
        assert "Add a person" not in page.text
        assert client.get(f"/admin/users/{org.olga.id}").status_code == 404
        assert "Change role" not in client.get(f"/admin/users/{org.rita.id}").text
        refused = post(client, "/admin/users", "/admin/users", name="X", email="x@example.com",
                       role="rep")  # fmt: skip
        assert refused.status_code == 403


class TestPeople:
    def test_an_admin_adds_a_person_who_can_sign_in(
        self,
        client: TestClient,
        make_client: Callable[..., TestClient],
        session: Session,
        org: SalesOrg,
    ) -> None:
        team = create_team(session, name="Enterprise", manager=org.maria)
        login(client, "ada@topline.example", PASSWORD)

        added = post(
            client, "/admin/users", "/admin/users", name="Nina New", email="Nina@Topline.example",
            role="rep", manager_id=str(org.maria.id), team_id=str(team.id),
            password="a-long-password",
        )  # fmt: skip

        assert added.status_code == 303
        nina = session.scalar(select(User).where(User.email == "nina@topline.example"))
        assert nina is not None
        assert (nina.name, nina.role, nina.manager_id, nina.team_id) == (
            "Nina New", Role.REP, org.maria.id, team.id,
        )  # fmt: skip
        assert "Nina New was added" in client.get(added.headers["location"]).text
        [entry] = audit_log(session, "user")
        assert (entry.actor_id, entry.action, entry.entity_id) == (org.admin.id, "create", nina.id)
        assert entry.after is not None and "password" not in str(entry.after)
        newcomer = make_client()
        assert login(newcomer, "nina@topline.example", "a-long-password").status_code == 303

    def test_a_taken_email_is_refused_by_the_field_keeping_what_was_typed(
        self, client: TestClient, session: Session, org: SalesOrg
    ) -> None:
        login(client, "ada@topline.example", PASSWORD)

        refused = post(
            client, "/admin/users", "/admin/users", name="Second Rita",
            email="rita@topline.example", role="manager", manager_id=str(org.otto.id),
            password="a-long-password",
        )  # fmt: skip

        assert refused.status_code == 409
        assert "already exists" in field_error(refused.text, "new-email")
        assert field_value(refused.text, "new-name") == "Second Rita"
        assert field_value(refused.text, "new-email") == "rita@topline.example"
        assert selected(refused.text, "new-role") == "manager"
        assert selected(refused.text, "new-manager") == str(org.otto.id)
        assert "type it again" in field_error(refused.text, "new-password")
        assert audit_log(session, "user") == []

    def test_a_bad_email_and_short_password_are_refused_by_their_fields(
        self, client: TestClient, org: SalesOrg
    ) -> None:
        login(client, "ada@topline.example", PASSWORD)

        refused = post(client, "/admin/users", "/admin/users", name="Bo", email="not-an-email",
                       role="rep", password="short")  # fmt: skip

        assert refused.status_code == 422
        assert "email address" in field_error(refused.text, "new-email")
        assert "8 to 1,024" in field_error(refused.text, "new-password")
        assert field_value(refused.text, "new-name") == "Bo"

    def test_an_admin_moves_a_rep_to_another_manager(
        self, client: TestClient, session: Session, org: SalesOrg
    ) -> None:
        login(client, "ada@topline.example", PASSWORD)
        page = client.get(f"/admin/users/{org.ray.id}").text

        moved = post(
            client, f"/admin/users/{org.ray.id}", f"/admin/users/{org.ray.id}", name="Ray",
            role="rep", manager_id=str(org.otto.id), team_id="", active="true",
            version=_version(page),
        )  # fmt: skip

        assert moved.status_code == 303
        session.refresh(org.ray)
        assert org.ray.manager_id == org.otto.id
        [entry] = audit_log(session, "user")
        assert (entry.action, entry.before, entry.after) == (
            "update", {"manager_id": org.maria.id, "version": 1},
            {"manager_id": org.otto.id, "version": 2},
        )  # fmt: skip

    def test_a_circular_reporting_line_is_refused_by_the_field(
        self, client: TestClient, session: Session, org: SalesOrg
    ) -> None:
        mo = make_user(session, role=Role.MANAGER, manager=org.maria, name="Mo")
        login(client, "ada@topline.example", PASSWORD)
        page = client.get(f"/admin/users/{org.maria.id}").text

        refused = post(
            client, f"/admin/users/{org.maria.id}", f"/admin/users/{org.maria.id}",
            name="Maria Renamed", role="manager", manager_id=str(mo.id), active="true",
            version=_version(page),
        )  # fmt: skip

        assert refused.status_code == 409
        assert "round in a circle" in field_error(refused.text, "edit-manager")
        assert selected(refused.text, "edit-manager") == str(mo.id)
        assert field_value(refused.text, "edit-name") == "Maria Renamed"
        session.refresh(org.maria)
        assert (org.maria.name, org.maria.manager_id) == ("Maria", None)
        assert audit_log(session, "user") == []

    def test_an_edit_on_a_stale_form_is_refused_then_saved_on_purpose(
        self, client: TestClient, session: Session, org: SalesOrg
    ) -> None:
        login(client, "ada@topline.example", PASSWORD)
        page = client.get(f"/admin/users/{org.ray.id}").text
        org.ray.name = "Raymond"  # someone else's edit, made after the form was opened
        session.flush()
        typed = {"name": "Ray", "role": "rep", "manager_id": str(org.otto.id), "active": "true"}

        stale = post(client, f"/admin/users/{org.ray.id}", f"/admin/users/{org.ray.id}",
                     version=_version(page), **typed)  # fmt: skip

        assert stale.status_code == 409
        assert "Someone changed this person" in stale.text
        assert selected(stale.text, "edit-manager") == str(org.otto.id)
        session.refresh(org.ray)
        assert (org.ray.name, org.ray.manager_id) == ("Raymond", org.maria.id)
        again = post(client, f"/admin/users/{org.ray.id}", f"/admin/users/{org.ray.id}",
                     version=_version(stale.text), **typed)  # fmt: skip
        assert again.status_code == 303
        session.refresh(org.ray)
        assert (org.ray.name, org.ray.manager_id) == ("Ray", org.otto.id)

    def test_the_list_searches_and_makes_no_query_per_row(
        self, client: TestClient, session: Session, org: SalesOrg
    ) -> None:
        team = create_team(session, name="Inside Sales", manager=org.maria)
        for n in range(60):
            make_user(session, manager=org.maria, name=f"Rep {n:02}", team_id=team.id)
        login(client, "ada@topline.example", PASSWORD)

        with assert_max_queries(session, 7):
            page = client.get("/admin/users")
        found = client.get("/admin/users", params={"q": "rep 07"})

        rows = table_rows(page.text, "people")
        assert len(rows) == 51
        assert 'rel="next"' in page.text
        assert [row[0] for row in table_rows(found.text, "people")[1:]] == ["Rep 07"]
        assert table_rows(found.text, "people")[1][3:5] == ["Maria", "Inside Sales"]


class TestTeams:
    def test_an_admin_adds_and_renames_a_team(
        self, client: TestClient, session: Session, org: SalesOrg
    ) -> None:
        login(client, "ada@topline.example", PASSWORD)

        added = post(client, "/admin/teams", "/admin/teams", name="EMEA",
                     manager_id=str(org.otto.id))  # fmt: skip
        team = session.scalar(select(Team).where(Team.name == "EMEA"))
        assert added.status_code == 303 and team is not None
        page = client.get(f"/admin/teams/{team.id}").text
        path = f"/admin/teams/{team.id}"
        renamed = post(client, path, path, name="EMEA North", manager_id=str(org.otto.id),
                       version=_version(page))  # fmt: skip

        assert renamed.status_code == 303
        assert table_rows(client.get("/admin/teams").text, "teams")[1][:2] == ["EMEA North", "Otto"]
        assert [entry.action for entry in audit_log(session, "team")] == ["create", "update"]

    def test_a_taken_name_and_a_rep_leader_are_refused(
        self, client: TestClient, session: Session, org: SalesOrg
    ) -> None:
        create_team(session, name="EMEA")
        login(client, "ada@topline.example", PASSWORD)

        taken = post(client, "/admin/teams", "/admin/teams", name="EMEA")
        rep_leads = post(client, "/admin/teams", "/admin/teams", name="APAC",
                         manager_id=str(org.rita.id))  # fmt: skip

        assert taken.status_code == 409
        assert "already exists" in field_error(taken.text, "new-team-name")
        assert rep_leads.status_code == 409
        assert "cannot lead a team" in field_error(rep_leads.text, "new-team-leader")
        assert field_value(rep_leads.text, "new-team-name") == "APAC"

    def test_the_list_makes_no_query_per_team(
        self, client: TestClient, session: Session, org: SalesOrg
    ) -> None:
        parent = create_team(session, name="Americas", manager=org.maria)
        for n in range(30):
            create_team(session, name=f"Team {n:02}", manager=org.otto, parent=parent)
        login(client, "maria@topline.example", PASSWORD)

        with assert_max_queries(session, 4):
            page = client.get("/admin/teams")

        rows = table_rows(page.text, "teams")
        assert len(rows) == 32
        assert rows[2][:3] == ["Team 00", "Otto", "Americas"]
        assert "Add a team" not in page.text


class TestPipelines:
    def test_pipelines_show_their_stages_in_order(
        self, client: TestClient, session: Session, org: SalesOrg
    ) -> None:
        login(client, "maria@topline.example", PASSWORD)

        with assert_max_queries(session, 4):
            page = client.get("/admin/pipelines")

        rows = table_rows(page.text, f"pipeline-{org.pipeline.id}")
        assert rows[1] == ["1", "Prospecting", "Open", "10%", "1"]
        assert rows[-1][:3] == ["7", "Closed Lost", "Lost"]
        assert "Define a pipeline" not in page.text

    def test_an_admin_defines_a_pipeline(
        self, client: TestClient, session: Session, org: SalesOrg
    ) -> None:
        login(client, "ada@topline.example", PASSWORD)
        rows = {
            "stage-0-name": "Demo", "stage-0-probability": "30", "stage-0-type": "open",
            "stage-1-name": "Signed", "stage-1-probability": "100", "stage-1-type": "won",
            "stage-2-name": "Gone", "stage-2-probability": "0", "stage-2-type": "lost",
        }  # fmt: skip

        added = post(client, "/admin/pipelines", "/admin/pipelines", name="Renewals", **rows)

        assert added.status_code == 303
        pipeline = session.scalar(select(Pipeline).where(Pipeline.name == "Renewals"))
        assert pipeline is not None
        [entry] = audit_log(session, "pipeline")
        assert (entry.action, entry.entity_id) == ("create", pipeline.id)
        assert entry.after is not None and len(entry.after["stages"]) == 3

    def test_a_pipeline_without_a_won_stage_is_refused_keeping_the_rows(
        self, client: TestClient, session: Session, org: SalesOrg
    ) -> None:
        login(client, "ada@topline.example", PASSWORD)

        refused = post(
            client, "/admin/pipelines", "/admin/pipelines", name="Odd",
            **{"stage-0-name": "Talk", "stage-0-probability": "lots", "stage-1-name": "Done",
               "stage-1-probability": "50", "stage-1-type": "open"},
        )  # fmt: skip

        assert refused.status_code == 422
        assert "percentage" in field_error(refused.text, "stage-0-probability")
        assert field_value(refused.text, "stage-0-probability") == "lots"
        assert field_value(refused.text, "stage-1-name") == "Done"
        assert session.scalar(select(Pipeline).where(Pipeline.name == "Odd")) is None


class TestPipelineStages:
    """Admins edit the stages of a pipeline from its table; managers only read it."""

    @staticmethod
    def stages(session: Session, pipeline: Pipeline) -> list[tuple[int, str, float]]:
        session.expire_all()
        return [(s.position, s.name, s.probability) for s in list_stages(session, pipeline.id)]

    def test_an_admin_renames_a_stage_and_changes_its_probability(
        self, client: TestClient, session: Session, org: SalesOrg
    ) -> None:
        login(client, "ada@topline.example", PASSWORD)
        stage = stage_named(session, org.pipeline, "Proposal")
        page = client.get("/admin/pipelines").text
        assert field_value(page, f"edit-{stage.id}-name") == "Proposal"
        assert field_value(page, f"edit-{stage.id}-probability") == "60"

        saved = post(
            client, f"/admin/pipelines/{org.pipeline.id}/stages/{stage.id}", "/admin/pipelines",
            **{f"edit-{stage.id}-name": "Proposal sent", f"edit-{stage.id}-probability": "65%"},
        )  # fmt: skip

        assert saved.status_code == 303
        assert (4, "Proposal sent", 0.65) in self.stages(session, org.pipeline)
        assert "The stages of New Business are saved" in client.get(saved.headers["location"]).text
        [entry] = audit_log(session, "pipeline")
        assert (entry.action, entry.entity_id) == ("update_stage", org.pipeline.id)

    def test_a_taken_name_and_a_bad_percentage_are_refused_keeping_what_was_typed(
        self, client: TestClient, session: Session, org: SalesOrg
    ) -> None:
        login(client, "ada@topline.example", PASSWORD)
        stage = stage_named(session, org.pipeline, "Proposal")
        path = f"/admin/pipelines/{org.pipeline.id}/stages/{stage.id}"
        before = self.stages(session, org.pipeline)

        name, percent = f"edit-{stage.id}-name", f"edit-{stage.id}-probability"

        taken = post(client, path, "/admin/pipelines", **{name: "discovery", percent: "60"})
        bad = post(client, path, "/admin/pipelines", **{name: "Offer", percent: "lots"})

        assert taken.status_code == 409
        assert "already has a stage called" in field_error(taken.text, name)
        assert field_value(taken.text, name) == "discovery"
        assert bad.status_code == 422
        assert "percentage" in field_error(bad.text, percent)
        assert field_value(bad.text, name) == "Offer"
        assert self.stages(session, org.pipeline) == before
        assert audit_log(session, "pipeline") == []

    def test_an_admin_moves_open_stages_up_and_down(
        self, client: TestClient, session: Session, org: SalesOrg
    ) -> None:
        login(client, "ada@topline.example", PASSWORD)
        proposal = stage_named(session, org.pipeline, "Proposal")
        base = f"/admin/pipelines/{org.pipeline.id}/stages/{proposal.id}/move"

        up = post(client, base, "/admin/pipelines", direction="up")
        assert up.status_code == 303
        assert [name for _, name, _ in self.stages(session, org.pipeline)][2:4] == [
            "Proposal", "Discovery",
        ]  # fmt: skip
        negotiation = stage_named(session, org.pipeline, "Negotiation")
        last = post(client, f"/admin/pipelines/{org.pipeline.id}/stages/{negotiation.id}/move",
                    "/admin/pipelines", direction="down")  # fmt: skip
        won = stage_named(session, org.pipeline, "Closed Won")
        closed = post(client, f"/admin/pipelines/{org.pipeline.id}/stages/{won.id}/move",
                      "/admin/pipelines", direction="up")  # fmt: skip

        assert last.status_code == 303  # already the last open stage: nothing to do
        assert closed.status_code == 409
        assert "Only an open stage moves" in closed.text
        names = [name for _, name, _ in self.stages(session, org.pipeline)]
        assert names[4:] == ["Negotiation", "Closed Won", "Closed Lost"]
        assert [entry.action for entry in audit_log(session, "pipeline")] == ["reorder_stages"]

    def test_an_admin_adds_an_open_stage_at_the_place_picked(
        self, client: TestClient, session: Session, org: SalesOrg
    ) -> None:
        login(client, "ada@topline.example", PASSWORD)
        prefix = f"add-{org.pipeline.id}"
        page = client.get("/admin/pipelines").text
        assert selected(page, f"{prefix}-position") == "6"

        added = post(client, f"/admin/pipelines/{org.pipeline.id}/stages", "/admin/pipelines",
                     **{f"{prefix}-name": "Demo", f"{prefix}-probability": "50",
                        f"{prefix}-position": "3"})  # fmt: skip
        blank = post(client, f"/admin/pipelines/{org.pipeline.id}/stages", "/admin/pipelines",
                     **{f"{prefix}-name": " ", f"{prefix}-probability": "150",
                        f"{prefix}-position": "2"})  # fmt: skip

        assert added.status_code == 303
        assert (3, "Demo", 0.5) in self.stages(session, org.pipeline)
        assert [p for p, _, _ in self.stages(session, org.pipeline)] == list(range(1, 9))
        assert blank.status_code == 422
        assert "name" in field_error(blank.text, f"{prefix}-name")
        assert "percentage" in field_error(blank.text, f"{prefix}-probability")
        assert field_value(blank.text, f"{prefix}-probability") == "150"
        assert selected(blank.text, f"{prefix}-position") == "2"
        assert [entry.action for entry in audit_log(session, "pipeline")] == ["add_stage"]

    def test_an_admin_deletes_an_empty_stage_but_not_one_holding_deals(
        self, client: TestClient, session: Session, org: SalesOrg
    ) -> None:
        login(client, "ada@topline.example", PASSWORD)
        empty = stage_named(session, org.pipeline, "Qualification")
        used = stage_named(session, org.pipeline, "Proposal")

        deleted = post(client, f"/admin/pipelines/{org.pipeline.id}/stages/{empty.id}/delete",
                       "/admin/pipelines")  # fmt: skip
        refused = post(client, f"/admin/pipelines/{org.pipeline.id}/stages/{used.id}/delete",
                       "/admin/pipelines")  # fmt: skip

        assert deleted.status_code == 303
        assert refused.status_code == 409
        assert "move its 2 deals to another stage first" in refused.text
        names = [name for _, name, _ in self.stages(session, org.pipeline)]
        assert "Qualification" not in names and "Proposal" in names
        assert [entry.action for entry in audit_log(session, "pipeline")] == ["delete_stage"]

    def test_managers_read_the_stages_and_cannot_change_them(
        self, client: TestClient, session: Session, org: SalesOrg
    ) -> None:
        login(client, "maria@topline.example", PASSWORD)
        stage = stage_named(session, org.pipeline, "Qualification")
        before = self.stages(session, org.pipeline)

        page = client.get("/admin/pipelines").text
        refused = [
            post(client, f"/admin/pipelines/{org.pipeline.id}/stages/{stage.id}",
                 "/admin/pipelines", **{f"edit-{stage.id}-name": "Qual"}).status_code,
            post(client, f"/admin/pipelines/{org.pipeline.id}/stages/{stage.id}/delete",
                 "/admin/pipelines").status_code,
            post(client, f"/admin/pipelines/{org.pipeline.id}/stages/{stage.id}/move",
                 "/admin/pipelines", direction="up").status_code,
            post(client, f"/admin/pipelines/{org.pipeline.id}/stages", "/admin/pipelines",
                 **{f"add-{org.pipeline.id}-name": "Demo"}).status_code,
        ]  # fmt: skip

        assert f'id="edit-{stage.id}-name"' not in page
        assert "Add an open stage" not in page
        assert "Only admins change them" in page
        assert refused == [403] * 4
        assert self.stages(session, org.pipeline) == before

    def test_the_admin_view_makes_no_query_per_stage(
        self, client: TestClient, session: Session, org: SalesOrg
    ) -> None:
        for n in range(5):
            make_pipeline(session, name=f"Extra {n}")
        login(client, "ada@topline.example", PASSWORD)

        with assert_max_queries(session, 4):
            page = client.get("/admin/pipelines")

        assert page.status_code == 200
        assert page.text.count("Add the stage") == 6

    @pytest.mark.browser
    def test_a_refused_stage_edit_passes_the_accessibility_checks(self, tmp_path: Path) -> None:
        """In a real browser, a rename to a taken name is refused next to the field, with no
        serious WCAG 2 A/AA violation, and a move up is saved."""
        require_chromium()
        from playwright.sync_api import expect

        engine = fresh_engine("sqlite", tmp_path, "stages-browser")
        upgrade_database(engine)
        with Session(engine) as session:
            make_user(session, role=Role.ADMIN, name="Ada Admin", email="ada@topline.example",
                      password_hash=hash_password(PASSWORD))  # fmt: skip
            pipeline = make_pipeline(session, name="New Business")
            proposal = stage_named(session, pipeline, "Proposal").id
            table = f"#pipeline-{pipeline.id} tbody th input"
            session.commit()
        with signed_in_as_ada(engine) as (page, base_url):
            page.goto(f"{base_url}/admin/pipelines")
            page.get_by_label("Name of the stage Proposal").fill("Discovery")
            page.get_by_role("button", name="Save the stage Proposal").click()
            expect(page.locator(f"#edit-{proposal}-name-error")).to_contain_text(
                "already has a stage called"
            )
            assert_accessible(page)
            page.goto(f"{base_url}/admin/pipelines")
            page.get_by_role("button", name="move Proposal up").click()
            expect(page.get_by_role("status")).to_contain_text("are saved")
            rows = page.locator(table)
            expect(rows.nth(2)).to_have_value("Proposal")


class TestQuotas:
    def test_a_manager_sets_a_reps_quota_and_it_is_audited(
        self, client: TestClient, session: Session, org: SalesOrg
    ) -> None:
        login(client, "maria@topline.example", PASSWORD)

        saved = post(client, "/admin/quotas", "/admin/quotas", owner=f"user:{org.rita.id}",
                     start_month="2025-07", months="3", amount="120,000")  # fmt: skip

        assert saved.status_code == 303
        page = client.get(saved.headers["location"]).text
        assert table_rows(page, "quotas")[1] == [
            "Rita", "Jul 1, 2025", "Sep 30, 2025", "3", "$120,000",
        ]  # fmt: skip
        [entry] = audit_log(session, "quota")
        assert (entry.actor_id, entry.action) == (org.maria.id, "set")
        assert entry.after is not None and entry.after["amount_cents"] == 12_000_000

    def test_refusals_keep_what_was_typed(
        self, client: TestClient, session: Session, org: SalesOrg
    ) -> None:
        login(client, "maria@topline.example", PASSWORD)

        own = post(client, "/admin/quotas", "/admin/quotas", owner=f"user:{org.maria.id}",
                   start_month="2025-07", months="3", amount="50000")  # fmt: skip
        foreign = post(client, "/admin/quotas", "/admin/quotas", owner=f"user:{org.olga.id}",
                       start_month="2025-07", months="3", amount="50000")  # fmt: skip
        bad = post(client, "/admin/quotas", "/admin/quotas", owner=f"user:{org.rita.id}",
                   start_month="July", months="3", amount="lots")  # fmt: skip

        assert own.status_code == 403
        assert "cannot set their own quota" in own.text
        assert foreign.status_code == 409
        assert "not found" in field_error(foreign.text, "quota-owner")
        assert bad.status_code == 422
        assert "dollars" in field_error(bad.text, "quota-amount")
        assert field_value(bad.text, "quota-start") == "July"
        assert session.scalars(select(Quota)).all() == []

    def test_the_list_shows_only_the_scope_without_a_query_per_row(
        self, client: TestClient, session: Session, org: SalesOrg
    ) -> None:
        for month in range(1, 13):
            for person in (org.rita, org.ray, org.olga):
                set_quota(session, amount_cents=100_000_00, period_start=date(2025, month, 1),
                          period_end=date(2026, 1, 1) if month == 12 else date(2025, month + 1, 1),
                          user=person)  # fmt: skip
        login(client, "maria@topline.example", PASSWORD)

        with assert_max_queries(session, 7):
            page = client.get("/admin/quotas")

        people = {row[0] for row in table_rows(page.text, "quotas")[1:]}
        assert people == {"Rita", "Ray"}
        assert 'data-testid="quota-count">24<' in page.text


class TestTokens:
    def test_a_token_is_shown_once_works_and_stops_when_revoked(
        self,
        client: TestClient,
        make_client: Callable[..., TestClient],
        session: Session,
        org: SalesOrg,
    ) -> None:
        login(client, "rita@topline.example", PASSWORD)

        created = post(client, "/settings/tokens", "/settings/tokens", name="CRM sync",
                       expires_in_days="30")  # fmt: skip

        assert created.status_code == 201
        token = re.search(r'data-testid="new-token"[^>]*|value="(tl_[^"]+)"', created.text)
        plain = re.search(r'value="(tl_[^"]+)"', created.text)
        assert token and plain
        assert plain.group(1) not in client.get("/settings/tokens").text
        api = make_client()
        api.headers["Authorization"] = f"Bearer {plain.group(1)}"
        assert api.get("/api/v1/users/me").json()["email"] == "rita@topline.example"
        stored = session.scalar(select(ApiToken).where(ApiToken.user_id == org.rita.id))
        assert stored is not None
        revoked = post(client, f"/settings/tokens/{stored.id}/revoke", "/settings/tokens")
        assert revoked.status_code == 303
        assert api.get("/api/v1/users/me").status_code == 401
        assert [entry.action for entry in audit_log(session, "api_token")] == ["create", "revoke"]

    def test_nobody_revokes_someone_elses_token_here(
        self, client: TestClient, session: Session, org: SalesOrg
    ) -> None:
        from topline.auth.tokens import create_token

        token, _ = create_token(session, user=org.olga, name="Olga's")
        login(client, "ada@topline.example", PASSWORD)

        refused = post(client, f"/settings/tokens/{token.id}/revoke", "/settings/tokens")

        assert refused.status_code == 404
        session.refresh(token)
        assert token.revoked_at is None

    def test_a_token_needs_a_name(self, client: TestClient, org: SalesOrg) -> None:
        login(client, "rita@topline.example", PASSWORD)

        refused = post(client, "/settings/tokens", "/settings/tokens", name="  ",
                       expires_in_days="90")  # fmt: skip

        assert refused.status_code == 422
        assert "what the token is for" in field_error(refused.text, "token-name")
        assert selected(refused.text, "token-expiry") == "90"


class TestAudit:
    def test_a_manager_reads_the_writes_of_their_scope_only(
        self, client: TestClient, session: Session, org: SalesOrg
    ) -> None:
        record_audit(
            session,
            actor_id=org.rita.id,
            action="update",
            entity_type="deal",
            entity_id=1,
            before={"amount_cents": 100},
            after={"amount_cents": 200},
        )
        record_audit(
            session,
            actor_id=org.olga.id,
            action="update",
            entity_type="deal",
            entity_id=2,
            before={"name": "Secret"},
            after={"name": "Hidden"},
        )
        login(client, "maria@topline.example", PASSWORD)
        post(client, "/admin/quotas", "/admin/quotas", owner=f"user:{org.ray.id}",
             start_month="2025-10", months="3", amount="90000")  # fmt: skip

        page = client.get("/admin/audit").text
        deals_only = client.get("/admin/audit", params={"type": "deal"}).text

        rows = table_rows(page, "audit")[1:]
        assert [(row[1], row[2], row[3]) for row in rows] == [
            ("Maria", "set", f"quota #{_quota_id(session)}"), ("Rita", "update", "deal #1"),
        ]  # fmt: skip
        assert "Secret" not in page and "Olga" not in [row[1] for row in rows]
        assert [row[1] for row in table_rows(deals_only, "audit")[1:]] == ["Rita"]

    def test_the_log_is_paged_newest_first_without_a_query_per_row(
        self, client: TestClient, session: Session, org: SalesOrg
    ) -> None:
        for n in range(70):
            actor = org.ray if n % 2 else org.rita
            record_audit(
                session,
                actor_id=actor.id,
                action="update",
                entity_type="deal",
                entity_id=n + 1,
                before={"n": n},
                after={"n": n + 1},
            )
        login(client, "ada@topline.example", PASSWORD)

        with assert_max_queries(session, 4):
            page = client.get("/admin/audit")
        rows = table_rows(page.text, "audit")[1:]
        older = re.search(r'href="([^"]+)" rel="next"', page.text)

        assert len(rows) == 50
        assert older is not None
        rest = table_rows(client.get(older.group(1).replace("&amp;", "&")).text, "audit")[1:]
        assert len(rest) == 20
        assert rest[-1][3] == "deal #1"
        by_ray = client.get("/admin/audit", params={"actor": str(org.ray.id)}).text
        assert {row[1] for row in table_rows(by_ray, "audit")[1:]} == {"Ray"}


def _version(html: str) -> str:
    match = re.search(r'name="version" value="([^"]*)"', html)
    assert match, "no version field"
    return match.group(1)


def _quota_id(session: Session) -> int:
    quota = session.scalar(select(Quota))
    assert quota is not None
    return int(quota.id)


@pytest.mark.browser
def test_admin_pages_pass_the_accessibility_checks(tmp_path: Path) -> None:
    """A real browser opens every admin page, a refused form and a new token: no serious WCAG
    2 A/AA violation."""
    require_chromium()
    from playwright.sync_api import expect

    engine = fresh_engine("sqlite", tmp_path, "admin-browser")
    upgrade_database(engine)
    with Session(engine) as session:
        admin = make_user(session, role=Role.ADMIN, name="Ada Admin", email="ada@topline.example",
                          password_hash=hash_password(PASSWORD))  # fmt: skip
        maria = make_user(session, role=Role.MANAGER, name="Maria", email="maria@topline.example")
        rita = make_user(session, manager=maria, name="Rita", email="rita@topline.example")
        team = create_team(session, name="Inside Sales", manager=maria)
        make_pipeline(session, name="New Business")
        set_quota(session, amount_cents=5_000_000, period_start=date(2025, 7, 1),
                  period_end=date(2025, 10, 1), user=rita)  # fmt: skip
        record_audit(session, actor_id=admin.id, action="update", entity_type="user",
                     entity_id=rita.id, before={"name": "R"}, after={"name": "Rita"})  # fmt: skip
        paths = ["/admin", "/admin/users", f"/admin/users/{rita.id}", "/admin/teams",
                 f"/admin/teams/{team.id}", "/admin/pipelines", "/admin/quotas", "/admin/audit",
                 "/settings/tokens"]  # fmt: skip
        session.commit()
    with signed_in_as_ada(engine) as (page, base_url):
        for path in paths:
            page.goto(f"{base_url}{path}")
            assert_accessible(page)
        page.goto(f"{base_url}/admin/users")
        page.get_by_label("Name", exact=True).fill("Second Rita")
        page.get_by_label("Email", exact=True).fill("rita@topline.example")
        page.get_by_role("button", name="Add the person").click()
        expect(page.locator("#new-email-error")).to_contain_text("already exists")
        assert_accessible(page)
        page.goto(f"{base_url}/settings/tokens")
        page.get_by_label("What it is for").fill("CRM sync")
        page.get_by_role("button", name="Create the token").click()
        expect(page.get_by_test_id("new-token")).to_have_value(re.compile("^tl_"))
        assert_accessible(page)


@contextmanager
def signed_in_as_ada(engine: Engine) -> Iterator[tuple[Any, str]]:
    """A headless Chromium page signed in as the admin Ada on the app served over `engine`,
    and the app's address; the engine is disposed of afterwards."""
    from playwright.sync_api import sync_playwright

    settings = Settings(database_url=str(engine.url), secret_key="browser-test-secret")
    try:
        with serving(create_app(settings, engine=engine)) as base_url, sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(f"{base_url}/login")
                page.get_by_label("Email").fill("ada@topline.example")
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_role("button", name="Sign in").click()
                yield page, base_url
            finally:
                browser.close()
    finally:
        engine.dispose()
