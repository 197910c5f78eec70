"""Routes do a request's blocking work in one worker thread, inside one transaction; reads of
one record on a local database do it on the event loop."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from tests.databases import backends, fresh_engine
from topline.auth.enums import Role
from topline.auth.models import ApiToken, Organization
from topline.auth.service import create_user
from topline.auth.tokens import LAST_USED_RESOLUTION, create_token
from topline.clock import utcnow
from topline.config import Settings
from topline.storage.migrate import upgrade_database
from topline.web.api import common
from topline.web.app import create_app
from topline.web.deps import DbSession, InThread, RequestWork
from topline.web.routing import TransactionRoute, _local, reads_one_record

seen: dict[str, int] = {}


async def who(session: DbSession) -> InThread[int]:
    seen["dependency"] = threading.get_ident()  # async: on the event loop
    return InThread(lambda work: _thread_and_query(session, work))


def _thread_and_query(session: DbSession, work: RequestWork) -> int:
    session.execute(text("SELECT 1"))
    seen["writing"] = int(work.writing)
    seen["on_event_loop"] = int(work.on_event_loop)
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


def test_a_read_of_one_record_runs_on_the_event_loop(tmp_path: Path) -> None:
    engine = fresh_engine("sqlite", tmp_path, "loop")
    upgrade_database(engine)
    app = create_app(Settings(database_url=str(engine.url), secret_key="k"), engine=engine)
    seen.clear()

    @reads_one_record
    def endpoint(session: DbSession, ident: Annotated[int, Depends(who)]) -> dict[str, int]:
        seen["endpoint"] = threading.get_ident()
        return {"computed_in": ident}

    app.add_api_route("/probe", endpoint, methods=["GET"])
    with TestClient(app) as client:
        response = client.get("/probe")

    assert response.status_code == 200
    assert seen["endpoint"] == seen["dependency"] == response.json()["computed_in"]
    assert (seen["writing"], seen["on_event_loop"]) == (0, 1)
    engine.dispose()


def test_a_write_cannot_be_marked_to_run_on_the_event_loop() -> None:
    router = APIRouter(route_class=TransactionRoute)

    @reads_one_record
    def endpoint() -> None: ...

    with pytest.raises(TypeError, match="endpoint writes"):
        router.add_api_route("/probe", endpoint, methods=["PATCH"])


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("sqlite:///topline.sqlite", True),
        ("sqlite://", True),
        ("postgresql+psycopg://postgres@127.0.0.1:5432/topline", True),
        ("postgresql+psycopg://postgres@localhost/topline", True),
        ("postgresql+psycopg:///topline", True),  # a Unix socket
        ("postgresql+psycopg://topline@db.example.com/topline", False),
        ("postgresql+psycopg://topline@10.0.0.7/topline", False),
    ],
)
def test_only_a_local_database_is_read_on_the_event_loop(url: str, local: bool) -> None:
    engine = create_engine(url)  # never connects
    assert _local(Session(bind=engine)) is local
    assert _local(Session()) is False


@pytest.mark.parametrize("backend", backends())
def test_a_token_use_due_on_a_quick_read_is_recorded_from_a_thread(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Recording the use may wait for the write lock: the request rolls back, runs again in a
    # worker thread, records the use there and answers as it would have.
    engine = fresh_engine(backend, tmp_path, "token_use")
    upgrade_database(engine)
    with Session(engine) as session:
        session.add(Organization(name="Acme", currency="USD", fiscal_year_start_month=1))
        admin = create_user(session, email="admin@example.com", name="Admin", role=Role.ADMIN)
        token, plain = create_token(session, user=admin, name="probe")
        token.last_used_at = utcnow() - LAST_USED_RESOLUTION - timedelta(seconds=1)
        token_id, user_id = token.id, admin.id
        session.commit()
    checked: list[int] = []
    recorded: list[int] = []
    check_token, record_use = common.check_token_caller, common._record_use

    def spy_check(*args: Any, **kwargs: Any) -> Any:
        checked.append(threading.get_ident())
        return check_token(*args, **kwargs)

    def spy_record(*args: Any, **kwargs: Any) -> None:
        recorded.append(threading.get_ident())
        record_use(*args, **kwargs)

    monkeypatch.setattr(common, "check_token_caller", spy_check)
    monkeypatch.setattr(common, "_record_use", spy_record)
    app = create_app(Settings(database_url=str(engine.url), secret_key="k"), engine=engine)
    loop: list[int] = []

    async def loop_thread() -> None:
        loop.append(threading.get_ident())

    app.add_api_route("/loop-thread", loop_thread)
    headers = {"Authorization": f"Bearer {plain}"}
    with TestClient(app) as client:
        client.get("/loop-thread")
        first = client.get(f"/api/v1/users/{user_id}", headers=headers)
        second = client.get(f"/api/v1/users/{user_id}", headers=headers)

    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    # First: checked on the loop, refused there, checked and recorded in a thread. Second (the
    # use just recorded): checked on the loop only.
    assert len(checked) == 3 and len(recorded) == 1
    assert checked[0] == checked[2] == loop[0]
    assert checked[1] == recorded[0] != loop[0]
    with Session(engine) as session:
        used = session.get(ApiToken, token_id)
        assert used is not None and used.last_used_at is not None
        assert utcnow() - used.last_used_at < LAST_USED_RESOLUTION
    engine.dispose()


@pytest.mark.parametrize("backend", backends())
def test_a_quick_read_from_postgresql_commits_each_statement_and_leaves_no_trace(
    backend: str, tmp_path: Path
) -> None:
    engine = fresh_engine(backend, tmp_path, "autocommit")
    upgrade_database(engine)
    app = create_app(Settings(database_url=str(engine.url), secret_key="k"), engine=engine)
    seen: list[bool] = []

    def autocommits(session: Session) -> bool:
        # psycopg's own flag; SQLite's driver in-process keeps SQLAlchemy's transactions.
        driver = session.connection().connection.dbapi_connection
        return getattr(driver, "autocommit", False) is True

    @reads_one_record
    def quick(session: DbSession) -> None:
        seen.append(autocommits(session))

    def other(session: DbSession) -> None:
        seen.append(autocommits(session))

    app.add_api_route("/quick", quick)
    app.add_api_route("/other", other)
    with TestClient(app) as client:
        assert client.get("/quick").status_code == 200
        assert client.get("/other").status_code == 200
        assert client.get("/quick").status_code == 200

    # From PostgreSQL a quick read spares the round trips of BEGIN and COMMIT, and the pooled
    # connection is given back as it was: the next request has its transaction.
    quick_autocommits = backend == "postgresql"
    assert seen == [quick_autocommits, False, quick_autocommits]
    engine.dispose()
