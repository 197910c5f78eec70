"""How fast `topline import` loads a big deals file with history, against a raw bulk load.

For each backend it writes a generated users/accounts/deals CSV set (the deals file has N
rows, each deal with five dated stages, so five history rows), imports users and accounts, then
imports the deals file in a child process (`topline import`, so parsing, validation, mapping,
history and the bulk writes are all in the timing, and the child's peak memory is measured).
In the same run it times the ceiling: the same deal and history rows, already built as tuples,
bulk-loaded into the same schema through the same driver fast path (sqlite3 executemany or
PostgreSQL COPY) with no parsing or checks. Prints one JSON document; progress goes to stderr.

    .venv/bin/python benchmarks/import.py                      # 1M deals, both databases
    .venv/bin/python benchmarks/import.py --rows 100000 --backends sqlite
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from topline.storage.db import make_engine, normalize_database_url  # noqa: E402
from topline.storage.migrate import upgrade_database  # noqa: E402

STAGES = ("Prospecting", "Qualification", "Discovery", "Proposal")
MAPPING = """
source: bench
files:
  - file: users.csv
    entity: users
  - file: accounts.csv
    entity: accounts
  - file: deals.csv
    entity: deals
    auto: false
    fields:
      key: id
      name: name
      owner: owner
      account: account
      stage: stage
      amount: amount
      close_date: close_date
      created_at: created
    history:
      - {at: created, stage: {value: Prospecting}}
      - {at: qualified, stage: {value: Qualification}}
      - {at: discovered, stage: {value: Discovery}}
      - {at: proposed, stage: {value: Proposal}}
      - {at: closed}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="deals in the file")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="topline-import-bench-") as tmp:
        workdir = Path(tmp)
        started = time.perf_counter()
        _write_files(workdir, args.rows, args.seed)
        _progress(f"wrote {args.rows:,} deals in {time.perf_counter() - started:.1f} s")
        (workdir / "mapping.yaml").write_text(MAPPING)
        for backend in args.backends.split(","):
            results[backend] = _run_backend(backend, workdir, args)
    print(json.dumps({"rows": args.rows, "history_rows_per_deal": 5, "results": results}, indent=2))


def _write_files(workdir: Path, rows: int, seed: int) -> None:
    rng = random.Random(seed)
    with (workdir / "users.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "name", "role"])
        for i in range(50):
            writer.writerow([f"rep{i}@bench.example", f"Rep {i}", "rep"])
    with (workdir / "accounts.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["account id", "name", "domain"])
        for i in range(10_000):
            writer.writerow([f"A{i}", f"Account {i}", f"account{i}.example"])
    start = date(2020, 1, 1)
    with (workdir / "deals.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["id", "name", "owner", "account", "stage", "amount", "close_date", "created",
             "qualified", "discovered", "proposed", "closed"]
        )  # fmt: skip
        for i in range(rows):
            created = start + timedelta(days=rng.randrange(1500))
            steps = [created + timedelta(days=7 * k + rng.randrange(5)) for k in range(5)]
            won = rng.random() < 0.4
            writer.writerow(
                [
                    f"D{i}", f"Deal {i}", f"rep{rng.randrange(50)}@bench.example",
                    f"A{rng.randrange(10_000)}", "Closed Won" if won else "Closed Lost",
                    f"{rng.randrange(1_000, 200_000)}.{rng.randrange(100):02d}",
                    steps[4].isoformat(), *(d.isoformat() for d in steps),
                ]
            )  # fmt: skip


def _run_backend(backend: str, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    url = _fresh_database(backend, workdir, args.pg_url, "topline_bench_import")
    engine = make_engine(url)
    upgrade_database(engine)
    _topline(["import", str(workdir / "users.csv"), str(workdir / "accounts.csv")], url, workdir)
    _progress(f"{backend}: importing {args.rows:,} deals")
    seconds, peak_kb = _topline(["import", str(workdir / "deals.csv")], url, workdir)
    with engine.connect() as connection:
        deals = connection.scalar(text("SELECT count(*) FROM deals"))
        history = connection.scalar(text("SELECT count(*) FROM deal_history"))
    engine.dispose()
    _progress(f"{backend}: {deals:,} deals, {history:,} history rows in {seconds:.1f} s")

    ceiling_url = _fresh_database(backend, workdir, args.pg_url, "topline_bench_ceiling")
    ceiling = make_engine(ceiling_url)
    upgrade_database(ceiling)
    ceiling_seconds = _ceiling(ceiling, workdir, args.rows)
    ceiling.dispose()
    rows = (deals or 0) + (history or 0)
    ceiling_rows = args.rows * 6
    result = {
        "deals": deals,
        "history_rows": history,
        "import_seconds": round(seconds, 2),
        "import_deals_per_second": round((deals or 0) / seconds),
        "import_rows_per_second": round(rows / seconds),
        "import_peak_rss_mib": round(peak_kb / 1024, 1),
        "ceiling_seconds": round(ceiling_seconds, 2),
        "ceiling_rows_per_second": round(ceiling_rows / ceiling_seconds),
        "ratio_to_ceiling": round((rows / seconds) / (ceiling_rows / ceiling_seconds), 3),
    }
    result["targets"] = [
        {"target": "ratio_to_ceiling >= 0.6", "value": result["ratio_to_ceiling"],
         "met": result["ratio_to_ceiling"] >= 0.6},
        {"target": "import_peak_rss_mib < 1024", "value": result["import_peak_rss_mib"],
         "met": result["import_peak_rss_mib"] < 1024},
    ]  # fmt: skip
    return result


# Runs the `topline` command and reports the child's own peak resident memory on stderr. Not
# getrusage's ru_maxrss: Linux carries the parent's high-water mark over into a child it forks
# and execs, so after a ceiling run built millions of tuples the child would report the
# parent's peak. VmHWM is the peak of the child's own address space (from its exec).
CHILD = """
import resource, sys
from topline.cli.main import app

def peak_kib():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

try:
    app(sys.argv[1:])
finally:
    print("PEAK_RSS_KIB", peak_kib(), file=sys.stderr)
"""


def _topline(arguments: list[str], url: str, workdir: Path) -> tuple[float, int]:
    """Run `topline …` in a child process: its wall time and peak resident memory (KiB)."""
    command = [
        sys.executable, "-c", CHILD, *arguments,
        "--mapping", str(workdir / "mapping.yaml"), "--db", url, "--format", "json",
    ]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, text=True, check=False,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )  # fmt: skip
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"import failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    peak = next(
        int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("PEAK_RSS")
    )
    return seconds, peak


def _ceiling(engine: Engine, workdir: Path, rows: int) -> float:
    """The same deals and history rows bulk-loaded with no parsing or checks: driver-ready
    tuples straight into sqlite3 `executemany` or PostgreSQL `COPY`."""
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO pipelines (id, name, is_default) VALUES (1, 'Sales', true)"
        ))  # fmt: skip
        for position, name in enumerate((*STAGES, "Closed Won", "Closed Lost")):
            kind = {"Closed Won": "won", "Closed Lost": "lost"}.get(name, "open")
            connection.execute(
                text("INSERT INTO stages (id, pipeline_id, name, position, probability, type) "
                     "VALUES (:id, 1, :name, :position, 0.5, :type)"),
                {"id": position + 1, "name": name, "position": position, "type": kind},
            )  # fmt: skip
        now = datetime(2025, 1, 1, tzinfo=UTC)
        connection.execute(
            text("INSERT INTO users (id, email, name, role, active, hired_at, created_at) "
                 "VALUES (1, 'r@x.example', 'R', 'rep', true, :now, :now)"),
            {"now": now},
        )  # fmt: skip
    deals_file = workdir / "deals.csv"
    with deals_file.open(newline="") as handle:
        raw = list(csv.reader(handle))[1 : rows + 1]
    postgres = engine.dialect.name == "postgresql"

    def moment(day: str) -> Any:
        value = datetime.fromisoformat(day).replace(tzinfo=UTC)
        return value if postgres else value.strftime("%Y-%m-%d %H:%M:%S.%f")

    # Driver-ready rows, built before the clock starts: the load alone is timed.
    deals: list[tuple[Any, ...]] = []
    history: list[tuple[Any, ...]] = []
    for deal_id, row in enumerate(raw, start=1):
        steps = [moment(day) for day in row[7:12]]
        stage_id = 5 if row[4] == "Closed Won" else 6
        close = date.fromisoformat(row[6]) if postgres else row[6]
        deals.append((deal_id, row[1], 1, 1, stage_id, 100, close, "closed", "new_business",
                      steps[0], steps[4], steps[4], 1))  # fmt: skip
        closed_type = "won" if stage_id == 5 else "lost"
        for k in range(5):
            valid_to = steps[k + 1] if k < 4 else None
            stage = k + 1 if k < 4 else stage_id
            # The marks: each row enters a new stage; the last one closes the deal.
            history.append(
                (len(history) + 1, deal_id, steps[k], valid_to, "stage", stage, 100, close,
                 "pipeline", 1, "open" if k < 4 else closed_type, k == 0, steps[k],
                 steps[4] if k == 4 else None)
            )  # fmt: skip
    deal_columns = (
        "id, name, owner_id, pipeline_id, stage_id, amount_cents, close_date, "
        "forecast_category, type, created_at, closed_at, updated_at, version"
    )
    history_columns = (
        "id, deal_id, valid_from, valid_to, changed_fields, stage_id, "
        "amount_cents, close_date, forecast_category, owner_id, stage_type, is_first, "
        "entered_at, closed_at"
    )
    connection = engine.connect()
    driver: Any = connection.connection.driver_connection
    started = time.perf_counter()
    with connection.begin():
        for table, columns, values in (
            ("deals", deal_columns, deals),
            ("deal_history", history_columns, history),
        ):
            if postgres:
                with (
                    driver.cursor() as cursor,
                    cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
                ):
                    for value in values:
                        copy.write_row(value)
            else:
                marks = ", ".join("?" for _ in columns.split(","))
                driver.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", values)
    seconds = time.perf_counter() - started
    connection.close()
    return seconds


def _fresh_database(backend: str, workdir: Path, pg_url: str, name: str) -> str:
    if backend == "sqlite":
        path = workdir / f"{name}.sqlite"
        for stale in workdir.glob(f"{name}.sqlite*"):
            stale.unlink()
        return f"sqlite:///{path}"
    admin_url = make_url(normalize_database_url(pg_url))
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return admin_url.set(database=name).render_as_string(hide_password=False)


def _progress(message: str) -> None:
    print(f"[import-bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
