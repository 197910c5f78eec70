"""How fast the demo org builds, per size and database.

Builds each requested size into a fresh SQLite file and a throwaway PostgreSQL database and
prints one JSON document with, per (size, backend): deals, history rows, activities, seconds,
deals per second and the database size on disk. Progress goes to stderr.

    .venv/bin/python benchmarks/demo_generation.py --sizes small,medium,large
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from topline.demo import SIZES, build_demo
from topline.storage.db import make_engine, normalize_database_url

BENCH_DATABASE = "topline_bench"


def main() -> None:
    """Parse arguments, run every (size, backend) build, print the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="small,medium", help="comma list of demo sizes")
    parser.add_argument("--backends", default="sqlite,postgresql", help="sqlite and/or postgresql")
    parser.add_argument(
        "--pg-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a PostgreSQL server to create the throwaway database on",
    )
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    sizes = [size.strip() for size in args.sizes.split(",") if size.strip()]
    unknown = [size for size in sizes if size not in SIZES]
    if unknown:
        parser.error(f"unknown sizes {unknown}; choose from {', '.join(SIZES)}")
    results = []
    for size in sizes:
        for backend in args.backends.split(","):
            results.append(_run(size, backend.strip(), args.pg_url, args.seed))
    json.dump({"seed": args.seed, "results": results}, sys.stdout, indent=2)
    sys.stdout.write("\n")


def _run(size: str, backend: str, pg_url: str, seed: int) -> dict[str, Any]:
    """Build one size on one backend and measure it."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="topline-bench-") as directory:
            path = Path(directory) / "demo.sqlite"
            engine = make_engine(f"sqlite:///{path}")
            result = _build(engine, size, backend, seed)
            engine.dispose()
            files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
            result["db_size_bytes"] = sum(f.stat().st_size for f in files if f.exists())
            return result
    if backend != "postgresql":
        raise SystemExit(f"unknown backend {backend!r}")
    admin = create_engine(normalize_database_url(pg_url), isolation_level="AUTOCOMMIT")
    _recreate(admin)
    url = make_url(normalize_database_url(pg_url)).set(database=BENCH_DATABASE)
    engine = make_engine(url.render_as_string(hide_password=False))
    try:
        result = _build(engine, size, backend, seed)
        with engine.connect() as connection:
            size_sql = text("SELECT pg_database_size(current_database())")
            result["db_size_bytes"] = int(connection.execute(size_sql).scalar_one())
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)'))
        admin.dispose()
    return result


def _recreate(admin: Engine) -> None:
    """A fresh, empty benchmark database."""
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{BENCH_DATABASE}"'))


def _build(engine: Engine, size: str, backend: str, seed: int) -> dict[str, Any]:
    """Build the demo (migrations included in the time) and report its numbers."""

    def progress(phase: str, done: int, total: int) -> None:
        print(f"{size}/{backend}: {phase} {done}/{total}", file=sys.stderr, flush=True)

    summary = build_demo(engine, size=size, seed=seed, progress=progress)
    return {
        "size": size,
        "backend": backend,
        "deals": summary.deals,
        "history_rows": summary.history_rows,
        "activities": summary.activities,
        "leads": summary.leads,
        "accounts": summary.accounts,
        "seconds": round(summary.seconds, 2),
        "deals_per_second": round(summary.deals / summary.seconds),
    }


if __name__ == "__main__":
    main()
