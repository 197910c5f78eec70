"""Web fixtures: the app on the rolled-back test session and a client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from topline.config import Settings
from topline.web.app import create_app
from topline.web.deps import RequestTransaction, RequestWork, get_session, get_transaction


class SavepointTransaction(RequestTransaction):
    """A request's unit of work inside the test's transaction: a SAVEPOINT on the test session.

    Requests see what the test wrote and the test sees what they wrote; a failed request undoes
    its own changes only, as a failed request does in the app; everything goes at the end.
    """

    def begin(self, work: RequestWork) -> None:
        self._savepoint = self.session.begin_nested()

    def commit(self) -> None:
        self._savepoint.commit()

    def rollback(self) -> None:
        if self._savepoint.is_active:
            self._savepoint.rollback()

    def close(self) -> None:
        """The test session outlives the request."""


def settings_for_tests(**overrides: Any) -> Settings:
    """Settings for an app under test; the database comes from the `engine` fixture."""
    values: dict[str, Any] = {
        "database_url": "sqlite://",
        "secret_key": "test-secret-key",
        "login_attempts_per_minute": 5,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def make_client(engine: Engine, session: Session) -> Iterator[Callable[..., TestClient]]:
    """Build a client for an app with the given settings overrides, on the test session."""
    clients: list[TestClient] = []

    def build(**overrides: Any) -> TestClient:
        app = create_app(settings_for_tests(**overrides), engine=engine)

        async def test_session() -> Session:
            return session

        async def test_transaction() -> RequestTransaction:
            return SavepointTransaction(session)

        app.dependency_overrides[get_session] = test_session
        app.dependency_overrides[get_transaction] = test_transaction
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    """A browser-like client of the app with default test settings."""
    return make_client()


@pytest.fixture
def app(client: TestClient) -> FastAPI:
    """The app behind `client`."""
    assert isinstance(client.app, FastAPI)
    return client.app
