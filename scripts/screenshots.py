"""Screenshots of every page of the web app at 1366×768, for the README and docs.

Builds the small demo org into a throwaway SQLite file, serves the app on a free local port,
signs in as the demo's director, a manager, a rep and the admin in Debian's headless
Chromium, and saves one PNG per page under docs/screenshots/ (the viewport only, as a person
first sees the page). Run it with `make screenshots`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from tests.helpers import serving
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS

from topline.auth.models import User
from topline.config import Settings
from topline.crm.enums import StageType
from topline.crm.models import Account, Contact, Deal, Stage
from topline.web.app import create_app

ROOT = Path(__file__).resolve().parents[1]
VIEWPORT = {"width": 1366, "height": 768}


def build_demo(database: Path) -> dict[str, Any]:
    """The small demo org in `database`; the demo's logins and password."""
    done = subprocess.run(
        [str(Path(sys.executable).parent / "topline"), "demo", "--no-serve", "--format", "json",
         "--db", f"sqlite:///{database}"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return dict(json.loads(done.stdout))


def sample_ids(database: Path, owner_email: str) -> dict[str, int]:
    """An open deal, an account and a contact the rep `owner_email` owns, the largest first."""
    engine = create_engine(f"sqlite:///{database}")
    try:
        with Session(engine) as session:
            owner = session.scalars(select(User).where(User.email == owner_email)).one()
            deal = session.scalars(
                select(Deal)
                .join(Stage, Stage.id == Deal.stage_id)
                .where(Deal.owner_id == owner.id, Stage.type == StageType.OPEN)
                .order_by(Deal.amount_cents.desc())
                .limit(1)
            ).one()
            account = session.get_one(Account, deal.account_id)
            contact = session.scalars(
                select(Contact).where(Contact.account_id == account.id).limit(1)
            ).first()
            return {"deal": deal.id, "account": account.id, "contact": contact.id if contact else 0}
    finally:
        engine.dispose()


def shoot(out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    with tempfile.TemporaryDirectory() as scratch:
        database = Path(scratch) / "demo.sqlite"
        demo = build_demo(database)
        logins = {login["role"]: [] for login in demo["logins"]}
        for login in demo["logins"]:
            logins[login["role"]].append(login["email"])
        director, manager = logins["manager"][0], logins["manager"][1]
        rep, admin = logins["rep"][0], logins["admin"][0]
        ids = sample_ids(database, rep)
        plan: list[tuple[str, list[tuple[str, str]]]] = [
            (director, [("dashboard", "/dashboard"), ("forecast", "/forecast")]),
            (manager, [
                ("pipeline", "/pipeline"), ("deals", "/deals?status=open&sort=-amount_cents"),
                ("team", "/team"), ("reports", "/reports"), ("report-funnel", "/reports/funnel"),
                ("report-waterfall", "/reports/waterfall"), ("leads", "/leads"),
                ("accounts", "/accounts"), ("contacts", "/contacts"), ("glossary", "/glossary"),
            ]),
            (rep, [
                ("deal", f"/deals/{ids['deal']}"), ("account", f"/accounts/{ids['account']}"),
                ("contact", f"/contacts/{ids['contact']}"), ("rep-dashboard", "/dashboard"),
            ]),
            (admin, [("admin-users", "/admin/users"), ("admin-audit", "/admin/audit")]),
        ]  # fmt: skip
        settings = Settings(
            database_url=f"sqlite:///{database}", secret_key="screenshots", data_dir=Path(scratch)
        )
        with serving(create_app(settings)) as base_url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
            try:
                for email, pages in plan:
                    page = browser.new_page(viewport=VIEWPORT)
                    page.goto(f"{base_url}/login")
                    page.get_by_label("Email").fill(email)
                    page.get_by_label("Password").fill(demo["password"])
                    page.get_by_role("button", name="Sign in").click()
                    page.wait_for_load_state("networkidle")
                    for name, path in pages:
                        response = page.goto(f"{base_url}{path}")
                        if response is None or response.status != 200:
                            raise SystemExit(f"{path} answered {response and response.status}")
                        page.wait_for_load_state("networkidle")
                        target = out / f"{name}.png"
                        page.screenshot(path=str(target))
                        saved.append(target)
                    page.close()
            finally:
                browser.close()
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install -y chromium")
    for path in shoot(args.out):
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


if __name__ == "__main__":
    main()
