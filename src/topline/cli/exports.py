"""`topline export --all`, `topline backup` and `topline restore`: whole-org exports and backups.

The commands register themselves on `topline.cli.main.app` when this module is imported, which
the end of `topline/cli/main.py` does; that order works whichever module is imported first.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from topline.cli import database
from topline.cli.main import (
    DbOption,
    FormatOption,
    OutputFormat,
    app,
    err,
    fail,
    out,
    settings_for,
    user_errors,
)
from topline.clock import utcnow

if TYPE_CHECKING:
    from topline.exporters.manifest import Manifest

FileArgument = Annotated[Path, typer.Argument(help="The backup archive (a .zip file).")]


@app.command("export")
def export_tables(
    directory: Annotated[
        Path | None,
        typer.Option(
            "--all",
            metavar="DIR",
            help="Write every table as Parquet, plus manifest.json, into DIR (new or empty).",
        ),
    ] = None,
    db: DbOption = None,
    output: FormatOption = OutputFormat.TEXT,
) -> None:
    """Export data: `--all DIR` writes every table as a Parquet file, with a manifest."""
    from topline.exporters.backup import export_all  # pyarrow loads only when needed

    if directory is None:
        fail("say what to export: `--all DIR` writes every table as Parquet into DIR")
    started = time.perf_counter()
    with user_errors(), _file_errors(directory), _progress(output, "export") as report:
        engine = database.engine_for(settings_for(db).database_url)
        manifest = export_all(engine, directory, at=utcnow(), progress=report)
    seconds = time.perf_counter() - started
    if output == OutputFormat.JSON:
        out.print_json(json.dumps({"directory": str(directory), **_summary(manifest, seconds)}))
        return
    out.print(_rows_table(manifest, "Exported"))
    out.print(
        f"Wrote {len(manifest.tables)} Parquet files and manifest.json to {directory} "
        f"in {seconds:.1f} s.",
        highlight=False,
        soft_wrap=True,
    )


@app.command("backup")
def backup_database(
    file: FileArgument,
    db: DbOption = None,
    output: FormatOption = OutputFormat.TEXT,
) -> None:
    """Write the whole org into one backup file (Parquet tables and a manifest, zipped)."""
    from topline.exporters.backup import backup

    started = time.perf_counter()
    with user_errors(), _file_errors(file), _progress(output, "backup") as report:
        engine = database.engine_for(settings_for(db).database_url)
        manifest = backup(engine, file, at=utcnow(), progress=report)
    seconds = time.perf_counter() - started
    size = file.stat().st_size
    if output == OutputFormat.JSON:
        document = {"file": str(file), "bytes": size, **_summary(manifest, seconds)}
        out.print_json(json.dumps(document))
        return
    out.print(
        f"Backed up {sum(manifest.rows.values()):,} rows of {len(manifest.tables)} tables from "
        f"{database.describe(engine)} to {file} ({size / 1e6:,.1f} MB) in {seconds:.1f} s.",
        highlight=False,
        soft_wrap=True,
    )


@app.command("restore")
def restore_database(
    file: FileArgument,
    db: DbOption = None,
    output: FormatOption = OutputFormat.TEXT,
) -> None:
    """Restore a backup file into an empty database (SQLite or PostgreSQL), ids and all."""
    from topline.exporters.backup import restore

    started = time.perf_counter()
    with user_errors(), _file_errors(file), _progress(output, "restore") as report:
        engine = database.engine_for(settings_for(db).database_url)
        manifest = restore(engine, file, progress=report)
    seconds = time.perf_counter() - started
    where = database.describe(engine)
    if output == OutputFormat.JSON:
        out.print_json(
            json.dumps({"file": str(file), "database": where, **_summary(manifest, seconds)})
        )
        return
    out.print(_rows_table(manifest, "Restored"))
    out.print(
        f"Restored {sum(manifest.rows.values()):,} rows into {where} in {seconds:.1f} s "
        f"(backup made by Topline {manifest.topline_version} on {manifest.source_database}).",
        highlight=False,
        soft_wrap=True,
    )


def _summary(manifest: Manifest, seconds: float) -> dict[str, Any]:
    return {
        "topline_version": manifest.topline_version,
        "schema_revision": manifest.schema_revision,
        "tables": manifest.rows,
        "rows": sum(manifest.rows.values()),
        "seconds": round(seconds, 2),
    }


def _rows_table(manifest: Manifest, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in manifest.rows.items():
        table.add_row(name, f"{rows:,}")
    return table


@contextmanager
def _file_errors(path: Path) -> Iterator[None]:
    """A file that cannot be read or written is a one-line error, not a traceback."""
    try:
        yield
    except OSError as exc:
        fail(f"cannot use {path}: {exc.strerror or exc}")


@contextmanager
def _progress(output: OutputFormat, verb: str) -> Iterator[Callable[[str, int], None]]:
    """Rows done per table on stderr, when stderr is a terminal and the output is text."""
    show = output == OutputFormat.TEXT and err.is_terminal
    columns = (
        TextColumn(f"{verb} {{task.description:<22}}"),
        TextColumn("{task.completed:,} rows"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, disable=not show, transient=True) as progress:
        tasks: dict[str, Any] = {}

        def report(table: str, rows: int) -> None:
            if table not in tasks:
                tasks[table] = progress.add_task(table, total=None)
            progress.update(tasks[table], completed=rows)

        yield report
