"""Routes do a request's blocking work in one worker thread, inside one transaction."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated

from fastapi import Depends
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from tests.databases import fresh_engine
from topline.auth.models import Organization
from topline.config import Settings
from topline.storage.migrate import upgrade_database
from topline.web.app import create_app
from topline.web.deps import DbSession, InThread

seen: dict[str, int] = {}


async def who(session: DbSession) -> InThread[int]:
    seen["dependency"] = threading.get_ident()  # async: on the event loop
    return InThread(lambda writing: _thread_and_query(session, writing))


def _thread_and_query(session: DbSession, writing: bool) -> int:
    session.execute(text("SELECT 1"))
    seen["writing"] = int(writing)
    return threading.get_ident()


def test_dependencies_endpoint_and_commit_share_one_worker_thread(tmp_path: Path) -> None:
    engine = fresh_engine("sqlite", tmp_path, "threads")
    upgrade_database(engine)
    app = create_app(Settings(database_url=str(engine.url), secret_key="k"), engine=engine)
    seen.clear()

    def endpoint(session: DbSession, ident: Annotated[int, Depends(who)]) -> dict[str, int]:
        seen["endpoint"] = threading.get_ident()
        session.add(Organization(name="Acme", currency="USD", fiscal_year_start_month=1))
        return {"computed_in": ident}

    app.add_api_route("/probe", endpoint, methods=["POST"])
    with TestClient(app) as client:
        response = client.post("/probe")

    assert response.status_code == 200
    assert response.json()["computed_in"] == seen["endpoint"]
    assert seen["endpoint"] != seen["dependency"]
    assert seen["writing"] == 1  # a POST's transaction began as a writer
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(Organization)) == 1
    engine.dispose()
