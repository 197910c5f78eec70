"""How accurate Topline's forecast methods are, measured by the rolling-origin backtest.

Runs `topline.forecasting.backtest.backtest` (the code behind `topline forecast backtest`) on:
- `demo`: the demo org (`--demo-size`, medium by default: ~60k deals over two years, with the
  reps' and managers' weekly forecast calls) built into a temporary SQLite file, as of its own
  moment (2026-11-26); every ended quarter with two ended quarters before it is forecast at 0,
  4, 8 and 12 weeks in;
- `maven`: the Maven CRM data set in ../shared/data imported with examples/mappings/maven.yaml
  (deals are created at their engage date and closed at their close date; the quarters of
  2017), as of 2018-01-01. It has no forecast calls and no forecast categories.

Prints one JSON document: per data set each method's `mape`, `bias`, `coverage_p10_p90` (the
projection) and `n` per horizon, every backtest point, the seconds the backtest took, and the
issue's targets with the measured values and whether each is met. Progress goes to stderr.

    .venv/bin/python benchmarks/forecast_backtest.py > forecast_backtest.json
    .venv/bin/python benchmarks/forecast_backtest.py --datasets maven
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from sqlalchemy.orm import Session  # noqa: E402

from topline.forecasting.backtest import backtest  # noqa: E402
from topline.storage.db import make_engine, write_transaction  # noqa: E402

MAVEN_AS_OF = datetime(2018, 1, 1, tzinfo=UTC)
TARGET_HORIZON = "4"


def _log(message: str) -> None:
    print(f"[{time.strftime('%X')}] {message}", file=sys.stderr, flush=True)


def demo(directory: Path, size: str, seed: int) -> tuple[str, datetime, float]:
    """Build the demo org; its URL, its moment and the build seconds."""
    from topline.demo import DEFAULT_AS_OF, build_demo

    url = f"sqlite:///{directory / 'demo.sqlite'}"
    _log(f"demo: building the {size} org")
    started = time.perf_counter()
    engine = make_engine(url)
    build_demo(engine, size=size, seed=seed)
    engine.dispose()
    return url, DEFAULT_AS_OF, time.perf_counter() - started


def maven(directory: Path, data: Path) -> tuple[str, datetime, float]:
    """Import the Maven data set; its URL, the backtest moment and the import seconds."""
    from topline.importers.engine import run_import
    from topline.importers.mapping import load_mapping
    from topline.storage.migrate import upgrade_database

    folder = data / "maven_crm_sales_opportunities"
    url = f"sqlite:///{directory / 'maven.sqlite'}"
    _log("maven: importing")
    started = time.perf_counter()
    engine = make_engine(url)
    upgrade_database(engine)
    mapping = load_mapping(REPO / "examples" / "mappings" / "maven.yaml")
    with Session(engine) as session, write_transaction(session):
        result = run_import(session, sorted(folder.glob("*.csv")), mapping)
    if not result.committed:
        raise SystemExit(f"the Maven import failed: {[str(p) for p in result.problems[:5]]}")
    engine.dispose()
    return url, MAVEN_AS_OF, time.perf_counter() - started


def run(name: str, url: str, as_of: datetime, seed: int) -> dict[str, Any]:
    """The backtest of one data set as JSON."""
    engine = make_engine(url)
    with Session(engine) as session:
        result = backtest(
            session, as_of, random_state=seed, progress=lambda m: _log(f"{name}: {m}")
        )
    engine.dispose()
    document = result.to_json()
    document["seconds"] = round(result.seconds, 1)
    return document


def _mape(result: dict[str, Any], method: str, horizon: str) -> float | None:
    entry = result["methods"].get(method, {}).get("horizons", {}).get(horizon)
    return None if entry is None else entry["mape"]


def _mean_mape(result: dict[str, Any], method: str) -> float | None:
    values = [
        entry["mape"]
        for entry in result["methods"].get(method, {}).get("horizons", {}).values()
        if entry["mape"] is not None
    ]
    return sum(values) / len(values) if values else None


def _coverage(result: dict[str, Any]) -> float | None:
    """Share of all backtest points (every horizon) whose actual fell inside P10–P90."""
    points = [p for p in result["points"] if p["p10_cents"] is not None and p["actual_cents"]]
    if not points:
        return None
    inside = [p["p10_cents"] <= p["actual_cents"] <= p["p90_cents"] for p in points]
    return sum(inside) / len(inside)


def targets(results: dict[str, Any]) -> dict[str, Any]:
    """The issue's targets, each with the measured value and whether it is met."""
    found: dict[str, Any] = {}
    if "demo" in results:
        demo_result = results["demo"]
        projection = _mape(demo_result, "projection", TARGET_HORIZON)
        stage = _mape(demo_result, "stage_weighted", TARGET_HORIZON)
        people = _mape(demo_result, "people", TARGET_HORIZON)
        found["demo_4_weeks_error_at_most_0.7x_stage_weighted"] = {
            "value": projection,
            "stage_weighted": stage,
            "ratio": None if not stage or projection is None else round(projection / stage, 3),
            "met": projection is not None and stage is not None and projection <= 0.7 * stage,
        }
        found["demo_4_weeks_error_below_people"] = {
            "value": projection,
            "people": people,
            "met": projection is not None and people is not None and projection < people,
        }
        coverage = _coverage(demo_result)
        found["demo_p10_p90_holds_70_to_90_percent"] = {
            "value": coverage,
            "points": sum(1 for p in demo_result["points"] if p["p10_cents"] is not None),
            "met": coverage is not None and 0.7 <= coverage <= 0.9,
        }
        found["demo_backtest_under_5_minutes"] = {
            "value": demo_result["seconds"],
            "met": demo_result["seconds"] < 300,
        }
    if "maven" in results:
        maven_result = results["maven"]
        projection = _mean_mape(maven_result, "projection")
        stage = _mean_mape(maven_result, "stage_weighted")
        found["maven_beats_stage_weighted"] = {
            "value": projection,
            "stage_weighted": stage,
            "by_horizon": {
                horizon: {
                    "projection": _mape(maven_result, "projection", horizon),
                    "stage_weighted": _mape(maven_result, "stage_weighted", horizon),
                }
                for horizon in maven_result["methods"].get("projection", {}).get("horizons", {})
            },
            "met": projection is not None and stage is not None and projection < stage,
        }
        found["maven_p10_p90_coverage"] = {"value": _coverage(maven_result), "met": None}
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--datasets", default="demo,maven", help="comma-separated")
    parser.add_argument("--demo-size", default="medium", help="small, medium or large")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    names = [name.strip() for name in args.datasets.split(",") if name.strip()]
    unknown = [name for name in names if name not in ("demo", "maven")]
    if unknown:
        parser.error(f"unknown data sets {unknown}; known: demo, maven")
    load_average = os.getloadavg()[0]
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="topline-bench-forecast-") as folder:
        directory = Path(folder)
        for name in names:
            if name == "demo":
                url, as_of, seconds = demo(directory, args.demo_size, 42)
            else:
                url, as_of, seconds = maven(directory, args.data)
            results[name] = run(name, url, as_of, args.seed)
            results[name]["load_seconds"] = round(seconds, 1)
    document = {
        "seed": args.seed,
        "demo_size": args.demo_size,
        "results": results,
        "targets": targets(results),
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_at_start": round(load_average, 2),
            "python": platform.python_version(),
        },
    }
    json.dump(document, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
