"""How long each page takes the server to render, on SQLite and PostgreSQL.

Builds the demo org (medium by default) once per database and keeps it for the next run (the
SQLite file under `~/.cache/topline-bench/`, the PostgreSQL database
`topline_bench_pages_<size>`). Then it finds every HTML page of the web app from its routes
(GET routes of `topline.web.views` that answer HTML, but not sign-in and sign-out), fills the
path parameters with realistic ids from the org, and requests each page in-process through
the app (no network, no browser): once to warm up, then `--repeat` times, timing the
server's work from the request reaching the app to the last byte of its answer.

Pages are requested as the manager with the largest reporting subtree and as the rep with the
most open deals; admin pages (`/admin…`, `/imports…`, and any page the manager is refused) as
the admin. For every page and viewer it reports the status, median, p90 and max in ms, the
SQL statements per request with their time and the three slowest, and whether the median meets
the target (300 ms). `--org large` times only the dashboard and its two late panels on the
~1M-deal org that `benchmarks/reports.py` builds and caches (targets: 1 s on SQLite, 500 ms on
PostgreSQL).
Prints one JSON document; progress goes to stderr.

    .venv/bin/python benchmarks/pages.py --output /tmp/pages-medium.json
    .venv/bin/python benchmarks/pages.py --databases sqlite --pages reports --repeat 3
    .venv/bin/python benchmarks/pages.py --org large --profile
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import importlib.metadata
import io
import itertools
import json
import os
import platform
import pstats
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Receive, Scope, Send

import topline.storage.all_models  # noqa: F401  (every mapper known before the first query)
from topline.analytics.catalog import REPORTS
from topline.auth.enums import Role
from topline.auth.models import Team, User
from topline.config import Settings
from topline.crm.enums import StageType
from topline.crm.models import Activity, Contact, Deal, Lead, Pipeline, Stage
from topline.demo import DEMO_PASSWORD, SIZES, build_demo
from topline.importers.models import ImportJob
from topline.storage.db import make_engine, normalize_database_url
from topline.storage.migrate import current_revision, head_revision, upgrade_database
from topline.web.app import SESSION_COOKIE, create_app
from topline.web.deps import DbSession, RequestTransaction, get_transaction

HERE = Path(__file__).resolve().parent
CACHE = Path.home() / ".cache" / "topline-bench"
PG_DATABASE_PREFIX = "topline_bench_pages"
MARKER = "topline pages demo"
SECRET_KEY = "topline-pages-benchmark"
# The targets: every page at the median on the medium org; the dashboard on the large.
TARGET_MS = 300.0
LARGE_TARGET_MS = {"sqlite": 1000.0, "postgresql": 500.0}
# The dashboard, and its trend and teams panels, which the page loads after it (htmx).
LARGE_ROUTES = ("/dashboard", "/dashboard/trend", "/dashboard/teams")
# Not pages: signing in and out, files, the JSON API and its docs.
EXCLUDED_PREFIXES = ("/login", "/logout", "/static", "/assets", "/api", "/docs")
ADMIN_PREFIXES = ("/admin", "/imports")
_PARAM = re.compile(r"{([^}:]+)(?::[^}]*)?}")
# Statements of the transaction's own bookkeeping are not the page's queries.
_NOT_QUERIES = re.compile(r"^\s*(BEGIN|SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK TO SAVEPOINT)\b", re.I)


@dataclass(frozen=True)
class Viewer:
    """A demo user the pages are requested as."""

    role: str
    user_id: int
    email: str
    name: str


@dataclass(frozen=True)
class Page:
    """One URL to time: a route with its path parameters filled in (or why they could not be)."""

    route: str
    url: str
    viewers: tuple[str, ...]
    skipped: str | None = None


@dataclass
class SqlMeter:
    """Counts and times the statements an engine runs; requests run one at a time here.

    The time is spent inside the driver's `execute`: on PostgreSQL that includes fetching the
    rows, on SQLite only the first step, so there it undercounts queries returning many rows.
    """

    statements: list[tuple[float, str]] = field(default_factory=list)
    _engine: Engine | None = field(default=None, repr=False)

    def attach(self, engine: Engine) -> None:
        self._engine = engine
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def detach(self) -> None:
        if self._engine is not None:
            event.remove(self._engine, "before_cursor_execute", self._before)
            event.remove(self._engine, "after_cursor_execute", self._after)
            self._engine = None

    @property
    def count(self) -> int:
        return len(self.statements)

    @property
    def seconds(self) -> float:
        return sum(elapsed for elapsed, _ in self.statements)

    def slowest(self, n: int = 3) -> list[dict[str, Any]]:
        """The `n` slowest statements, their text shortened."""
        ranked = sorted(self.statements, key=lambda item: item[0], reverse=True)[:n]
        return [
            {"ms": round(elapsed * 1000, 1), "sql": " ".join(sql.split())[:400]}
            for elapsed, sql in ranked
        ]

    def reset(self) -> None:
        self.statements = []

    def _before(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        conn.info.setdefault("pages_bench_started", []).append(time.perf_counter())

    def _after(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        elapsed = time.perf_counter() - conn.info["pages_bench_started"].pop()
        if _NOT_QUERIES.match(statement):
            return
        self.statements.append((elapsed, statement))


class ServerClock:
    """Wraps the app and times each HTTP request from its arrival to the last byte sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.last_seconds = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            self.last_seconds = time.perf_counter() - started


class ProfiledTransaction(RequestTransaction):
    """The request's unit of work, profiling the request's worker thread while it lasts.

    `TransactionRoute` begins it before authenticating the viewer and closes it after the
    endpoint (the template is rendered by then), all in the one worker thread the request uses.
    """

    def __init__(self, session: Session, profiler: cProfile.Profile) -> None:
        super().__init__(session)
        self.profiler = profiler

    def begin(self) -> None:
        self.profiler.enable()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.profiler.disable()


def main() -> None:
    """Parse arguments, measure each database, print (and write) the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--org", default="medium", help="demo org size (large: the dashboard and its panels)"
    )
    parser.add_argument("--databases", default="sqlite,postgresql", help="sqlite and/or postgresql")
    parser.add_argument("--repeat", type=int, default=7, help="timed requests per page and viewer")
    parser.add_argument("--pages", default="", help="only URLs containing this text")
    parser.add_argument("--output", type=Path, help="also write the JSON here")
    parser.add_argument("--profile", action="store_true", help="add each page's top functions")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--rebuild", action="store_true", help="build the org even if cached")
    args = parser.parse_args()
    if args.org not in SIZES:
        parser.error(f"unknown org size {args.org!r}; choose from {', '.join(SIZES)}")
    databases = [name.strip() for name in args.databases.split(",") if name.strip()]
    if any(name not in {"sqlite", "postgresql"} for name in databases):
        parser.error("databases are sqlite and postgresql")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    report: dict[str, Any] = {
        "org": args.org,
        "seed": args.seed,
        "settings": {"repeat": args.repeat, "warmup": 1, "pages_filter": args.pages or None},
        "environment": _environment(),
        "results": {},
    }
    failed = False
    for backend in databases:
        try:
            with _database(backend, args) as (engine, info):
                targets = _targets(args.org, backend)
                result = measure(
                    engine,
                    repeat=args.repeat,
                    pages_filter=args.pages,
                    routes=LARGE_ROUTES if args.org == "large" else None,
                    target_ms=targets,
                    profile=args.profile,
                    progress=_prefixed_log(backend),
                )
                report["results"][backend] = {
                    "database": info,
                    **result,
                    "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
                }
        except Exception as exc:  # report the failure, still measure the other database
            failed = True
            _log(f"{backend}: FAILED: {type(exc).__name__}: {exc}")
            report["results"][backend] = {"error": f"{type(exc).__name__}: {exc}"}
    report["missed_targets"] = missed_targets(report["results"])
    report["warnings"] = _busy_warnings(report)
    document = json.dumps(report, indent=2) + "\n"
    sys.stdout.write(document)
    if args.output is not None:
        args.output.write_text(document)
    if failed:
        sys.exit(1)


def _targets(org: str, backend: str) -> float:
    return LARGE_TARGET_MS[backend] if org == "large" else TARGET_MS


def _prefixed_log(prefix: str) -> Callable[[str], None]:
    return lambda message: _log(f"{prefix}: {message}")


def _log(message: str) -> None:
    print(f"[pages {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- databases ---------------------------------------------------------------------------


@contextlib.contextmanager
def _database(backend: str, args: argparse.Namespace) -> Iterator[tuple[Engine, dict[str, Any]]]:
    """An engine on the demo org, built now or found from an earlier run; disposed after."""
    if args.org == "large":
        engine, info = _large_database(backend, args)
    elif backend == "sqlite":
        engine, info = _sqlite_database(args)
    else:
        engine, info = _pg_database(args)
    try:
        _migrate(engine, info)
        yield engine, info
    finally:
        engine.dispose()


def _migrate(engine: Engine, info: dict[str, Any]) -> None:
    """Bring a cached org's schema up to this checkout's migrations, as a deployment would."""
    found = current_revision(engine)
    if found != head_revision():
        _log(f"{engine.dialect.name}: migrating the cached org from {found}")
        upgrade_database(engine)
        info["migrated_from"] = found
    info["revision"] = current_revision(engine)


def _large_database(backend: str, args: argparse.Namespace) -> tuple[Engine, dict[str, Any]]:
    """The large org of `benchmarks/reports.py`, from its cache (built there when missing)."""
    sys.path.insert(0, str(HERE))
    try:
        import reports as reports_bench
    finally:
        sys.path.remove(str(HERE))
    options = argparse.Namespace(size="large", seed=args.seed, reuse=True, pg_url=args.pg_url)
    if backend == "sqlite":
        path = reports_bench.CACHE / f"reports-large-{args.seed}.sqlite"
        info: dict[str, Any] = {"path": str(path), "reused": path.exists()}
    else:
        info = {"name": reports_bench.BENCH_DATABASE}
    _log(f"{backend}: large org ({'reusing' if info.get('reused') else 'building or reusing'})")
    started = time.perf_counter()
    engine = reports_bench._database(backend, options)
    info["ready_seconds"] = round(time.perf_counter() - started, 1)
    return engine, info


def _sqlite_database(args: argparse.Namespace) -> tuple[Engine, dict[str, Any]]:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"pages-{args.org}-{args.seed}.sqlite"
    marker_path = path.with_name(path.name + ".built")
    info: dict[str, Any] = {"path": str(path)}
    if not args.rebuild and path.exists() and marker_path.exists():
        _log(f"sqlite: reusing {path}")
        info["reused"] = True
        return make_engine(f"sqlite:///{path}"), info
    for stale in (marker_path, *path.parent.glob(path.name + "*")):
        stale.unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{path}")
    info.update(_build(engine, "sqlite", args.org, args.seed))
    marker_path.write_text(f"{MARKER} size={args.org} seed={args.seed}\n")
    return engine, info


def _pg_database(args: argparse.Namespace) -> tuple[Engine, dict[str, Any]]:
    name = f"{PG_DATABASE_PREFIX}_{args.org}"
    marker = f"{MARKER} size={args.org} seed={args.seed}"
    admin = create_engine(normalize_database_url(args.pg_url), isolation_level="AUTOCOMMIT")
    url = make_url(normalize_database_url(args.pg_url)).set(database=name)
    info: dict[str, Any] = {"name": name}
    try:
        with admin.connect() as connection:
            found = connection.scalar(
                text(
                    "SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                    "WHERE datname = :name"
                ),
                {"name": name},
            )
            reuse = not args.rebuild and found == marker
            if not reuse:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        engine = make_engine(url.render_as_string(hide_password=False))
        if reuse:
            _log(f"postgresql: reusing database {name}")
            info["reused"] = True
            return engine, info
        info.update(_build(engine, "postgresql", args.org, args.seed))
        with admin.connect() as connection:
            connection.execute(text(f"COMMENT ON DATABASE \"{name}\" IS '{marker}'"))
        return engine, info
    finally:
        admin.dispose()


def _build(engine: Engine, backend: str, size: str, seed: int) -> dict[str, Any]:
    def progress(phase: str, done: int, total: int) -> None:
        _log(f"{backend}: build {size} {phase} {done}/{total}")

    summary = build_demo(engine, size=size, seed=seed, progress=progress)
    return {"reused": False, "build_seconds": round(summary.seconds, 1)}


# --- what to request ---------------------------------------------------------------------


def viewers_of(session: Session) -> dict[str, Viewer]:
    """The admin, the manager with the largest reporting subtree and the busiest rep."""
    admin = session.scalars(
        select(User).where(User.role == Role.ADMIN, User.active.is_(True)).order_by(User.id)
    ).first()
    managers = list(
        session.scalars(
            select(User).where(User.role == Role.MANAGER, User.active.is_(True)).order_by(User.id)
        )
    )
    manager = max(managers, key=lambda user: _subtree_size(session, user.id), default=None)
    open_stages = select(Stage.id).where(Stage.type == StageType.OPEN)
    rep = session.scalars(
        select(User)
        .join(Deal, Deal.owner_id == User.id)
        .where(User.role == Role.REP, User.active.is_(True), Deal.stage_id.in_(open_stages))
        .group_by(User.id)
        .order_by(func.count().desc(), User.id)
        .limit(1)
    ).first()
    found = {"manager": manager, "rep": rep, "admin": admin}
    return {
        role: Viewer(role, user.id, user.email, user.name)
        for role, user in found.items()
        if user is not None
    }


def _subtree_size(session: Session, user_id: int) -> int:
    """How many people report to `user_id`, at any depth."""
    tree = select(User.id).where(User.id == user_id).cte(recursive=True)
    tree = tree.union_all(select(User.id).where(User.manager_id == tree.c.id))
    return int(session.scalar(select(func.count()).select_from(tree)) or 0) - 1


def path_values(session: Session, viewers: dict[str, Viewer]) -> dict[str, list[str]]:
    """Realistic values for path parameters, by parameter name.

    Records belong to the rep (the manager sees them too), and are the busiest of their kind:
    the rep's deal and lead with the most activities, the account with most of the rep's deals
    and its contact with the most activities. Reports: every registered one.
    """
    values: dict[str, list[str]] = {"name": sorted(REPORTS)}
    rep = viewers.get("rep")
    if rep is not None:
        deal = _busiest(session, Deal.id, Activity.deal_id, Deal.owner_id == rep.user_id)
        lead = _busiest(session, Lead.id, Activity.lead_id, Lead.owner_id == rep.user_id)
        account = session.scalar(
            select(Deal.account_id)
            .where(Deal.owner_id == rep.user_id, Deal.account_id.is_not(None))
            .group_by(Deal.account_id)
            .order_by(func.count().desc(), Deal.account_id)
            .limit(1)
        )
        contact = None
        if account is not None:
            contact = _busiest(
                session, Contact.id, Activity.contact_id, Contact.account_id == account
            )
        rep_user = session.get(User, rep.user_id)
        candidates = {
            "deal_id": deal,
            "lead_id": lead,
            "account_id": account,
            "contact_id": contact,
            "user_id": rep.user_id,
            "team_id": rep_user.team_id if rep_user else None,
        }
        values.update({key: [str(value)] for key, value in candidates.items() if value is not None})
    pipeline = session.scalar(select(Pipeline.id).order_by(Pipeline.id).limit(1))
    job = session.scalar(select(ImportJob.id).order_by(ImportJob.id.desc()).limit(1))
    for key, value in {"pipeline_id": pipeline, "job_id": job}.items():
        if value is not None:
            values[key] = [str(value)]
    if "team_id" not in values:
        team = session.scalar(select(Team.id).order_by(Team.id).limit(1))
        if team is not None:
            values["team_id"] = [str(team)]
    return values


def _busiest(session: Session, id_column: Any, activity_column: Any, where: Any) -> int | None:
    """The id of the record matching `where` with the most activities logged against it."""
    activities = (
        select(activity_column.label("record_id"), func.count().label("n"))
        .where(activity_column.is_not(None))
        .group_by(activity_column)
        .subquery()
    )
    return session.scalar(
        select(id_column)
        .outerjoin(activities, activities.c.record_id == id_column)
        .where(where)
        .order_by(func.coalesce(activities.c.n, 0).desc(), id_column)
        .limit(1)
    )


def _route_contexts(app: FastAPI) -> Iterable[Any]:
    """Every route of the app, included routers flattened (FastAPI ≥ 0.16x keeps them nested)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: `app.routes` is already flat
        return list(app.routes)
    return list(iter_route_contexts(app.routes))


def _answers_html(route: Any) -> bool:
    response_class = getattr(route, "response_class", None)
    response_class = getattr(response_class, "value", response_class)  # a DefaultPlaceholder
    if isinstance(response_class, type) and issubclass(response_class, HTMLResponse):
        return True
    endpoint = getattr(route, "endpoint", None)
    returns = getattr(endpoint, "__annotations__", {}).get("return")
    return returns in (HTMLResponse, "HTMLResponse")


def page_routes(app: FastAPI) -> list[str]:
    """The paths of the app's HTML pages: GET routes of `topline.web.views` answering HTML."""
    paths: list[str] = []
    for route in _route_contexts(app):
        path = getattr(route, "path", None)
        endpoint = getattr(route, "endpoint", None)
        if not path or "GET" not in (getattr(route, "methods", None) or ()):
            continue
        if not getattr(endpoint, "__module__", "").startswith("topline.web.views"):
            continue
        if path.startswith(EXCLUDED_PREFIXES) or not _answers_html(route):
            continue
        if path not in paths:
            paths.append(path)
    return paths


def pages_of(routes: Sequence[str], values: dict[str, list[str]], pages_filter: str) -> list[Page]:
    """Each route with its path parameters filled in, and who to request it as."""
    pages: list[Page] = []
    for route in routes:
        viewers = ("admin",) if route.startswith(ADMIN_PREFIXES) else ("manager", "rep")
        params = _PARAM.findall(route)
        missing = [param for param in params if param not in values]
        if missing:
            pages.append(Page(route, route, viewers, f"no value for {', '.join(missing)}"))
            continue
        for combination in itertools.product(*(values[param] for param in params)):
            url = route
            for param, value in zip(params, combination, strict=True):
                url = re.sub(r"{" + re.escape(param) + r"(?::[^}]*)?}", value, url, count=1)
            pages.append(Page(route, url, viewers))
    return [page for page in pages if pages_filter in page.url or pages_filter in page.route]


# --- measuring ---------------------------------------------------------------------------


def measure(
    engine: Engine,
    *,
    repeat: int = 7,
    pages_filter: str = "",
    routes: Sequence[str] | None = None,
    target_ms: float = TARGET_MS,
    profile: bool = False,
    progress: Callable[[str], None] = _log,
) -> dict[str, Any]:
    """Time every page (or only `routes`) on the demo org behind `engine`.

    Returns the viewers, the path values used and, per URL and viewer, the timing entry.
    """
    with Session(engine) as session:
        viewers = viewers_of(session)
        values = path_values(session, viewers)
    meter = SqlMeter()
    with tempfile.TemporaryDirectory(prefix="topline-pages-") as data_dir:
        settings = Settings(
            database_url=engine.url.render_as_string(hide_password=False),
            secret_key=SECRET_KEY,
            data_dir=Path(data_dir),
            login_attempts_per_minute=10_000,
            login_attempts_per_ip_per_minute=10_000,
        )
        app = create_app(settings, engine=engine)
        clock = ServerClock(app)
        found = page_routes(app)
        wanted = [route for route in found if routes is None or route in routes]
        pages = pages_of(wanted, values, pages_filter)
        results: dict[str, dict[str, Any]] = {}
        with TestClient(clock) as client:
            cookies = {role: _sign_in(client, viewer) for role, viewer in viewers.items()}
            meter.attach(engine)
            try:
                for page in pages:
                    results[page.url] = _time_page(
                        client, app, clock, meter, page, cookies, repeat, target_ms, profile
                    )
                    progress(f"{page.url}: {_brief(results[page.url])}")
            finally:
                meter.detach()
    return {
        "target_ms": target_ms,
        "viewers": {role: vars(viewer) for role, viewer in viewers.items()},
        "path_values": values,
        "routes": found,
        "pages": results,
        "summary": _summary(results),
    }


def _sign_in(client: TestClient, viewer: Viewer) -> str:
    """Sign in through the form as a browser would; the session cookie it leaves."""
    client.cookies.clear()
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    if token is None:
        raise RuntimeError("no CSRF field on the sign-in form")
    answer = client.post(
        "/login",
        data={"csrf_token": token.group(1), "email": viewer.email, "password": DEMO_PASSWORD},
        follow_redirects=False,
    )
    cookie = client.cookies.get(SESSION_COOKIE)
    if answer.status_code != 303 or cookie is None:
        raise RuntimeError(f"could not sign in as {viewer.email}: {answer.status_code}")
    client.cookies.clear()
    return cookie


def _time_page(
    client: TestClient,
    app: FastAPI,
    clock: ServerClock,
    meter: SqlMeter,
    page: Page,
    cookies: dict[str, str],
    repeat: int,
    target_ms: float,
    profile: bool,
) -> dict[str, Any]:
    """The page's entry per viewer: status, times, queries, whether it meets the target."""
    entries: dict[str, Any] = {}
    viewers = [role for role in page.viewers if role in cookies]
    for role in viewers:
        if page.skipped is not None:
            entries[role] = {"route": page.route, "status": None, "skipped": page.skipped}
            continue
        entries[role] = entry = _time_as(client, clock, meter, page, cookies[role], repeat)
        if entry["status"] in (403, 404) and role == "manager" and "admin" not in viewers:
            viewers.append("admin")  # an admin page outside the known prefixes
        entry["target_ms"] = target_ms
        entry["meets_target"] = entry["median_ms"] < target_ms if entry["status"] == 200 else None
        if profile and entry["status"] == 200:
            entry["profile"] = _profile(client, app, page.url, cookies[role])
    return entries


def _time_as(
    client: TestClient, clock: ServerClock, meter: SqlMeter, page: Page, cookie: str, repeat: int
) -> dict[str, Any]:
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, cookie)
    status, answer, error = _get(client, page.url)  # the warm-up
    entry: dict[str, Any] = {"route": page.route, "status": status}
    if status != 200 or answer is None:
        entry.update(warmup_ms=round(clock.last_seconds * 1000, 1), median_ms=None)
        if error is not None:
            entry["error"] = error
        return entry
    seconds: list[float] = []
    for _ in range(repeat):
        meter.reset()
        status, answer, error = _get(client, page.url)
        seconds.append(clock.last_seconds)
        if status != 200 or answer is None:  # answered once, failed later: say so, keep going
            entry.update(status=status, error=error)
    ms = sorted(s * 1000 for s in seconds)
    entry.update(
        median_ms=round(statistics.median(ms), 1),
        p90_ms=round(_p90(ms), 1),
        max_ms=round(ms[-1], 1),
        queries=meter.count,
        sql_ms=round(meter.seconds * 1000, 1),
        slowest_queries=meter.slowest(),
    )
    if answer is not None:
        entry.update(content_type=answer.headers.get("content-type"), bytes=len(answer.content))
    return entry


def _get(client: TestClient, url: str) -> tuple[int, Any, str | None]:
    """The page's status and answer; an exception the app did not handle counts as a 500."""
    try:
        answer = client.get(url, follow_redirects=False)
    except Exception as exc:
        return 500, None, f"{type(exc).__name__}: {exc}"[:500]
    return answer.status_code, answer, None


def _p90(sorted_ms: list[float]) -> float:
    if len(sorted_ms) < 2:
        return sorted_ms[0]
    return statistics.quantiles(sorted_ms, n=10, method="inclusive")[8]


def _profile(client: TestClient, app: FastAPI, url: str, cookie: str, top: int = 25) -> Any:
    """One more request, profiled in its worker thread: the top functions by cumulative time."""
    profiler = cProfile.Profile()

    async def profiled(session: DbSession) -> RequestTransaction:
        return ProfiledTransaction(session, profiler)

    app.dependency_overrides[get_transaction] = profiled
    try:
        client.cookies.clear()
        client.cookies.set(SESSION_COOKIE, cookie)
        _get(client, url)
    finally:
        app.dependency_overrides.pop(get_transaction, None)
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    stats.sort_stats("cumulative")
    rows = []
    for function, (_calls, primitive, own, cumulative, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        filename, line, name = function
        where = f"{_short(filename)}:{line}({name})"
        rows.append((cumulative, own, primitive, where))
    rows.sort(reverse=True)
    return {
        "cumulative": [
            f"{cum * 1000:8.1f} ms cum {own * 1000:7.1f} ms own {n:6d}x {where}"
            for cum, own, n, where in rows[:top]
        ],
        "own": [
            f"{own * 1000:8.1f} ms own {n:6d}x {where}"
            for _cum, own, n, where in sorted(rows, key=lambda row: row[1], reverse=True)[:top]
        ],
    }


def _short(filename: str) -> str:
    for marker in ("/site-packages/", "/src/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def _brief(entries: dict[str, Any]) -> str:
    parts = []
    for role, entry in entries.items():
        if entry.get("median_ms") is None:
            failure = entry.get("skipped") or entry["status"]
            parts.append(f"{role} {failure} {entry.get('error') or ''}".rstrip())
        else:
            parts.append(f"{role} {entry['median_ms']} ms ({entry['queries']} q)")
    return ", ".join(parts)


def _summary(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    entries = [entry for by_viewer in results.values() for entry in by_viewer.values()]
    timed = [entry for entry in entries if entry.get("median_ms") is not None]
    return {
        "pages": len(results),
        "timed": len(timed),
        "meeting_target": sum(1 for entry in timed if entry["meets_target"]),
        "not_200": sum(1 for entry in entries if entry["status"] not in (200, None)),
        "skipped": sum(1 for entry in entries if entry.get("skipped")),
    }


def missed_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every page and viewer, on any database, that missed its target or did not answer 200."""
    missed = []
    for backend, result in results.items():
        for url, by_viewer in result.get("pages", {}).items():
            for role, entry in by_viewer.items():
                if entry.get("skipped"):
                    continue
                if entry["status"] != 200 or not entry["meets_target"]:
                    missed.append(
                        {
                            "database": backend,
                            "url": url,
                            "viewer": role,
                            "status": entry["status"],
                            "median_ms": entry.get("median_ms"),
                            "target_ms": entry.get("target_ms"),
                            "error": entry.get("error"),
                        }
                    )
    return missed


def _busy_warnings(report: dict[str, Any]) -> list[str]:
    """Runs during which the machine was busier than its cores: their times read high."""
    cpus = report["environment"]["cpus"] or 1
    warnings = []
    for backend, result in report["results"].items():
        load = result.get("loadavg_at_end")
        if load and load[0] > cpus:
            warnings.append(
                f"{backend}: load average {load[0]} on {cpus} cores at the end of the run; "
                "other programs competed for the CPU, so these times are high"
            )
    return warnings


def _environment() -> dict[str, Any]:
    def installed(name: str) -> str | None:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return None

    return {
        "cpus": os.cpu_count(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "fastapi": installed("fastapi"),
        "sqlalchemy": installed("sqlalchemy"),
        "jinja2": installed("jinja2"),
    }


if __name__ == "__main__":
    main()
