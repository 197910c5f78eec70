"""The `topline` command: build a demo org, serve the web app, migrate, manage users."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from topline.cli import database
from topline.config import Settings, get_settings
from topline.errors import ToplineError

app = typer.Typer(
    name="topline",
    help="Topline: self-hosted sales management.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
user_app = typer.Typer(help="People who sign in.", no_args_is_help=True)
token_app = typer.Typer(help="Personal API tokens.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")

out = Console()
err = Console(stderr=True)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (else TOPLINE_DATABASE_URL, else the embedded file)."),
]
HostOption = Annotated[str | None, typer.Option("--host", help="Address to listen on.")]
PortOption = Annotated[
    int | None, typer.Option("--port", min=1, max=65535, help="Port to listen on.")
]


class OutputFormat(StrEnum):
    """How a command prints its result."""

    TEXT = "text"
    JSON = "json"


FormatOption = Annotated[OutputFormat, typer.Option("--format", help="text or json.")]


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one clear line and exit non-zero: user mistakes never show a traceback."""
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def parse_moment(text: str, option: str = "--as-of") -> datetime:
    """An ISO date or date and time from the command line, in UTC (UTC when no zone)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{option} {text!r}: give an ISO date or date and time, e.g. 2025-06-30T18:00Z")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn expected failures (bad input, unreachable database) into one line on stderr."""
    try:
        yield
    except ToplineError as exc:
        fail(exc.message)
    except OperationalError as exc:
        fail(f"cannot use the database: {str(exc.orig).strip().splitlines()[0]}")
    except SQLAlchemyError as exc:
        fail(f"database error: {str(exc).strip().splitlines()[0]}")


def settings_for(db: str | None) -> Settings:
    """Settings from the environment, with `--db` taking precedence."""
    settings = get_settings()
    if db:
        settings = settings.model_copy(update={"database_url": db})
    return settings


@db_app.command("upgrade")
def db_upgrade(db: DbOption = None) -> None:
    """Create or migrate the schema to the latest version."""
    with user_errors():
        engine = database.engine_for(settings_for(db).database_url)
        database.upgrade(engine)
        out.print(f"Database at {database.describe(engine)} is up to date.", highlight=False)


@db_app.command("analyze")
def db_analyze(db: DbOption = None) -> None:
    """Refresh the query planner's statistics of every table.

    Imports, restores, demo builds and upgrades do this themselves; run it after large changes
    made some other way. On SQLite, restart a running server afterwards so that its open
    connections plan with the new statistics.
    """
    with user_errors():
        engine = database.engine_for(settings_for(db).database_url)
        database.require_schema(engine)
        seconds = database.analyze(engine)
        out.print(
            f"Planner statistics of {database.describe(engine)} refreshed in {seconds:.1f} s.",
            highlight=False,
        )


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Option(help="Sign-in email.")],
    name: Annotated[str, typer.Option(help="Full name.")],
    role: Annotated[str, typer.Option(help="admin, manager or rep.")],
    password: Annotated[
        str | None,
        typer.Option(help="At least 8 characters; asked for when not given."),
    ] = None,
    manager: Annotated[
        str | None, typer.Option("--manager", help="Email of the person they report to.")
    ] = None,
    db: DbOption = None,
    output: FormatOption = OutputFormat.TEXT,
) -> None:
    """Add a person who can sign in."""
    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with user_errors():
        engine = database.engine_for(settings_for(db).database_url)
        database.require_schema(engine)
        created = database.create_user(
            engine, email=email, name=name, role=role, password=password, manager_email=manager
        )
    if output == OutputFormat.JSON:
        out.print_json(json.dumps(created))
    else:
        out.print(f"Created {created['role']} {created['email']} (id {created['id']}).")


@token_app.command("create")
def token_create(
    email: Annotated[str, typer.Option(help="Whose token: it acts as this user.")],
    name: Annotated[str, typer.Option(help="What the token is for.")] = "cli",
    db: DbOption = None,
    output: FormatOption = OutputFormat.TEXT,
) -> None:
    """Create a personal API token and print it once (only its hash is stored)."""
    with user_errors():
        engine = database.engine_for(settings_for(db).database_url)
        database.require_schema(engine)
        created = database.create_token(engine, email=email, name=name)
    if output == OutputFormat.JSON:
        out.print_json(json.dumps(created))
    else:
        err.print(f"Token {created['name']!r} for {created['email']} (shown once; keep it safe):")
        out.print(created["token"], highlight=False, soft_wrap=True)


@app.command("import")
def import_files(
    files: Annotated[
        list[Path],
        typer.Argument(help="CSV or XLSX files; several at once may refer to each other."),
    ],
    mapping: Annotated[
        str | None,
        typer.Option(
            "--mapping",
            help="A preset (salesforce, hubspot, pipedrive) or a YAML mapping file; without "
            "one, each file's kind comes from its name and columns from their headers.",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check everything, write nothing.")
    ] = False,
    keep_valid: Annotated[
        bool,
        typer.Option("--keep-valid", help="Import the valid rows even when others have problems."),
    ] = False,
    errors: Annotated[
        Path | None,
        typer.Option("--errors", help="With --keep-valid: write the rejected rows here (CSV)."),
    ] = None,
    db: DbOption = None,
    output: FormatOption = OutputFormat.TEXT,
) -> None:
    """Import accounts, contacts, deals, users and teams: all rows or none, unless told."""
    from topline.importers.engine import run_import
    from topline.importers.mapping import load_mapping

    if errors is not None and not keep_valid:
        fail("--errors goes with --keep-valid (without it, nothing is imported when a row fails)")
    with user_errors():
        engine = database.engine_for(settings_for(db).database_url)
        database.prepare_for_import(engine)
        spec = load_mapping(mapping) if mapping else None
        show = output == OutputFormat.TEXT and err.is_terminal
        with Progress(
            TextColumn("{task.description}"), TextColumn("{task.completed:,} rows"),
            TimeElapsedColumn(), console=err, disable=not show, transient=True,
        ) as progress:  # fmt: skip
            tasks: dict[str, Any] = {}

            def report(file: str, rows: int) -> None:
                if file not in tasks:
                    tasks[file] = progress.add_task(file, total=None)
                progress.update(tasks[file], completed=rows)

            with database.write_session(engine) as session:
                result = run_import(
                    session, files, spec, dry_run=dry_run, keep_valid=keep_valid,
                    errors_path=errors, progress=report,
                )  # fmt: skip
    if output == OutputFormat.JSON:
        out.print_json(json.dumps(result.to_json()))
    else:
        _print_import(result)
    if result.problem_count and not result.committed:
        raise typer.Exit(1)


def _print_import(result: Any) -> None:
    table = Table(title="Import" + (" (dry run: nothing written)" if result.dry_run else ""))
    for column in ("file", "records", "rows", "created", "updated", "unchanged", "merged",
                   "rejected"):  # fmt: skip
        table.add_column(column, justify="left" if column in {"file", "records"} else "right")
    for summary in result.files:
        table.add_row(
            summary.file, summary.entity, *(f"{getattr(summary, name):,}" for name in
            ("rows", "created", "updated", "unchanged", "merged", "rejected")),
        )  # fmt: skip
    out.print(table)
    if result.history_rows:
        out.print(f"Deal history rows written: {result.history_rows:,}")
    if result.analyzed_tables:
        tables = ", ".join(result.analyzed_tables)
        out.print(f"Planner statistics refreshed for {tables}.", highlight=False)
    for problem in result.problems[:50]:
        out.print(f"  • {problem}", highlight=False, soft_wrap=True)
    if result.problem_count > 50:
        out.print(f"  … and {result.problem_count - 50:,} more (--format json lists them all)")
    if result.committed:
        note = f"; rejected rows are in {result.errors_file}" if result.errors_file else ""
        out.print(f"[green]Imported[/] in {result.seconds:.1f} s{note}.")
    elif result.dry_run:
        verdict = "would import cleanly" if not result.problem_count else "has problems"
        out.print(f"Dry run: the import {verdict}. Nothing was written.")
    else:
        out.print(
            f"[red]Nothing imported:[/] {result.problem_count:,} problem(s). Fix them, or use "
            "--keep-valid to import the valid rows."
        )


@app.command()
def serve(db: DbOption = None, host: HostOption = None, port: PortOption = None) -> None:
    """Serve the web app."""
    settings = settings_for(db)
    with user_errors():
        engine = database.engine_for(settings.database_url)
        database.require_schema(engine)
    _serve(settings, engine, host or settings.host, port or settings.port)


class DemoSize(StrEnum):
    """How big a demo org to build (about 2k, 60k or 1M deals)."""

    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"


@app.command()
def demo(
    db: DbOption = None,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed builds the same org.")] = 42,
    size: Annotated[DemoSize, typer.Option(help="small, medium or large.")] = DemoSize.SMALL,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Build only.")] = False,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Throw away an existing demo org and build anew.")
    ] = False,
    host: HostOption = None,
    port: PortOption = None,
    output: FormatOption = OutputFormat.TEXT,
) -> None:
    """Build a realistic demo sales org and serve the web app on it."""
    settings = settings_for(db)
    with user_errors():
        engine = database.engine_for(settings.database_url)
        state = database.demo_state(engine)
        if state == "foreign":
            fail(
                f"{database.describe(engine)} holds data that is not a demo org; "
                "point --db at another database (Topline never overwrites real data)"
            )
        if state == "demo" and rebuild:
            engine = database.wipe_demo(engine)
            state = "empty"
        summary = None
        forecasts = scored = None
        if state == "empty":
            summary = _build_demo(
                engine, size=size.value, seed=seed, quiet=output == OutputFormat.JSON
            )
            forecasts = _keep_demo_forecast(engine, summary, quiet=output == OutputFormat.JSON)
            scored = _score_demo(engine, summary, quiet=output == OutputFormat.JSON)
        else:
            database.upgrade(engine)
            err.print(
                f"Using the existing demo org at {database.describe(engine)} "
                "(pass --rebuild to build it again).",
                highlight=False,
            )
        logins = database.demo_logins(engine)
    _print_demo(
        summary, forecasts, scored, logins, settings, host, port, output, serving=not no_serve
    )
    if not no_serve:
        _serve(settings, engine, host or settings.host, port or settings.port)


def _build_demo(engine: Engine, *, size: str, seed: int, quiet: bool) -> Any:
    from topline.clock import utcnow
    from topline.demo import build_demo

    database.upgrade(engine)
    # The org's two years of history end now (to the hour), so "this quarter" is today's.
    as_of = utcnow().replace(minute=0, second=0, microsecond=0)
    if quiet:
        return build_demo(engine, size=size, seed=seed, as_of=as_of)
    columns = (
        TextColumn("{task.description:<16}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=False) as progress:
        return build_demo(
            engine, size=size, seed=seed, as_of=as_of, progress=_progress_callback(progress)
        )


# Projecting the quarter learns from a week-by-week history; on the large org that takes many
# minutes, so its demo leaves it to `topline forecast snapshot`.
DEMO_FORECAST_SIZES = ("small", "medium")


def _keep_demo_forecast(engine: Engine, summary: Any, *, quiet: bool) -> int | None:
    """Keep today's forecast of the new demo org, so its forecast page has a projection; the
    number of forecast numbers kept, or None when the size is left to the daily job."""
    from topline.forecasting.snapshots import take_snapshots

    if summary.size not in DEMO_FORECAST_SIZES:
        return None
    if not quiet:
        err.print("Projecting this quarter for every team and rep…", highlight=False)
    with database.write_session(engine) as session:
        run = take_snapshots(session, summary.as_of)
        session.commit()
    return int(run.rows)


def _score_demo(engine: Engine, summary: Any, *, quiet: bool) -> int | None:
    """Train the deal win model on the new demo org and score its open deals, so deal pages
    show a win probability and why; the number of deals scored, or None for the large org
    (left to `topline score train` and `apply`)."""
    from topline.scoring.service import score_open_deals, train_deal_model

    if summary.size not in DEMO_FORECAST_SIZES:
        return None
    if not quiet:
        err.print("Training the deal win model and scoring the open deals…", highlight=False)
    with database.write_session(engine) as session:
        model = train_deal_model(session, as_of=summary.as_of)
        scored = score_open_deals(session, as_of=summary.as_of, model=model)
        session.commit()
    return int(scored)


def _progress_callback(progress: Progress) -> Callable[[str, int, int], None]:
    tasks: dict[str, Any] = {}

    def report(phase: str, done: int, total: int) -> None:
        if phase not in tasks:
            tasks[phase] = progress.add_task(phase, total=total)
        progress.update(tasks[phase], completed=done, total=total)

    return report


def _print_demo(
    summary: Any,
    forecasts: int | None,
    scored: int | None,
    logins: list[dict[str, str]],
    settings: Settings,
    host: str | None,
    port: int | None,
    output: OutputFormat,
    *,
    serving: bool,
) -> None:
    from topline.demo import DEMO_PASSWORD

    url = f"http://{host or settings.host}:{port or settings.port}"
    if output == OutputFormat.JSON:
        document: dict[str, Any] = {"url": url, "password": DEMO_PASSWORD, "logins": logins}
        if summary is not None:
            document["built"] = {
                "size": summary.size,
                "seed": summary.seed,
                "deals": summary.deals,
                "history_rows": summary.history_rows,
                "activities": summary.activities,
                "seconds": round(summary.seconds, 2),
                "forecast_numbers": forecasts,
                "scored_deals": scored,
            }
        out.print_json(json.dumps(document))
        return
    if summary is not None:
        out.print(
            f"Built the {summary.size} demo org: {summary.deals:,} deals, "
            f"{summary.history_rows:,} history rows, {summary.activities:,} activities "
            f"in {summary.seconds:.1f} s."
        )
        if forecasts is None:
            out.print("Run `topline forecast snapshot` to project this quarter.")
        if scored is None:
            out.print("Run `topline score train` then `topline score apply` to score the deals.")
    table = Table(title="Demo logins", title_justify="left")
    table.add_column("email", no_wrap=True)  # never cut: people copy it to sign in
    for column in ("name", "role", "team"):
        table.add_column(column)
    for login in logins:
        table.add_row(login["email"], login["name"], login["role"], login["team"])
    out.print(table)
    out.print(f"Password for every demo login: [bold]{DEMO_PASSWORD}[/]")
    if serving:
        out.print(f"Topline is at [bold]{url}[/] (Ctrl+C stops it).")


def _serve(settings: Settings, engine: Engine, host: str, port: int) -> None:
    import uvicorn

    from topline.web.app import create_app

    application = create_app(settings, engine=engine)
    try:
        uvicorn.run(application, host=host, port=port, log_level="info")
    except OSError as exc:  # pragma: no cover - depends on the machine's ports
        fail(f"cannot listen on {host}:{port}: {exc.strerror}")


def main() -> None:  # pragma: no cover - console entry point
    """Entry point for `python -m topline.cli.main`."""
    app(prog_name="topline")
    sys.exit(0)


if __name__ == "__main__":  # pragma: no cover
    main()


# `export`, `backup`, `restore` (topline/cli/exports.py), `forecast` (topline/cli/forecast.py),
# `report` (topline/cli/reports.py) and `score` (topline/cli/scoring.py) register on `app` when
# it is imported.
from topline.cli import exports as _exports  # noqa: E402, F401
from topline.cli import forecast as _forecast  # noqa: E402, F401
from topline.cli import reports as _reports  # noqa: E402, F401
from topline.cli import scoring as _scoring  # noqa: E402, F401
