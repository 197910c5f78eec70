"""A small demo org built once per backend for the whole demo test run."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.databases import backends, fresh_engine
from topline.demo import DemoSummary, build_demo


@dataclass(frozen=True)
class BuiltDemo:
    """An engine on a database holding a freshly built demo org, and the build's summary."""

    engine: Engine
    summary: DemoSummary
    directory: Path


@pytest.fixture(scope="session", params=backends())
def demo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BuiltDemo]:
    """The small demo org with the default seed and `as_of`, on an unmigrated fresh database
    (so the build runs the migrations itself)."""
    directory = tmp_path_factory.mktemp("demo")
    engine = fresh_engine(request.param, directory, "demo")
    summary = build_demo(engine, size="small", seed=42)
    yield BuiltDemo(engine, summary, directory)
    engine.dispose()
