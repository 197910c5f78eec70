"""Import fixtures: a migrated database per backend, emptied before each test, and a helper
that runs an import the way the CLI does (its own session, committing)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session

from tests.databases import backends, fresh_engine
from topline.importers.engine import ImportResult, run_import
from topline.importers.mapping import ImportMapping, parse_mapping
from topline.storage.all_models import Base
from topline.storage.db import write_transaction
from topline.storage.migrate import upgrade_database


@pytest.fixture(scope="module", params=backends())
def import_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    directory = tmp_path_factory.mktemp("imports")
    engine = fresh_engine(request.param, directory, f"imports_{request.module.__name__[-12:]}")
    upgrade_database(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def db(import_db: Engine) -> Engine:
    """The module's database, empty."""
    with import_db.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(delete(table))
    return import_db


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """Write a file under the test's directory: `write("deals.csv", "a,b\\n1,2\\n")`."""

    def make(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return make


@pytest.fixture
def do_import(db: Engine) -> Callable[..., ImportResult]:
    def run(
        *paths: Path, mapping: ImportMapping | str | None = None, **options: Any
    ) -> ImportResult:
        spec = parse_mapping(mapping) if isinstance(mapping, str) else mapping
        with Session(db, expire_on_commit=False) as session, write_transaction(session):
            return run_import(session, list(paths), spec, **options)

    return run
