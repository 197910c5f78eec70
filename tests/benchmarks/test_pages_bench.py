"""The page-timing benchmark (`benchmarks/pages.py`) on a tiny demo org: every page it finds
answers 200 and its report has the documented keys."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.benchmarks.scripts import load_script
from tests.databases import backends, fresh_engine
from topline.demo import build_demo

pytestmark = pytest.mark.slow

ENTRY_KEYS = {
    "route", "status", "median_ms", "p90_ms", "max_ms", "queries", "sql_ms", "slowest_queries",
    "target_ms", "meets_target",
}  # fmt: skip


@pytest.fixture(scope="module")
def pages_bench() -> ModuleType:
    """The benchmark script, imported as a module."""
    return load_script("pages")


@pytest.fixture(scope="module", params=backends())
def tiny_org(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """An engine on the tiny demo org."""
    engine = fresh_engine(request.param, tmp_path_factory.mktemp("pages"), "pages_bench")
    build_demo(engine, size="tiny", seed=42)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def result(pages_bench: ModuleType, tiny_org: Engine) -> dict[str, Any]:
    """One timed request per page and viewer."""
    measured: dict[str, Any] = pages_bench.measure(tiny_org, repeat=1, progress=lambda _: None)
    return measured


def test_every_discovered_page_answers_200(result: dict[str, Any]) -> None:
    statuses = {
        (url, role): entry["status"]
        for url, by_viewer in result["pages"].items()
        for role, entry in by_viewer.items()
        if not entry.get("skipped")
    }
    assert statuses
    assert {key: status for key, status in statuses.items() if status != 200} == {}


def test_the_main_pages_are_found_and_timed_as_each_viewer(result: dict[str, Any]) -> None:
    assert {"/dashboard", "/pipeline", "/deals", "/deals/{deal_id}", "/reports/{name}"} <= set(
        result["routes"]
    )
    assert not any(route.startswith(("/login", "/api", "/static")) for route in result["routes"])
    assert set(result["pages"]["/dashboard"]) == {"manager", "rep"}
    assert set(result["pages"]["/imports"]) == {"admin"}
    report_pages = {url for url in result["pages"] if url.startswith("/reports/")}
    assert len(report_pages) == len(result["path_values"]["name"])


def test_the_report_has_the_documented_keys(result: dict[str, Any]) -> None:
    assert {"target_ms", "viewers", "path_values", "routes", "pages", "summary"} <= set(result)
    entry = result["pages"]["/dashboard"]["manager"]
    assert set(entry) >= ENTRY_KEYS
    assert entry["target_ms"] == 300
    assert entry["queries"] > 0
    assert entry["meets_target"] in (True, False)
    assert set(result["summary"]) == {"pages", "timed", "meeting_target", "not_200", "skipped"}


def test_a_page_that_fails_is_recorded_not_fatal(
    pages_bench: ModuleType, tiny_org: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages_bench, "path_values", lambda *_: {"deal_id": ["999999"]})
    measured = pages_bench.measure(
        tiny_org, repeat=1, routes=["/deals/{deal_id}"], progress=lambda _: None
    )
    entries = measured["pages"]["/deals/999999"]
    assert {entry["status"] for entry in entries.values()} == {404}
    assert all(entry["meets_target"] is None for entry in entries.values())
    missed = pages_bench.missed_targets({"sqlite": measured})
    assert {item["status"] for item in missed} == {404}
