"""A real headless Chromium signs in through the form, reads the team pipeline and the
forecast, submits a forecast call and imports a spreadsheet."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tests.databases import fresh_engine
from tests.factories import make_account, make_deal, make_pipeline, make_user, stage_named
from tests.helpers import serving
from topline.analytics.periods import PeriodKind, period_containing
from topline.auth.enums import Role
from topline.auth.models import User
from topline.auth.passwords import hash_password
from topline.clock import utcnow
from topline.config import Settings
from topline.crm.models import Account
from topline.forecasting.models import ForecastSnapshot
from topline.storage.migrate import upgrade_database
from topline.web.app import create_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # Stops Chromium resolving any outside host; the app is on 127.0.0.1.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]
PASSWORD = "manager-password"
# axe-core (npm, a dev dependency): the WCAG checks run inside the page.
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
AXE_RUN = """async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa']})).violations
    .filter(v => v.impact === 'serious' || v.impact === 'critical')
    .map(v => ({rule: v.id, where: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))"""


def assert_accessible(page: Any) -> None:
    """No serious or critical WCAG 2 A/AA violation on the page, as axe-core finds them."""
    page.wait_for_load_state("networkidle")
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate(AXE_RUN)
    assert violations == [], f"{page.url}: {violations}"


def require_chromium() -> None:
    """Skip without Chromium on a workstation; fail in CI, where a skip would hide the gap."""
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is missing: install Debian's chromium package to run browser tests"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def seed_team(engine: Engine) -> None:
    """A manager with two reps and a few open deals, committed for the server to read."""
    with Session(engine) as session:
        pipeline = make_pipeline(session, name="New Business")
        maria = make_user(
            session,
            role=Role.MANAGER,
            name="Maria Manager",
            email="maria@topline.example",
            password_hash=hash_password(PASSWORD),
        )
        rita = make_user(session, manager=maria, name="Rita Rep", email="rita@topline.example")
        ray = make_user(session, manager=maria, name="Ray Rep", email="ray@topline.example")
        for owner, stage, dollars, name in [
            (rita, "Prospecting", 10_000, "Acme expansion"),
            (rita, "Proposal", 25_000, "Globex renewal"),
            (ray, "Proposal", 40_000, "Initech platform"),
            (ray, "Negotiation", 15_000, "Umbrella pilot"),
        ]:
            make_deal(
                session,
                owner=owner,
                stage=stage_named(session, pipeline, stage),
                amount_cents=dollars * 100,
                account=make_account(session, owner=owner, name=name.split()[0] + " Corp"),
                name=name,
            )
        session.commit()


@pytest.mark.browser
def test_manager_signs_in_and_sees_the_team_pipeline(tmp_path: Path) -> None:
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    engine = fresh_engine("sqlite", tmp_path, "browser")
    upgrade_database(engine)
    seed_team(engine)
    settings = Settings(database_url=str(engine.url), secret_key="browser-test-secret")

    try:
        with (
            serving(create_app(settings, engine=engine)) as base_url,
            sync_playwright() as playwright,
        ):
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(f"{base_url}/pipeline")
                expect(page).to_have_url(re.compile(r"/login\?next=%2Fpipeline$"))

                page.get_by_label("Email").fill("maria@topline.example")
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_role("button", name="Sign in").click()

                expect(page).to_have_url(f"{base_url}/pipeline")
                expect(page.get_by_role("heading", level=1)).to_have_text(
                    "Team pipeline — Maria Manager"
                )
                expect(page.get_by_test_id("total-amount")).to_have_text("$90,000")
                expect(page.get_by_test_id("total-weighted")).to_have_text("$52,000")
                expect(page.locator("#largest-deals")).to_contain_text("Initech platform")
                expect(page.locator("#largest-deals")).to_contain_text("Ray Rep")
                assert page.evaluate("typeof window.htmx") == "object", (
                    "htmx did not load from /static/vendor: run `make assets`"
                )
                # Drag a card to another stage: the deal moves and the page says so.
                card = page.locator(".card", has_text="Acme expansion")
                target = page.get_by_role("region", name="Negotiation").locator(".board__cards")
                card.drag_to(target)
                expect(page.get_by_role("status")).to_contain_text("The deal moved")
                expect(
                    page.get_by_role("region", name="Negotiation").locator(".card__name")
                ).to_contain_text(["Acme expansion"])
                assert_accessible(page)
                page.screenshot(path=str(tmp_path / "pipeline.png"), full_page=True)

                page.get_by_role("button", name="Sign out").click()
                expect(page).to_have_url(f"{base_url}/login")
            finally:
                browser.close()
    finally:
        engine.dispose()


def keep_projection(engine: Engine) -> None:
    """The team's projection of the quarter in progress, as the daily snapshot keeps it."""
    today = utcnow()
    quarter = period_containing(today.date(), PeriodKind.QUARTER)
    with Session(engine) as session:
        maria = session.scalars(select(User).where(User.email == "maria@topline.example")).one()
        session.add(
            ForecastSnapshot(
                scope_key=f"team:{maria.id}", scope_kind="team", scope_user_id=maria.id,
                period_start=quarter.start, period_end=quarter.end, method="projection",
                taken_on=today.date(), taken_at=today, expected_cents=61_000_00,
                p10_cents=48_000_00, p50_cents=60_500_00, p90_cents=75_000_00,
                won_cents=0, open_deals=4, details={"drivers": [], "new_deals_cents": 0},
            )
        )  # fmt: skip
        session.commit()


@pytest.mark.browser
def test_a_managers_morning_dashboard_risky_deal_call_logged_forecast_adjusted(
    tmp_path: Path,
) -> None:
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    engine = fresh_engine("sqlite", tmp_path, "browser_forecast")
    upgrade_database(engine)
    seed_team(engine)
    keep_projection(engine)
    settings = Settings(database_url=str(engine.url), secret_key="browser-test-secret")

    try:
        with (
            serving(create_app(settings, engine=engine)) as base_url,
            sync_playwright() as playwright,
        ):
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(f"{base_url}/login")
                page.get_by_label("Email").fill("maria@topline.example")
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_role("button", name="Sign in").click()
                page.get_by_role("link", name="Dashboard").click()
                expect(page.get_by_role("heading", level=1)).to_have_text(
                    "This quarter — team of Maria Manager"
                )
                expect(page.get_by_test_id("projection")).to_have_text("$61,000")
                assert_accessible(page)
                page.locator("#at-risk").get_by_role("link", name="Initech platform").click()
                expect(page.get_by_role("heading", level=1)).to_have_text("Initech platform")
                assert_accessible(page)
                page.get_by_label("Kind").select_option("call")
                page.get_by_label("What happened").fill("Called the CFO about pricing")
                page.get_by_label("Outcome").fill("Connected")
                page.get_by_role("button", name="Log it").click()
                expect(page.get_by_role("status")).to_contain_text("Logged on the deal")
                expect(page.locator("#activities")).to_contain_text("Called the CFO about pricing")
                page.get_by_role("link", name="Forecast").first.click()

                expect(page).to_have_url(f"{base_url}/forecast")
                expect(page.get_by_role("heading", level=1)).to_have_text(
                    "Forecast — team of Maria Manager"
                )
                expect(page.get_by_test_id("range")).to_have_text("$48,000 – $75,000")
                expect(page.get_by_role("img", name=re.compile("80% range"))).to_be_visible()
                expect(page.locator("#rollup")).to_contain_text("Rita Rep")
                assert_accessible(page)

                page.get_by_label("Commit ($)", exact=True).fill("30000")
                page.get_by_label("Best case ($)", exact=True).fill("20000")
                page.get_by_role("button", name="Submit call").click()
                expect(page.get_by_role("alert")).to_contain_text("not submitted")
                expect(page.get_by_label("Best case ($)", exact=True)).to_have_value("20000")

                page.get_by_label("Best case ($)", exact=True).fill("45000")
                page.get_by_label("Pipeline ($)", exact=True).fill("90000")
                page.get_by_label("Note", exact=True).fill("Initech signs in March")
                page.get_by_role("button", name="Submit call").click()
                expect(page.get_by_role("status")).to_contain_text("is submitted")
                row = page.locator("#rollup tbody tr").first
                expect(row).to_contain_text("$30,000")
                expect(row).to_contain_text("Current")

                ray = page.locator("#rollup tbody tr", has_text="Ray Rep")
                ray.locator("summary", has_text="Adjust").click()
                ray.get_by_label("Commit ($)").fill("12000")
                ray.get_by_label("Best case ($)").fill("15000")
                ray.get_by_label("Pipeline ($)").fill("40000")
                ray.get_by_role("button", name="Save adjustment").click()
                ray = page.locator("#rollup tbody tr", has_text="Ray Rep")
                expect(ray).to_contain_text("Adjusted")
                expect(ray).to_contain_text("$12,000")
                page.screenshot(path=str(tmp_path / "forecast.png"), full_page=True)

                page.get_by_role("link", name="Reports").click()
                page.get_by_role("link", name=re.compile("pipeline by stage", re.I)).click()
                expect(page.locator("#chart .main-svg").first).to_be_visible()
                assert_accessible(page)
            finally:
                browser.close()
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("ci", "outcome"), [("true", pytest.fail.Exception), (None, pytest.skip.Exception)]
)
def test_missing_chromium_fails_in_ci_and_skips_elsewhere(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ci: str | None, outcome: type[Exception]
) -> None:
    monkeypatch.setattr(f"{__name__}.CHROMIUM", tmp_path / "no-chromium")
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)

    with pytest.raises(outcome, match="no-chromium is missing"):
        require_chromium()


@pytest.mark.browser
def test_admin_imports_a_spreadsheet_with_mapped_columns(tmp_path: Path) -> None:
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    engine = fresh_engine("sqlite", tmp_path, "browser_import")
    upgrade_database(engine)
    with Session(engine) as session:
        make_user(
            session,
            role=Role.ADMIN,
            name="Ada Admin",
            email="ada@topline.example",
            password_hash=hash_password(PASSWORD),
        )
        session.commit()
    firms = tmp_path / "firms.csv"
    firms.write_text("Ref,Firm,Web\nF1,Initech,initech.example\nF2,Umbrella,umbrella.example\n")
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
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(f"{base_url}/login")
                page.get_by_label("Email").fill("ada@topline.example")
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_role("button", name="Sign in").click()
                page.get_by_role("link", name="Imports").click()
                expect(page.get_by_role("heading", level=1)).to_have_text("Imports")

                page.get_by_label("CSV or Excel files").set_input_files(str(firms))
                page.get_by_role("button", name="Upload and map columns").click()
                expect(page.get_by_role("heading", level=1)).to_contain_text("Map the columns")

                # Picking the kind of record swaps in its fields (htmx), then each column.
                page.get_by_label("Records in this file").select_option("accounts")
                expect(page.get_by_label("Firm", exact=True)).to_be_enabled()
                page.get_by_label("Ref", exact=True).select_option("key")
                page.get_by_label("Firm", exact=True).select_option("name")
                page.get_by_label("Web", exact=True).select_option("domain")
                page.get_by_role("button", name="Preview the import").click()

                expect(page.get_by_role("heading", level=1)).to_contain_text("Preview")
                expect(page.get_by_test_id("job-status")).to_have_text("done", timeout=30_000)
                expect(page.locator("#import-summary")).to_contain_text("firms.csv")
                page.get_by_role("button", name="Import now").click()
                expect(page.get_by_test_id("job-status")).to_have_text("done", timeout=30_000)
                expect(page.get_by_role("status")).to_have_text("Imported.")
                page.screenshot(path=str(tmp_path / "import.png"), full_page=True)
            finally:
                browser.close()
        with Session(engine) as session:
            names = session.scalars(select(Account.name).order_by(Account.name)).all()
        assert names == ["Initech", "Umbrella"]
    finally:
        engine.dispose()
