"""Shared fixtures: migrated databases on both backends and a rolled-back session per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.databases import backends, fresh_engine
from topline.storage.migrate import upgrade_database


@pytest.fixture(scope="session", params=backends())
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A database built by the migrations, once per backend for the whole run."""
    engine = fresh_engine(request.param, tmp_path_factory.mktemp("db"), "unit")
    upgrade_database(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test."""
    connection = engine.connect()
    transaction = connection.begin()
    db = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield db
    finally:
        db.close()
        transaction.rollback()
        connection.close()
