"""A rep's day and an admin's setup in a real headless Chromium, a rep kept out of a peer's
deal, and every page checked with axe-core and at a tablet's width."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tests.databases import fresh_engine
from tests.factories import (
    make_account,
    make_contact,
    make_deal,
    make_lead,
    make_pipeline,
    make_user,
    stage_named,
)
from tests.helpers import serving
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS, assert_accessible, require_chromium
from topline.analytics.catalog import REPORTS
from topline.auth.enums import Role
from topline.auth.passwords import hash_password
from topline.config import Settings
from topline.crm.activities import log_activity
from topline.crm.deals import close_deal_won
from topline.crm.enums import ActivityType, BuyingRole
from topline.crm.models import Account, Deal, Lead
from topline.storage.migrate import upgrade_database
from topline.web.app import create_app

PASSWORD = "journey-password"
# A tablet held upright, the narrowest screen the app is made for.
TABLET = {"width": 768, "height": 1024}
LAPTOP = {"width": 1366, "height": 768}


@dataclass
class Seeded:
    rita_deal: int
    ray_deal: int
    account: int
    contact: int
    lead_name: str


def seed(engine: Engine) -> Seeded:
    """An admin, a manager with two reps, deals in several stages, a won deal, a contact with
    an activity and an open lead; everyone signs in with `PASSWORD`."""
    with Session(engine) as session:
        secret = hash_password(PASSWORD)
        pipeline = make_pipeline(session, name="New Business")
        make_user(session, role=Role.ADMIN, name="Ada Admin", email="ada@topline.example",
                  password_hash=secret)  # fmt: skip
        maria = make_user(session, role=Role.MANAGER, name="Maria Manager",
                          email="maria@topline.example", password_hash=secret)  # fmt: skip
        rita = make_user(session, manager=maria, name="Rita Rep", email="rita@topline.example",
                         password_hash=secret)  # fmt: skip
        ray = make_user(session, manager=maria, name="Ray Rep", email="ray@topline.example",
                        password_hash=secret)  # fmt: skip
        deals: dict[str, Deal] = {}
        for owner, stage, dollars, name in [
            (rita, "Prospecting", 10_000, "Acme expansion"),
            (rita, "Proposal", 25_000, "Globex renewal"),
            (ray, "Proposal", 40_000, "Initech platform"),
            (ray, "Negotiation", 15_000, "Umbrella pilot"),
        ]:
            deals[name] = make_deal(
                session, owner=owner, stage=stage_named(session, pipeline, stage),
                amount_cents=dollars * 100, name=name,
                account=make_account(session, owner=owner, name=name.split()[0] + " Corp"),
            )  # fmt: skip
        won = make_deal(session, owner=rita, amount_cents=8_000_00, name="Hooli starter",
                        stage=stage_named(session, pipeline, "Negotiation"))  # fmt: skip
        close_deal_won(session, won, actor=rita, at=datetime.now(UTC))
        globex = deals["Globex renewal"]
        contact = make_contact(
            session, account=session.get_one(Account, globex.account_id),
            first_name="Gina", last_name="Globex", buying_role=BuyingRole.CHAMPION,
        )  # fmt: skip
        log_activity(session, user=rita, type=ActivityType.CALL, subject="Intro call",
                     occurred_at=datetime.now(UTC), deal=globex, contact=contact)  # fmt: skip
        lead = make_lead(session, owner=rita, first_name="Nora", last_name="Newlead",
                         company="Nimbus Ltd")  # fmt: skip
        session.commit()
        return Seeded(
            rita_deal=globex.id, ray_deal=deals["Initech platform"].id,
            account=globex.account_id or 0, contact=contact.id,
            lead_name=f"{lead.first_name} {lead.last_name}",
        )  # fmt: skip


@contextmanager
def running_app(tmp_path: Path, name: str) -> Iterator[tuple[str, Any, Seeded, Engine]]:
    """The app on a fresh SQLite database with `seed`, and a launched headless Chromium."""
    from playwright.sync_api import sync_playwright

    engine = fresh_engine("sqlite", tmp_path, name)
    upgrade_database(engine)
    seeded = seed(engine)
    settings = Settings(
        database_url=str(engine.url), secret_key="browser-test-secret", data_dir=tmp_path / "data"
    )
    try:
        with (
            serving(create_app(settings, engine=engine)) as base_url,
            sync_playwright() as playwright,
        ):
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
            try:
                yield base_url, browser, seeded, engine
            finally:
                browser.close()
    finally:
        engine.dispose()


def sign_in(page: Any, base_url: str, email: str) -> None:
    page.goto(f"{base_url}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/(pipeline|dashboard)"))


@pytest.mark.browser
def test_a_reps_day_board_move_survives_a_reload_lead_converted_call_submitted(
    tmp_path: Path,
) -> None:
    require_chromium()
    from playwright.sync_api import expect

    with running_app(tmp_path, "rep_day") as (base_url, browser, seeded, engine):
        page = browser.new_page(viewport=LAPTOP)
        sign_in(page, base_url, "rita@topline.example")

        page.goto(f"{base_url}/pipeline")
        card = page.locator(".card", has_text="Acme expansion")
        proposal = page.get_by_role("region", name="Proposal").locator(".board__cards")
        card.drag_to(proposal)
        expect(page.get_by_role("status")).to_contain_text("The deal moved")
        page.reload()
        expect(page.get_by_role("region", name="Proposal").locator(".card__name")).to_contain_text(
            ["Acme expansion"]
        )
        expect(page.get_by_role("region", name="Prospecting").locator(".card")).to_have_count(0)

        page.get_by_role("link", name="Leads").click()
        row = page.locator("#leads tbody tr", has_text=seeded.lead_name)
        row.locator("summary").click()
        row.get_by_label("Deal amount ($)").fill("12,000")
        row.get_by_role("button", name="Convert to a deal").click()
        expect(page.get_by_role("status")).to_contain_text(
            "became an account, a contact and a deal"
        )
        with Session(engine) as session:
            lead = session.scalars(select(Lead).where(Lead.first_name == "Nora")).one()
            converted = session.get_one(Deal, lead.converted_deal_id)
            assert (converted.amount_cents, converted.owner_id) == (12_000_00, lead.owner_id)

        page.get_by_role("link", name="Forecast").first.click()
        page.get_by_label("Commit ($)", exact=True).fill("8000")
        page.get_by_label("Best case ($)", exact=True).fill("33000")
        page.get_by_label("Pipeline ($)", exact=True).fill("55000")
        page.get_by_role("button", name="Submit call").click()
        expect(page.get_by_role("status")).to_contain_text("is submitted")
        expect(page.locator("#call-history tbody tr").first).to_contain_text("$33,000")
        assert_accessible(page)


@pytest.mark.browser
def test_a_rep_cannot_open_a_peers_deal_by_its_address(tmp_path: Path) -> None:
    require_chromium()
    from playwright.sync_api import expect

    with running_app(tmp_path, "rep_url") as (base_url, browser, seeded, _engine):
        page = browser.new_page(viewport=LAPTOP)
        sign_in(page, base_url, "rita@topline.example")

        own = page.goto(f"{base_url}/deals/{seeded.rita_deal}")
        peers = page.goto(f"{base_url}/deals/{seeded.ray_deal}")

        assert own is not None and own.status == 200
        assert peers is not None and peers.status == 404
        expect(page.get_by_role("heading", level=1)).not_to_contain_text("Initech")
        expect(page.locator("main")).not_to_contain_text("Initech platform")


def pages_to_check(seeded: Seeded) -> dict[str, list[str]]:
    """Every page, by who reads it."""
    manager = [
        "/dashboard", "/pipeline", "/deals", f"/deals/{seeded.rita_deal}", "/accounts",
        f"/accounts/{seeded.account}", "/contacts", f"/contacts/{seeded.contact}", "/leads",
        "/forecast", "/team", "/glossary", "/reports",
        *(f"/reports/{name}" for name in sorted(REPORTS)),
    ]  # fmt: skip
    admin = ["/admin", "/admin/users", "/admin/teams", "/admin/pipelines", "/admin/quotas",
             "/admin/audit", "/admin/tokens", "/settings/tokens", "/imports"]  # fmt: skip
    return {"maria@topline.example": manager, "ada@topline.example": admin}


WIDEST = """() => {
  const limit = document.documentElement.clientWidth;
  const clipped = e => {
    for (let p = e.parentElement; p; p = p.parentElement) {
      if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(p).overflowX)) return true;
    }
    return false;
  };
  const wide = [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > limit + 1 && !clipped(e));
  const name = e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
    + [...e.classList].map(c => '.' + c).join('');
  return wide.slice(0, 3).map(name);
}"""


@pytest.mark.browser
def test_every_page_passes_axe_and_fits_a_tablet(tmp_path: Path) -> None:
    require_chromium()

    with running_app(tmp_path, "every_page") as (base_url, browser, seeded, _engine):
        overflowing: list[str] = []
        for email, paths in pages_to_check(seeded).items():
            laptop = browser.new_page(viewport=LAPTOP)
            tablet = browser.new_page(viewport=TABLET)
            sign_in(laptop, base_url, email)
            sign_in(tablet, base_url, email)
            for path in paths:
                response = laptop.goto(f"{base_url}{path}")
                assert response is not None and response.status == 200, path
                assert_accessible(laptop)
                tablet.goto(f"{base_url}{path}")
                tablet.wait_for_load_state("networkidle")
                wide = tablet.evaluate(
                    "document.documentElement.scrollWidth - document.documentElement.clientWidth"
                )
                if wide > 1:
                    overflowing.append(f"{path} ({wide}px too wide: {tablet.evaluate(WIDEST)})")
            laptop.close()
            tablet.close()
        assert overflowing == [], "pages wider than a tablet: " + ", ".join(overflowing)


@pytest.mark.browser
def test_a_reports_chart_downloads_as_png(tmp_path: Path) -> None:
    require_chromium()

    with running_app(tmp_path, "png") as (base_url, browser, _seeded, _engine):
        page = browser.new_page(viewport=LAPTOP, accept_downloads=True)
        sign_in(page, base_url, "maria@topline.example")
        page.goto(f"{base_url}/reports/pipeline")
        page.locator("#chart .main-svg").first.wait_for()

        with page.expect_download() as download:
            page.get_by_role("button", name="Download the chart as PNG").click()

        saved = tmp_path / download.value.suggested_filename
        download.value.save_as(saved)
        assert saved.name == "topline-pipeline.png"
        assert saved.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.browser
def test_an_admin_adds_a_person_and_sets_their_quota_and_they_sign_in(tmp_path: Path) -> None:
    require_chromium()
    from playwright.sync_api import expect

    with running_app(tmp_path, "admin_setup") as (base_url, browser, _seeded, _engine):
        page = browser.new_page(viewport=LAPTOP)
        sign_in(page, base_url, "ada@topline.example")
        page.get_by_role("link", name="Admin", exact=True).click()
        page.get_by_role("link", name=re.compile("^People")).first.click()

        page.get_by_label("Name", exact=True).fill("Nina New")
        page.get_by_label("Email", exact=True).fill("nina@topline.example")
        page.get_by_label("Role", exact=True).select_option("rep")
        page.get_by_label("Reports to").select_option(label="Maria Manager")
        page.get_by_label("Initial password").fill("nina-first-password")
        page.get_by_role("button", name="Add the person").click()
        expect(page.get_by_role("status")).to_contain_text("Nina New was added")
        assert_accessible(page)

        page.goto(f"{base_url}/admin/quotas")
        page.get_by_label("For").select_option(label="Nina New")
        page.get_by_label("First month").fill("2026-10")
        page.get_by_label("Amount ($)").fill("150,000")
        page.get_by_role("button", name="Set the quota").click()
        expect(page.get_by_role("status")).to_contain_text("Nina New")
        expect(page.get_by_role("status")).to_contain_text("$150,000")

        nina = browser.new_page(viewport=LAPTOP)
        nina.goto(f"{base_url}/login")
        nina.get_by_label("Email").fill("nina@topline.example")
        nina.get_by_label("Password").fill("nina-first-password")
        nina.get_by_role("button", name="Sign in").click()
        expect(nina.get_by_role("button", name="Sign out")).to_be_visible()


@pytest.mark.browser
def test_the_dashboards_trend_and_teams_arrive_after_the_page(tmp_path: Path) -> None:
    require_chromium()
    from playwright.sync_api import expect

    with running_app(tmp_path, "dashboard_parts") as (base_url, browser, _seeded, _engine):
        page = browser.new_page(viewport=LAPTOP)
        sign_in(page, base_url, "ada@topline.example")
        page.goto(f"{base_url}/dashboard")

        expect(page.locator("#trend tbody tr").first).to_contain_text("Win rate")
        expect(page.locator("#trend-chart .main-svg").first).to_be_visible()
        expect(page.locator("#teams")).to_contain_text("Maria Manager")
