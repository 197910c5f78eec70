"""How many requests a second the JSON API answers, and how fast, on SQLite and PostgreSQL.

Builds the demo org (medium by default) into a SQLite file and a throwaway PostgreSQL database,
serves each with `uvicorn --factory topline.web.app:create_app --workers 2` on loopback and
drives it with wrk (32 connections, 2 threads, 15 s per scenario) from a second process:

- `ceiling`: a bare FastAPI sync endpoint returning a constant (`benchmarks/ceiling_app.py`,
  same uvicorn and workers), what the server stack alone can do on this machine;
- `get_deal`: GET /api/v1/deals/{id}, ids at random across the org;
- `list_deals`: GET /api/v1/deals?status=open&owner_id=<rep>&sort=close_date&limit=50 (with
  the total count, the API's default), and `list_deals_no_total` (`with_total=false`);
- `patch_deal`: PATCH /api/v1/deals/{id} `{"version", "next_step"}`, each deal written by one
  connection at a time with the version the previous answer carried, so none should 409.

Prints one JSON document: per backend and scenario requests/s, latency percentiles (exact, from
wrk's histogram), non-2xx answers, socket errors and timeouts; the ratios to the ceiling; the
issue's targets with whether each is met; and the CPU the server, wrk, PostgreSQL and other
programs used meanwhile, so a busy machine shows. Progress goes to stderr. Needs wrk
(`apt-get install wrk`). The servers run with two asyncio fixes (TCP_NODELAY on accepted
sockets, connections spread over the workers) unless `--stock-uvicorn`; see the README.

    .venv/bin/python benchmarks/api_load.py > api_load.json
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.metadata
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

import topline.storage.all_models  # noqa: F401  (every mapper known before the first query)
from topline.auth.enums import Role
from topline.auth.models import User
from topline.auth.tokens import create_token
from topline.crm.enums import StageType
from topline.crm.models import Deal, Stage
from topline.demo import SIZES, build_demo
from topline.storage.db import make_engine, normalize_database_url

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WRK_DIR = HERE / "wrk"
BENCH_DATABASE = "topline_bench_api"
SECRET_KEY = "topline-api-load-benchmark"
HOST = "127.0.0.1"
SCENARIOS = ("ceiling", "get_deal", "list_deals", "list_deals_no_total", "patch_deal")
# The targets: read one deal at this share of the ceiling, with p99 under the limit;
# writes per second on PostgreSQL; and no errors or timeouts for the writers on either database.
GET_RATIO_TARGET = {"sqlite": 0.5, "postgresql": 0.3}
GET_P99_TARGET_MS = 100.0
PATCH_RPS_TARGET = {"postgresql": 400.0}
MARKER = "topline api_load demo"
NOISY_OTHER_CORES = 0.25
# Two fixes to the server processes' asyncio, injected as a sitecustomize module (PYTHONPATH)
# so that the servers themselves are plain `python -m uvicorn`; --stock-uvicorn leaves them out.
# 1. uvicorn --workers N binds the listening socket with proto 0, so asyncio does not set
#    TCP_NODELAY on accepted connections and every keep-alive answer after the first waits
#    ~40 ms for the client's delayed ACK (Kludex/uvicorn#3149): 32 connections then top out
#    near 700 requests/s whatever the app does.
# 2. A worker's event loop accepts up to `backlog` (2048) pending connections per wake-up, so
#    when wrk opens its 32 connections at once one worker often takes all of them and the
#    other idles for the whole run. Accepting one per wake-up spreads them over the workers.
SERVER_SITECUSTOMIZE = """\
\"\"\"Written by benchmarks/api_load.py for the servers it starts (see benchmarks/README.md).\"\"\"
import asyncio.base_events as _base
import asyncio.selector_events as _selector
import socket as _socket


def _set_nodelay(sock):
    if sock.family in (_socket.AF_INET, _socket.AF_INET6) and sock.type == _socket.SOCK_STREAM:
        sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)


_base._set_nodelay = _set_nodelay
_accept = _selector.BaseSelectorEventLoop._accept_connection


def _accept_connection(self, factory, sock, sslcontext=None, server=None, backlog=100, *args):
    return _accept(self, factory, sock, sslcontext, server, 1, *args)


_selector.BaseSelectorEventLoop._accept_connection = _accept_connection
"""
SERVER_PATCHES = ["tcp_nodelay_on_accepted_sockets", "accept_one_connection_per_wakeup"]


@dataclass
class Server:
    """A uvicorn master process (its own process group) and the log its workers write to."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    base_url: str
    worker_pids: list[int] = field(default_factory=list)
    keepalive_ms: float | None = None
    """Median time of sequential requests on one kept-alive connection: ~40 ms means Nagle."""


@dataclass
class Fixture:
    """What the scenarios need from the database."""

    token: str
    deal_ids: list[int]
    rep_id: int
    open_deal_ids: list[int]
    preflight_deal_id: int


def main() -> None:
    """Parse arguments, run every backend, print the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgresql", help="sqlite and/or postgresql")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma list")
    parser.add_argument("--size", default="medium", help="demo org size")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--pg-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a PostgreSQL server to create the benchmark database on",
    )
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per scenario")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before each scenario")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--timeout", type=float, default=5.0, help="wrk request timeout, s")
    parser.add_argument(
        "--stock-uvicorn",
        action="store_true",
        help="serve without the two asyncio fixes (TCP_NODELAY, spread accepts); see README",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the demo databases (SQLite under --cache-dir, PostgreSQL database "
        f"{BENCH_DATABASE}) after the run and reuse them when they hold the same size and seed",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "topline-bench-api",
        help="where --reuse keeps the SQLite file",
    )
    args = parser.parse_args()
    if args.size not in SIZES:
        parser.error(f"unknown size {args.size!r}; choose from {', '.join(SIZES)}")
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenarios {unknown}; choose from {', '.join(SCENARIOS)}")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if any(b not in {"sqlite", "postgresql"} for b in backends):
        parser.error("backends are sqlite and postgresql")
    if args.connections < args.threads:
        parser.error("wrk needs at least one connection per thread")
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit(
            "api_load.py needs wrk on PATH to drive the servers: apt-get install wrk "
            "(Debian/Ubuntu) or build it from https://github.com/wg/wrk"
        )

    report: dict[str, Any] = {
        "size": args.size,
        "seed": args.seed,
        "settings": {
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "connections": args.connections,
            "wrk_threads": args.threads,
            "uvicorn_workers": args.workers,
            "timeout_s": args.timeout,
            "server_patches": [] if args.stock_uvicorn else SERVER_PATCHES,
        },
        "environment": _environment(wrk),
        "results": {},
    }
    failed = False
    with tempfile.TemporaryDirectory(prefix="topline-api-load-") as tmp:
        workdir = Path(tmp)
        with contextlib.ExitStack() as servers:
            ceiling = None
            if "ceiling" in scenarios:
                ceiling = servers.enter_context(
                    _serve(
                        "ceiling",
                        ["--app-dir", str(HERE), "ceiling_app:app"],
                        dict(os.environ),
                        workdir,
                        args.workers,
                        patched=not args.stock_uvicorn,
                        python_path=[str(HERE)],
                        ready_path="/ceiling",
                    )
                )
            for backend in backends:
                try:
                    report["results"][backend] = _run_backend(
                        backend, args, scenarios, wrk, workdir, ceiling
                    )
                except Exception as exc:  # report the failure, still try the other backend
                    failed = True
                    _progress(f"{backend}: FAILED: {exc}")
                    report["results"][backend] = {"error": f"{type(exc).__name__}: {exc}"}
    report["warnings"] = _noise_warnings(report["results"])
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    if failed:
        sys.exit(1)


def _run_backend(
    backend: str,
    args: argparse.Namespace,
    scenarios: list[str],
    wrk: str,
    workdir: Path,
    ceiling: Server | None,
) -> dict[str, Any]:
    """Prepare one database, serve it, run the scenarios, judge the targets."""
    with _database(backend, args, workdir) as (url, database_info):
        engine = make_engine(url)
        try:
            fixture = _fixture(engine, args.connections)
        finally:
            engine.dispose()
        env = dict(os.environ, TOPLINE_DATABASE_URL=url, TOPLINE_SECRET_KEY=SECRET_KEY)
        env.pop("TOPLINE_SQL_ECHO", None)
        results: dict[str, Any] = {}
        with _serve(
            f"topline-{backend}",
            ["--factory", "topline.web.app:create_app"],
            env,
            workdir,
            args.workers,
            patched=not args.stock_uvicorn,
            ready_path="/healthz",
        ) as app:
            checks = _preflight(app.base_url, fixture)
            for scenario in scenarios:
                if scenario == "ceiling":
                    assert ceiling is not None
                    target = ceiling
                else:
                    target = app
                _progress(f"{backend}: {scenario} ({args.duration:g} s)")
                results[scenario] = _scenario(
                    scenario, target, fixture, url, args, wrk, workdir, backend
                )
                _progress(f"{backend}: {scenario}: {_brief(results[scenario])}")
    return {
        "database": database_info,
        "deals": len(fixture.deal_ids),
        "list_filter": {"status": "open", "owner_id": fixture.rep_id, "limit": 50},
        "preflight": checks,
        "scenarios": results,
        "ratios": _ratios(results),
        "cpu_cost_ratios": _cpu_cost_ratios(results),
        "targets": _targets(backend, results),
        "server_pids": {"master": app.process.pid, "workers": app.worker_pids},
        "keepalive_ms": {
            "app_healthz": app.keepalive_ms,
            "ceiling": ceiling.keepalive_ms if ceiling else None,
        },
    }


# --- databases ---------------------------------------------------------------------------


@contextlib.contextmanager
def _database(
    backend: str, args: argparse.Namespace, workdir: Path
) -> Iterator[tuple[str, dict[str, Any]]]:
    """The URL of a database holding the demo org, built now or reused; dropped unless reused."""
    if backend == "sqlite":
        yield _sqlite_database(args, workdir)
        return
    admin = create_engine(normalize_database_url(args.pg_url), isolation_level="AUTOCOMMIT")
    url = make_url(normalize_database_url(args.pg_url)).set(database=BENCH_DATABASE)
    rendered = url.render_as_string(hide_password=False)
    marker = f"{MARKER} size={args.size} seed={args.seed}"
    try:
        info: dict[str, Any] = {"name": BENCH_DATABASE}
        if args.reuse and _pg_marker(admin) == marker:
            _progress(f"postgresql: reusing database {BENCH_DATABASE}")
            info["reused"] = True
        else:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)'))
                connection.execute(text(f'CREATE DATABASE "{BENCH_DATABASE}"'))
            engine = make_engine(rendered)
            try:
                info.update(_build(engine, "postgresql", args))
            finally:
                engine.dispose()
            with admin.connect() as connection:
                comment = marker.replace("'", "''")
                connection.execute(text(f"COMMENT ON DATABASE \"{BENCH_DATABASE}\" IS '{comment}'"))
        yield rendered, info
    finally:
        if not args.reuse:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)'))
        admin.dispose()


def _pg_marker(admin: Engine) -> str | None:
    with admin.connect() as connection:
        marker: str | None = connection.scalar(
            text(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                "WHERE datname = :name"
            ),
            {"name": BENCH_DATABASE},
        )
    return marker


def _sqlite_database(args: argparse.Namespace, workdir: Path) -> tuple[str, dict[str, Any]]:
    if args.reuse:
        args.cache_dir.mkdir(parents=True, exist_ok=True)
        path = args.cache_dir / f"{args.size}-seed{args.seed}.sqlite"
    else:
        path = workdir / "demo.sqlite"
    marker_path = path.with_name(path.name + ".built")
    url = f"sqlite:///{path}"
    info: dict[str, Any] = {"path": str(path)}
    if args.reuse and path.exists() and marker_path.exists():
        _progress(f"sqlite: reusing {path}")
        info["reused"] = True
        return url, info
    for stale in (path, marker_path, *_sqlite_sidecars(path)):
        stale.unlink(missing_ok=True)
    engine = make_engine(url)
    try:
        info.update(_build(engine, "sqlite", args))
    finally:
        engine.dispose()
    marker_path.write_text(f"{MARKER} size={args.size} seed={args.seed}\n")
    return url, info


def _sqlite_sidecars(path: Path) -> list[Path]:
    return [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]


def _build(engine: Engine, backend: str, args: argparse.Namespace) -> dict[str, Any]:
    def progress(phase: str, done: int, total: int) -> None:
        _progress(f"{backend}: build {args.size} {phase} {done}/{total}")

    summary = build_demo(engine, size=args.size, seed=args.seed, progress=progress)
    return {"reused": False, "build_seconds": round(summary.seconds, 1)}


def _fixture(engine: Engine, connections: int) -> Fixture:
    """A fresh admin token, every deal id, the rep with most open deals, and open deals to edit."""
    with Session(engine) as session, session.begin():
        admin = session.scalars(
            select(User).where(User.role == Role.ADMIN, User.active.is_(True)).order_by(User.id)
        ).first()
        if admin is None:
            raise RuntimeError("the demo org has no active admin")
        _, plain = create_token(session, user=admin, name=f"api_load benchmark {time.time():.0f}")
        deal_ids = list(session.scalars(select(Deal.id).order_by(Deal.id)))
        open_stage_ids = select(Stage.id).where(Stage.type == StageType.OPEN)
        rep_id = session.execute(
            select(Deal.owner_id)
            .join(User, User.id == Deal.owner_id)
            .where(Deal.stage_id.in_(open_stage_ids), User.role == Role.REP)
            .group_by(Deal.owner_id)
            .order_by(func.count().desc(), Deal.owner_id)
            .limit(1)
        ).scalar_one()
        open_ids = list(
            session.scalars(
                select(Deal.id).where(Deal.stage_id.in_(open_stage_ids)).order_by(Deal.id)
            )
        )
    # Deals for the writers, spread evenly over the open ones (over all when a small org has
    # too few): half for the warm-up, half measured; the first is kept for the preflight
    # check so its write never races a measured one. Closed deals take a next_step too.
    wanted = 4 * connections + 1
    candidates = open_ids if len(open_ids) >= wanted else deal_ids
    if len(candidates) < wanted:
        raise RuntimeError(f"only {len(candidates)} deals; {connections} writers need {wanted}")
    spread = candidates[:: len(candidates) // wanted][:wanted]
    return Fixture(
        token=plain,
        deal_ids=deal_ids,
        rep_id=rep_id,
        open_deal_ids=spread[1:],
        preflight_deal_id=spread[0],
    )


def _versions(url: str, deal_ids: list[int]) -> list[tuple[int, int]]:
    """The current version of each deal (read just before the writers start)."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(Deal.id, Deal.version).where(Deal.id.in_(deal_ids)).order_by(Deal.id)
            ).all()
    finally:
        engine.dispose()
    return [(row.id, row.version) for row in rows]


# --- servers -----------------------------------------------------------------------------


@contextlib.contextmanager
def _serve(
    name: str,
    app_args: list[str],
    env: dict[str, str],
    workdir: Path,
    workers: int,
    *,
    patched: bool,
    ready_path: str,
    python_path: list[str] | None = None,
) -> Iterator[Server]:
    """A uvicorn with `workers` processes on a free loopback port, stopped on the way out."""
    port = _free_port()
    log_path = workdir / f"{name}.log"
    paths = list(python_path or [])
    if patched:
        site = workdir / "site"
        site.mkdir(exist_ok=True)
        (site / "sitecustomize.py").write_text(SERVER_SITECUSTOMIZE)
        paths.insert(0, str(site))
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env = {**env, "PYTHONPATH": os.pathsep.join(paths)} if paths else env
    command = [
        sys.executable, "-m", "uvicorn", *app_args,
        "--host", HOST, "--port", str(port), "--workers", str(workers),
        "--no-access-log", "--log-level", "info",
    ]  # fmt: skip
    _progress(f"{name}: starting uvicorn on {HOST}:{port} ({workers} workers)")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    server = Server(name, process, log_path, f"http://{HOST}:{port}")
    try:
        _wait_ready(server, ready_path, workers)
        yield server
    finally:
        _stop(server)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _wait_ready(server: Server, path: str, workers: int, timeout: float = 90.0) -> None:
    """Until every worker has started and the server answers `path` with 200."""
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited at start:\n{_tail(server.log_path)}")
        log = server.log_path.read_text(errors="replace")
        started = log.count("Application startup complete")
        if started >= workers and _status(server.base_url + path) == 200:
            server.worker_pids = [
                int(pid) for pid in re.findall(r"Started server process \[(\d+)\]", log)
            ]
            server.keepalive_ms = _keepalive_ms(port_of(server), path)
            return
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{server.name} not ready after {timeout:g} s:\n{_tail(server.log_path)}"
            )
        time.sleep(0.2)


def port_of(server: Server) -> int:
    return int(server.base_url.rsplit(":", 1)[1])


def _keepalive_ms(port: int, path: str, requests: int = 7) -> float:
    """The median time of `requests` sequential GETs of `path` on one connection."""
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    times = []
    try:
        for _ in range(requests):
            started = time.perf_counter()
            connection.request("GET", path)
            connection.getresponse().read()
            times.append((time.perf_counter() - started) * 1000)
    finally:
        connection.close()
    return round(statistics.median(times[1:]), 2)


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def _stop(server: Server) -> None:
    """SIGTERM the server's process group, SIGKILL it if it lingers."""
    if server.process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait(timeout=5)
    # Workers left behind by a master that died first.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(server.process.pid, signal.SIGKILL)
    _progress(f"{server.name}: stopped")


def _tail(log_path: Path, lines: int = 30) -> str:
    return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])


# --- scenarios ---------------------------------------------------------------------------


def _list_query(fixture: Fixture, *, with_total: bool) -> str:
    query = f"/api/v1/deals?status=open&owner_id={fixture.rep_id}&sort=close_date&limit=50"
    return query if with_total else query + "&with_total=false"


def _preflight(base_url: str, fixture: Fixture) -> dict[str, Any]:
    """One request of each kind, checked, so a broken setup fails before any load."""
    auth = {"Authorization": f"Bearer {fixture.token}"}
    deal = _request(base_url + f"/api/v1/deals/{fixture.preflight_deal_id}", auth)
    page = _request(base_url + _list_query(fixture, with_total=True), auth)
    bare = _request(base_url + _list_query(fixture, with_total=False), auth)
    note = f"api_load preflight {time.time_ns()}"
    body = json.dumps({"version": deal["version"], "next_step": note}).encode()
    patched = _request(
        base_url + f"/api/v1/deals/{fixture.preflight_deal_id}",
        {**auth, "Content-Type": "application/json"},
        method="PATCH",
        data=body,
    )
    if patched["version"] != deal["version"] + 1:
        raise RuntimeError(f"PATCH did not bump the version: {deal['version']} → {patched}")
    return {
        "list_items": len(page["items"]),
        "list_total": page["total"],
        "list_no_total_items": len(bare["items"]),
        "deal_response_bytes": len(json.dumps(deal, separators=(",", ":"))),
    }


def _request(
    url: str, headers: dict[str, str], *, method: str = "GET", data: bytes | None = None
) -> Any:
    request = urllib.request.Request(url, headers=headers, method=method, data=data)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"{method} {url} answered {exc.code}: {exc.read()[:500]!r}") from exc


def _scenario(
    scenario: str,
    server: Server,
    fixture: Fixture,
    url: str,
    args: argparse.Namespace,
    wrk: str,
    workdir: Path,
    backend: str,
) -> dict[str, Any]:
    """Warm up, then measure one scenario with wrk."""
    script_args: list[str] = []
    if scenario == "ceiling":
        script, path = "static.lua", "/ceiling"
    elif scenario == "get_deal":
        ids_file = workdir / "deal_ids.txt"
        ids_file.write_text("\n".join(map(str, fixture.deal_ids)) + "\n")
        script, path, script_args = "get_deal.lua", "/api/v1/deals/1", [str(ids_file)]
    elif scenario in {"list_deals", "list_deals_no_total"}:
        script = "static.lua"
        path = _list_query(fixture, with_total=scenario == "list_deals")
    else:
        script, path = "patch_deal.lua", "/api/v1/deals/1"
    half = len(fixture.open_deal_ids) // 2
    if args.warmup > 0:
        if scenario == "patch_deal":  # warm up on other deals than the measured ones
            script_args = [
                _deals_file(url, fixture.open_deal_ids[:half], workdir),
                str(args.threads),
            ]
        _wrk(wrk, server, fixture, script, path, script_args, args, args.warmup)
    if scenario == "patch_deal":
        time.sleep(0.5)  # writes abandoned by the warm-up finish before versions are read
        script_args = [_deals_file(url, fixture.open_deal_ids[half:], workdir), str(args.threads)]
    before, wrk_before = _cpu_snapshot(), _children_cpu()
    log_offset = server.log_path.stat().st_size
    sessions_before = _pg_sessions(url)
    raw = _wrk(wrk, server, fixture, script, path, script_args, args, args.duration)
    seconds = raw["duration_us"] / 1e6
    result = _summarise(raw, exact_status=scenario == "patch_deal")
    cores = _cpu_use(before, _cpu_snapshot(), server, _children_cpu() - wrk_before, seconds)
    result["cpu_cores"] = cores
    if cores and result["requests_per_second"]:
        # CPU the benchmark's own processes spent per request: it depends much less than
        # requests/s on what else the machine is doing
        spent = cores["server"] + cores["postgres"] + cores["wrk"]
        result["cpu_ms_per_request"] = round(spent * 1000 / result["requests_per_second"], 3)
    sessions_after = _pg_sessions(url)
    if sessions_before is not None and sessions_after is not None:
        # connections the app opened while measured (a steady pool opens none); the
        # reading itself is one session
        result["pg_connections_opened"] = sessions_after - sessions_before - 1
    if result["errors_total"]:
        result["server_log_errors"] = _log_errors(server.log_path, log_offset)
    return result


def _pg_sessions(url: str) -> int | None:
    """Sessions PostgreSQL has opened to the benchmark database so far (None on SQLite)."""
    if not url.startswith("postgresql"):
        return None
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            sessions = connection.scalar(
                text("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
            )
    finally:
        engine.dispose()
    return int(sessions) if sessions is not None else None


def _children_cpu() -> float:
    """CPU seconds of this process's finished children (wrk, once it has exited)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _log_errors(log_path: Path, offset: int) -> dict[str, int]:
    """The last line of each traceback (and ERROR lines) the server logged since `offset`."""
    with log_path.open("rb") as log:
        log.seek(offset)
        lines = log.read().decode(errors="replace").splitlines()
    found: dict[str, int] = {}
    for line in lines:
        if re.match(r"^[\w.]+(Error|Exception|Warning)\b|^ERROR:", line):
            key = line[:300]
            found[key] = found.get(key, 0) + 1
    return found


def _deals_file(url: str, deal_ids: list[int], workdir: Path) -> str:
    path = workdir / "patch_deals.txt"
    path.write_text(
        "".join(f"{deal_id} {version}\n" for deal_id, version in _versions(url, deal_ids))
    )
    return str(path)


def _wrk(
    wrk: str,
    server: Server,
    fixture: Fixture,
    script: str,
    path: str,
    script_args: list[str],
    args: argparse.Namespace,
    seconds: float,
) -> dict[str, Any]:
    command = [
        wrk, "--threads", str(args.threads), "--connections", str(args.connections),
        "--duration", f"{max(1, round(seconds))}s", "--timeout", f"{args.timeout:g}s",
        "--script", str(WRK_DIR / script),
        "--header", f"Authorization: Bearer {fixture.token}",
        server.base_url + path, *(["--", *script_args] if script_args else []),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    spread = None
    try:
        time.sleep(seconds / 2)
        spread = _connections_per_worker(server)
        stdout, stderr = process.communicate(timeout=seconds / 2 + args.timeout + 60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed ({process.returncode}): {stderr.strip()}")
    for line in stdout.splitlines():
        if line.startswith("API_LOAD_JSON "):
            raw = dict(json.loads(line.removeprefix("API_LOAD_JSON ")))
            raw["connections_per_worker"] = spread
            return raw
    raise RuntimeError(f"no summary from wrk:\n{stdout}\n{stderr}")


def _connections_per_worker(server: Server) -> list[int] | None:
    """How many established client connections each worker holds (Linux /proc), mid-run."""
    port = f"{port_of(server):04X}"
    try:
        inodes = set()
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1].endswith(":" + port) and fields[3] == "01":  # local port, ESTABLISHED
                inodes.add(fields[9])
        counts = []
        for pid in server.worker_pids:
            links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
            counts.append(
                sum(link[8:-1] in inodes for link in links if link.startswith("socket:["))
            )
    except OSError:
        return None
    return counts


@dataclass
class CpuSnapshot:
    """Machine-wide busy CPU seconds and each process's (name, CPU seconds), from /proc."""

    busy: float
    processes: dict[int, tuple[str, float]]


def _cpu_snapshot() -> CpuSnapshot | None:
    try:
        fields = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None  # not Linux: no CPU accounting
    ticks = os.sysconf("SC_CLK_TCK")
    busy = (sum(fields) - fields[3] - fields[4]) / ticks  # all but idle and iowait
    processes = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        rest = raw[raw.rindex(")") + 2 :].split()  # fields from the third (state) on
        cpu = (int(rest[11]) + int(rest[12])) / ticks  # utime + stime
        processes[int(entry.name)] = (raw[raw.index("(") + 1 : raw.rindex(")")], cpu)
    return CpuSnapshot(busy, processes)


def _cpu_use(
    before: CpuSnapshot | None,
    after: CpuSnapshot | None,
    server: Server,
    wrk_cpu: float,
    seconds: float,
) -> dict[str, Any] | None:
    """Cores used during the run: the server's processes, wrk, PostgreSQL and everything else.

    `other` is what this machine did besides the benchmark (it skews the numbers when large).
    """
    if before is None or after is None or seconds <= 0:
        return None
    server_pids = {server.process.pid, *server.worker_pids}
    used = {"server": 0.0, "wrk": wrk_cpu, "postgres": 0.0}
    workers = dict.fromkeys(server.worker_pids, 0.0)
    for pid, (name, cpu) in after.processes.items():
        delta = cpu - before.processes.get(pid, (name, 0.0))[1]
        if pid in server_pids:
            used["server"] += delta
            if pid in workers:
                workers[pid] = delta
        elif name == "postgres":
            used["postgres"] += delta
    busy = after.busy - before.busy
    cores: dict[str, Any] = {name: round(value / seconds, 2) for name, value in used.items()}
    # one worker near 1.0 and the other well below means the connections are unevenly spread
    cores["server_per_worker"] = [round(value / seconds, 2) for value in workers.values()]
    cores["machine_busy"] = round(busy / seconds, 2)
    cores["other"] = round(max(0.0, busy - sum(used.values())) / seconds, 2)
    return cores


def _summarise(raw: dict[str, Any], *, exact_status: bool) -> dict[str, Any]:
    """wrk's numbers in the report's terms (milliseconds, requests per second, error counts)."""
    seconds = raw["duration_us"] / 1e6
    errors = raw["errors"]
    counters = raw.get("counters", {})
    # wrk itself counts answers with a status of 400 or more; the write script counts exactly.
    non_2xx = counters["non_2xx"] if exact_status else errors["status"]
    socket_errors = {name: errors[name] for name in ("connect", "read", "write")}
    latency = raw.get("latency_us", {})

    def ms(key: str) -> float | None:
        return round(latency[key] / 1000, 2) if key in latency else None

    result: dict[str, Any] = {
        "requests": raw["requests"],
        "seconds": round(seconds, 2),
        "requests_per_second": round(raw["requests"] / seconds, 1) if seconds else 0.0,
        "p50_ms": ms("p50"),
        "p90_ms": ms("p90"),
        "p99_ms": ms("p99"),
        "p99_9_ms": ms("p99_9"),
        "max_ms": ms("max"),
        "mean_ms": ms("mean"),
        "non_2xx": non_2xx,
        "socket_errors": socket_errors,
        "timeouts": errors["timeout"],
        "errors_total": non_2xx + sum(socket_errors.values()) + errors["timeout"],
    }
    result["connections_per_worker"] = raw.get("connections_per_worker")
    if exact_status:
        result["conflicts_409"] = counters.get("conflicts", 0)
        result["answers_without_deal"] = counters.get("unparsed", 0)
        result["starved_requests"] = counters.get("starved", 0)
    return result


def _ratios(results: dict[str, Any]) -> dict[str, float]:
    ceiling = results.get("ceiling", {}).get("requests_per_second")
    if not ceiling:
        return {}
    return {
        f"{name}/ceiling": round(result["requests_per_second"] / ceiling, 3)
        for name, result in results.items()
        if name != "ceiling"
    }


def _cpu_cost_ratios(results: dict[str, Any]) -> dict[str, float]:
    """Ceiling's CPU per request over each scenario's: the throughput ratio to expect when the
    benchmark has the machine to itself (all cores busy with it), whatever else ran meanwhile."""
    ceiling = results.get("ceiling", {}).get("cpu_ms_per_request")
    if not ceiling:
        return {}
    return {
        f"{name}/ceiling": round(ceiling / result["cpu_ms_per_request"], 3)
        for name, result in results.items()
        if name != "ceiling" and result.get("cpu_ms_per_request")
    }


def _targets(backend: str, results: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets that apply to this backend and were measured, each met or not."""
    targets: list[dict[str, Any]] = []

    def add(name: str, value: float, op: str, limit: float) -> None:
        met = value >= limit if op == ">=" else value < limit if op == "<" else value == limit
        targets.append({"target": f"{name} {op} {limit:g}", "value": value, "met": met})

    ratios = _ratios(results)
    if "get_deal/ceiling" in ratios:
        add("get_deal/ceiling", ratios["get_deal/ceiling"], ">=", GET_RATIO_TARGET[backend])
    if "get_deal" in results and results["get_deal"]["p99_ms"] is not None:
        add("get_deal p99_ms", results["get_deal"]["p99_ms"], "<", GET_P99_TARGET_MS)
    if "patch_deal" in results:
        patch = results["patch_deal"]
        if backend in PATCH_RPS_TARGET:
            add(
                "patch_deal requests/s",
                patch["requests_per_second"],
                ">=",
                PATCH_RPS_TARGET[backend],
            )
        add("patch_deal errors (non-2xx, socket, timeouts)", patch["errors_total"], "==", 0)
    for name, result in results.items():
        if name != "patch_deal":
            add(f"{name} errors (non-2xx, socket, timeouts)", result["errors_total"], "==", 0)
    return targets


def _noise_warnings(results: dict[str, Any]) -> list[str]:
    """Scenarios during which other programs used a sizeable share of the CPU."""
    warnings = []
    for backend, result in results.items():
        for name, scenario in result.get("scenarios", {}).items():
            other = (scenario.get("cpu_cores") or {}).get("other", 0.0)
            if other > NOISY_OTHER_CORES:
                churn = scenario.get("pg_connections_opened") or 0
                warnings.append(
                    f"{backend}/{name}: other programs used {other} cores during the run; "
                    "its numbers (and ratios) are low by roughly that share of the machine"
                    + (
                        f" (this includes the PostgreSQL backends of the {churn} connections "
                        "the app opened and closed meanwhile: they exit before they are counted)"
                        if churn
                        else ""
                    )
                )
    return warnings


def _brief(result: dict[str, Any]) -> str:
    return (
        f"{result['requests_per_second']:.0f} req/s, p50 {result['p50_ms']} ms, "
        f"p99 {result['p99_ms']} ms, errors {result['errors_total']}"
    )


# --- misc --------------------------------------------------------------------------------


def _environment(wrk: str) -> dict[str, Any]:
    version = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    first = (version.stdout or version.stderr).splitlines()

    def installed(name: str) -> str | None:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return None

    return {
        "cpus": os.cpu_count(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "wrk": first[0].strip() if first else None,
        "uvicorn": installed("uvicorn"),
        "fastapi": installed("fastapi"),
        "sqlalchemy": installed("sqlalchemy"),
        # uvicorn picks httptools and uvloop when installed, else h11 and asyncio
        "httptools": installed("httptools"),
        "uvloop": installed("uvloop"),
    }


def _progress(message: str) -> None:
    print(f"[api_load {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
