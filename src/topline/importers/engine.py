"""Running an import: files in, checked rows out, written in one transaction (or not at all).

The importer reads each file once, row by row, in entity order (teams, users, accounts,
contacts, deals). Each row's cells become field values (`values`), references are resolved
against what the database holds and what this import has created so far (`Directory`), and the
row becomes a new record, an update of a record imported before from the same source (its key),
or a rejected row with its problems. New records are written in bulk as they come (`writer`);
the transaction commits at the end only when asked to and when no row was rejected, or, with
`keep_valid`, whatever was valid.
"""

from __future__ import annotations

import csv
import fnmatch
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from topline.audit.service import record_audit
from topline.auth.enums import Role
from topline.auth.models import Team, User
from topline.clock import utcnow
from topline.crm.enums import ActivityType, DealType, ForecastCategory, LeadStatus, StageType
from topline.crm.models import (
    Account,
    Activity,
    Contact,
    Deal,
    DealHistory,
    Lead,
    Pipeline,
    Stage,
)
from topline.crm.pipelines import DEFAULT_STAGES, create_pipeline
from topline.exporters.tables import neutralize
from topline.importers import values as conv
from topline.importers.catalog import ENTITIES, ORDER, EntityDef, FieldDef, Kind, guess_entity
from topline.importers.mapping import (
    FieldSource,
    FileMapping,
    Getter,
    ImportMapping,
    MappingError,
    MissingColumn,
    auto_mapping,
    compile_source,
    entries_for,
    field_sources,
)
from topline.importers.models import ExternalId
from topline.importers.sources import Cell, Table, open_table
from topline.importers.writer import BulkWriter

MAX_PROBLEMS_KEPT = 1000
Progress = Callable[[str, int], None]


@dataclass(frozen=True)
class Problem:
    """Why a row (or a file) cannot be imported as it is."""

    file: str
    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column:
            where += f", column {self.column!r}"
        return f"{where}: {self.message}"


@dataclass
class FileSummary:
    """What became of one file's rows for one kind of record."""

    file: str
    entity: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    merged: int = 0
    rejected: int = 0


@dataclass
class ImportResult:
    """The outcome: per file, the problems found, and whether anything was written."""

    files: list[FileSummary]
    problems: list[Problem]
    problem_count: int
    warnings: list[Problem]
    dry_run: bool
    committed: bool
    seconds: float
    errors_file: str | None = None
    history_rows: int = 0

    @property
    def rejected(self) -> int:
        return sum(summary.rejected for summary in self.files)

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "committed": self.committed,
            "seconds": round(self.seconds, 3),
            "files": [vars(summary) for summary in self.files],
            "history_rows": self.history_rows,
            "problem_count": self.problem_count,
            "problems": [
                {"file": p.file, "row": p.row, "column": p.column, "message": p.message}
                for p in self.problems
            ],
            "warnings": [str(w) for w in self.warnings],
            "errors_file": self.errors_file,
        }


class ImportFailed(Exception):
    """The import cannot start: an unreadable file or an unusable mapping (nothing written)."""


# --- What the import can point at --------------------------------------------------------------


@dataclass
class Directory:
    """Records by key (per source), email and name: those in the database and those this
    import creates, so rows can refer to rows of other files and of their own file."""

    keys: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    emails: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    names: dict[str, dict[str, list[int]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list))
    )
    domains: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))

    def add(
        self,
        entity: str,
        record_id: int,
        *,
        key: str | None,
        name: str | None,
        email: str | None = None,
    ) -> None:
        if key:
            self.keys[entity][key] = record_id
        if name:
            ids = self.names[entity][name.casefold()]
            if record_id not in ids:
                ids.append(record_id)
        if email:
            self.emails[entity][email.lower()] = record_id

    def resolve(self, entity: str, value: str) -> int | str:
        """The id `value` names (a key, an email or a name), or why there is none."""
        found = self.keys[entity].get(value)
        if found is not None:
            return found
        if "@" in value:
            found = self.emails[entity].get(value.lower())
            if found is not None:
                return found
        ids = self.names[entity].get(value.casefold(), [])
        if len(ids) == 1:
            return ids[0]
        noun = ENTITIES[entity].noun
        if len(ids) > 1:
            return f"{len(ids)} {entity} are called {value!r}; refer to it by key or email"
        where = self.rejected[entity].get(value) or self.rejected[entity].get(value.casefold())
        if where:
            return f"{noun} {value!r} was rejected ({where})"
        return f"no {noun} {value!r} (not in this import nor in Topline)"


# --- The import ----------------------------------------------------------------------------


@dataclass
class _Compiled:
    """A mapping entry applied to one file: a getter and a converter per field."""

    entry: FileMapping
    table: Table
    entity: EntityDef
    fields: dict[str, tuple[Getter, str, FieldDef]]
    history: list[dict[str, tuple[Getter, str]]]


def run_import(
    session: Session,
    paths: list[Path],
    mapping: ImportMapping | None = None,
    *,
    dry_run: bool = False,
    keep_valid: bool = False,
    errors_path: Path | None = None,
    actor: User | None = None,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> ImportResult:
    """Import `paths` with `mapping` (guessed per file when None) in `session`'s transaction.

    Commits when something was imported and it is not a dry run; rolls back otherwise. A row
    with a problem rejects the whole import unless `keep_valid`, which writes the valid rows
    and the rejected ones (with their problems) to `errors_path`. Raises `ImportFailed` (or a
    `MappingError`/`SourceError`) when it cannot start.
    """
    started = time.perf_counter()
    importer = _Importer(session, mapping, paths, now=now or utcnow(), progress=progress)
    try:
        importer.run()
    finally:
        importer.close()
    problems = importer.problems
    commit = not dry_run and (not problems or keep_valid)
    errors_file = None
    if keep_valid and errors_path is not None and importer.rejected_rows:
        _write_errors(errors_path, importer.rejected_rows)
        errors_file = str(errors_path)
    if commit:
        record_audit(
            session,
            actor_id=actor.id if actor else None,
            action="import",
            entity_type="import",
            entity_id=None,
            after={
                "source": importer.mapping.source,
                "files": [path.name for path in paths],
                "summary": [vars(summary) for summary in importer.summaries],
            },
        )
        session.commit()
    else:
        session.rollback()
    return ImportResult(
        files=importer.summaries,
        problems=problems[:MAX_PROBLEMS_KEPT],
        problem_count=len(problems),
        warnings=importer.warnings,
        dry_run=dry_run,
        committed=commit,
        seconds=time.perf_counter() - started,
        errors_file=errors_file,
        history_rows=importer.history_rows,
    )


class _Importer:
    def __init__(
        self,
        session: Session,
        mapping: ImportMapping | None,
        paths: list[Path],
        *,
        now: datetime,
        progress: Progress | None,
    ) -> None:
        self.session = session
        self.now = now
        self.progress = progress
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []
        self.summaries: list[FileSummary] = []
        self.rejected_rows: list[tuple[Table, int, list[Cell], list[str]]] = []
        self.history_rows = 0
        self.tables: list[Table] = []
        try:
            for path in paths:
                self.tables.append(open_table(path))
        except BaseException:
            self.close()
            raise
        if mapping is None:
            guessed = []
            for table in self.tables:
                entity = guess_entity(table.name, table.header)
                if entity is None:
                    raise MappingError(
                        f"{table.name}: cannot tell which records it holds; name the file after "
                        "them (accounts.csv, contacts.csv, deals.csv, users.csv, teams.csv) or "
                        "give a mapping with --mapping"
                    )
                guessed.append((table.name, entity))
            mapping = auto_mapping("file", guessed)
        self.mapping = mapping
        self.formats = conv.Formats(
            date_formats=tuple(mapping.date_formats),
            decimal_separator=mapping.decimal_separator,
            timezone=mapping.timezone,
        )
        self.directory = Directory()
        self.pending_refs: list[tuple[str, int, str, str, str, Problem]] = []
        self._reopened: set[Path] = set()

    def close(self) -> None:
        for table in self.tables:
            table.close()

    # --- Setup -------------------------------------------------------------------------------

    def run(self) -> None:
        lookups = self._lookups()
        plan = self._plan(lookups)
        self._load_directory()
        self.pipeline, self.stages = self._pipeline()
        self.pipeline_id = self.pipeline.id
        connection = self.session.connection()
        self.writer = BulkWriter(
            connection,
            [
                Team.__table__,  # type: ignore[list-item]
                User.__table__,  # type: ignore[list-item]
                Account.__table__,  # type: ignore[list-item]
                Contact.__table__,  # type: ignore[list-item]
                Deal.__table__,  # type: ignore[list-item]
                DealHistory.__table__,  # type: ignore[list-item]
                Lead.__table__,  # type: ignore[list-item]
                Activity.__table__,  # type: ignore[list-item]
                ExternalId.__table__,  # type: ignore[list-item]
            ],
        )
        for entity in ORDER:
            for compiled in plan.get(entity, []):
                self._import_file(compiled)
            self.writer.flush()
            self._resolve_pending(entity)
        self.writer.finish()

    def _lookups(self) -> dict[str, dict[str, dict[str, Cell]]]:
        lookups: dict[str, dict[str, dict[str, Cell]]] = {}
        for name, spec in self.mapping.lookups.items():
            table = next((t for t in self.tables if _glob(t.name, spec.file)), None)
            if table is None:
                raise MappingError(
                    f"lookup {name!r} needs the file {spec.file!r}; give it with the others"
                )
            header = [column.casefold() for column in table.header]
            if spec.key.casefold() not in header:
                raise MappingError(f"lookup {name!r}: {table.name} has no column {spec.key!r}")
            key_index = header.index(spec.key.casefold())
            rows: dict[str, dict[str, Cell]] = {}
            for _, cells in table.rows():
                if key_index < len(cells) and cells[key_index] is not None:
                    key = str(cells[key_index]).strip().casefold()
                    rows[key] = dict(zip(table.header, cells, strict=False))
            lookups[name] = rows
        return lookups

    def _plan(
        self, lookups: Mapping[str, Mapping[str, Mapping[str, Cell]]]
    ) -> dict[str, list[_Compiled]]:
        lookup_files = [spec.file for spec in self.mapping.lookups.values()]
        ignored = [t for t in self.tables if any(_glob(t.name, p) for p in self.mapping.ignore)]
        for table in ignored:
            table.close()
            self.tables.remove(table)
        for table in self.tables:
            if not entries_for(self.mapping, table.name) and not any(
                _glob(table.name, pattern) for pattern in lookup_files
            ):
                raise MappingError(
                    f"{table.name}: the mapping says nothing about this file (its entries are "
                    f"for: {', '.join(e.file for e in self.mapping.files)})"
                )
        # A file read already (as a lookup or for another entry) is opened again.
        used = {id(t) for t in self.tables if any(_glob(t.name, p) for p in lookup_files)}
        plan: dict[str, list[_Compiled]] = defaultdict(list)
        for entry in self.mapping.files:
            for table in list(self.tables):
                if not _glob(table.name, entry.file) or table.path in self._reopened:
                    continue
                if id(table) in used:
                    table = open_table(table.path)
                    self.tables.append(table)
                    self._reopened.add(table.path)
                used.add(id(table))
                plan[entry.entity].append(self._compile(entry, table, lookups))
            self._reopened.clear()
        if not any(plan.values()):
            raise MappingError("none of the files matches an entry of the mapping")
        return plan

    def _compile(
        self,
        entry: FileMapping,
        table: Table,
        lookups: Mapping[str, Mapping[str, Mapping[str, Cell]]],
    ) -> _Compiled:
        entity = ENTITIES[entry.entity]
        compiled: dict[str, tuple[Getter, str, FieldDef]] = {}
        for name, source in field_sources(entry, entity, table.header).items():
            field_def = entity.field(name)
            assert field_def is not None
            where = f"{table.name} ({entry.entity}.{name})"
            try:
                getter, column = compile_source(
                    source,
                    table.header,
                    lookups,
                    where=where,
                    decimal_separator=self.mapping.decimal_separator,
                    skip_missing=self.mapping.missing_columns == "skip",
                )
            except MissingColumn:
                if field_def.required or self.mapping.missing_columns == "error":
                    raise
                continue
            compiled[name] = (getter, column or name, field_def)
        missing = [f.name for f in entity.fields if f.required and f.name not in compiled]
        if entity.name == "contacts" and not {"first_name", "last_name", "name"} & set(compiled):
            missing.append("name (or first_name and last_name)")
        if missing:
            raise MappingError(
                f"{table.name}: no column for the required {entity.name} field(s) "
                f"{', '.join(missing)}; its columns are {', '.join(table.header)} (map them "
                "with --mapping)"
            )
        history = []
        for number, step in enumerate(entry.history, start=1):
            parts: dict[str, tuple[Getter, str]] = {}
            for part in ("at", "stage", "amount"):
                step_source: FieldSource | None = getattr(step, part)
                if step_source is None:
                    continue
                where = f"{table.name} (deals.history[{number}].{part})"
                getter, column = compile_source(
                    step_source,
                    table.header,
                    lookups,
                    where=where,
                    decimal_separator=self.mapping.decimal_separator,
                )
                parts[part] = (getter, column or part)
            history.append(parts)
        return _Compiled(entry, table, entity, compiled, history)

    def _load_directory(self) -> None:
        session, directory = self.session, self.directory
        for user_id, email, name in session.execute(select(User.id, User.email, User.name)):
            directory.add("users", user_id, key=None, name=name, email=email)
        for team_id, name in session.execute(select(Team.id, Team.name)):
            directory.add("teams", team_id, key=None, name=name)
        for account_id, account_name, domain in session.execute(
            select(Account.id, Account.name, Account.domain)
        ):
            directory.add("accounts", account_id, key=None, name=account_name)
            if domain:
                directory.domains[domain.lower()] = account_id
        for contact_id, first, last, contact_email in session.execute(
            select(Contact.id, Contact.first_name, Contact.last_name, Contact.email)
        ):
            full_name = f"{first} {last}"
            directory.add("contacts", contact_id, key=None, name=full_name, email=contact_email)
        for lead_id, lead_email in session.execute(
            select(Lead.id, Lead.email).where(Lead.email.is_not(None))
        ):
            directory.emails["leads"][str(lead_email).lower()] = lead_id
        for entity, key, record_id in session.execute(
            select(ExternalId.entity, ExternalId.key, ExternalId.record_id).where(
                ExternalId.source == self.mapping.source
            )
        ):
            directory.keys[entity][key] = record_id
        self.known_keys = {entity: set(keys) for entity, keys in directory.keys.items()}

    def _pipeline(self) -> tuple[Pipeline, dict[str, Stage]]:
        """The deals' pipeline: the mapping's (created with its stages when missing), else the
        default one (a standard pipeline is created in an empty database)."""
        spec = self.mapping.pipeline
        stmt = select(Pipeline)
        if spec is not None:
            stmt = stmt.where(Pipeline.name == spec.name)
        else:
            stmt = stmt.order_by(Pipeline.is_default.desc(), Pipeline.id)
        pipeline = self.session.scalars(stmt).first()
        if pipeline is None and spec is not None and not spec.stages:
            raise MappingError(
                f"no pipeline called {spec.name!r} in Topline; create it, or list its stages "
                "in the mapping"
            )
        if pipeline is None:
            is_default = self.session.scalar(select(Pipeline.id).limit(1)) is None
            pipeline = create_pipeline(
                self.session,
                name=spec.name if spec else "Sales",
                stages=spec.stage_specs() if spec else DEFAULT_STAGES,
                is_default=is_default,
            )
        stages = self.session.scalars(
            select(Stage).where(Stage.pipeline_id == pipeline.id).order_by(Stage.position)
        ).all()
        return pipeline, {stage.name.casefold(): stage for stage in stages}

    # --- Rows ----------------------------------------------------------------------------------

    def _import_file(self, compiled: _Compiled) -> None:
        summary = FileSummary(compiled.table.name, compiled.entity.name)
        self.summaries.append(summary)
        build = getattr(self, f"_build_{compiled.entity.name}")
        # First row of each key; with merge_duplicates also its values, to compare repeats.
        seen: dict[str, tuple[int, tuple[Any, ...] | None]] = {}
        merge = compiled.entry.merge_duplicates
        width = len(compiled.table.header)
        for number, cells in compiled.table.rows():
            summary.rows += 1
            problems: list[tuple[str | None, str]] = []
            while len(cells) > width and (cells[-1] is None or cells[-1] == ""):
                cells.pop()
            if len(cells) > width:
                problems.append(
                    (None, f"the row has {len(cells)} cells but the header names {width} "
                     "columns (a stray delimiter or quote?)")
                )  # fmt: skip
                self._reject(compiled, summary, number, cells, problems)
                continue
            row_values = self._values(compiled, cells, problems)
            key = row_values.get("key")
            identity = key or _natural_key(compiled.entity.name, row_values)
            if identity is not None and not problems:
                signature = (
                    tuple(sorted((k, str(v)) for k, v in row_values.items())) if merge else None
                )
                earlier = seen.get(identity)
                if earlier is not None:
                    if merge and earlier[1] == signature:
                        summary.merged += 1
                        continue
                    what = "key" if key else "name"
                    problems.append(
                        (None, f"duplicate {what} {identity!r} (also on row {earlier[0]})")
                    )
                else:
                    seen[identity] = (number, signature)
            if not problems:
                build(compiled, summary, number, row_values, problems, cells)
            if problems:
                self._reject(compiled, summary, number, cells, problems)
            if self.progress is not None and summary.rows % 10_000 == 0:
                self.progress(compiled.table.name, summary.rows)
        if summary.rows == 0:
            self._problem(compiled.table.name, None, None, "the file has a header but no rows")
        if self.progress is not None:
            self.progress(compiled.table.name, summary.rows)

    def _values(
        self, compiled: _Compiled, cells: list[Cell], problems: list[tuple[str | None, str]]
    ) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for name, (getter, column, field_def) in compiled.fields.items():
            raw = getter(cells)
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                if field_def.required:
                    problems.append((column, f"{name} is required and empty"))
                continue
            try:
                result[name] = self._convert(field_def, raw)
            except conv.BadValue as exc:
                problems.append((column, f"{name}: {exc}"))
        return result

    def _convert(self, field_def: FieldDef, raw: Cell) -> Any:
        kind = field_def.kind
        if kind is Kind.TEXT or kind is Kind.REF or kind is Kind.STAGE:
            return conv.as_text(raw, max_length=field_def.max_length or 300)
        if kind is Kind.EMAIL:
            return conv.as_email(raw)
        if kind is Kind.MONEY:
            return conv.as_cents(raw, self.formats)
        if kind is Kind.INT:
            return conv.as_int(raw)
        if kind is Kind.DATE:
            return conv.as_date(raw, self.formats)
        if kind is Kind.DATETIME:
            return conv.as_datetime(raw, self.formats)
        if kind is Kind.BOOL:
            return conv.as_bool(raw)
        if kind is Kind.COUNTRY:
            return conv.as_country(raw)
        assert kind is Kind.CHOICE and field_def.choices is not None
        return conv.as_choice(raw, field_def.choices)

    def _ref(
        self,
        entity: str,
        value: str | None,
        column: str,
        problems: list[tuple[str | None, str]],
    ) -> int | None:
        if value is None:
            return None
        found = self.directory.resolve(entity, value)
        if isinstance(found, str):
            problems.append((column, found))
            return None
        return found

    def _column(self, compiled: _Compiled, name: str) -> str:
        entry = compiled.fields.get(name)
        return entry[1] if entry else name

    def _reject(
        self,
        compiled: _Compiled,
        summary: FileSummary,
        number: int,
        cells: list[Cell],
        problems: list[tuple[str | None, str]],
    ) -> None:
        summary.rejected += 1
        for column, message in problems:
            self._problem(compiled.table.name, number, column, message)
        self.rejected_rows.append((compiled.table, number, cells, [m for _, m in problems]))
        values = self._values(compiled, cells, [])
        for identity in (values.get("key"), values.get("name"), values.get("email")):
            if identity:
                self.directory.rejected[compiled.entity.name][str(identity)] = (
                    f"row {number} of {compiled.table.name}"
                )

    def _problem(self, file: str, row: int | None, column: str | None, message: str) -> None:
        self.problems.append(Problem(file, row, column, message))

    def _key_row(self, entity: str, key: str | None, record_id: int) -> None:
        if key and key not in self.known_keys.get(entity, set()):
            self.writer.add(
                "external_ids",
                {
                    "id": self.writer.new_id("external_ids"),
                    "source": self.mapping.source,
                    "entity": entity,
                    "key": key,
                    "record_id": record_id,
                    "imported_at": self.now,
                },
            )
            self.known_keys.setdefault(entity, set()).add(key)

    def _existing(self, entity: str, key: str | None) -> int | None:
        return self.directory.keys[entity].get(key) if key else None

    def _update(
        self, model: Any, record_id: int, changes: dict[str, Any], summary: FileSummary
    ) -> None:
        self.writer.flush()  # the rows it may point at are in the database
        record = self.session.get(model, record_id)
        if record is None:  # the key points at a record deleted since
            summary.unchanged += 1
            return
        changed = {k: v for k, v in changes.items() if getattr(record, k) != v}
        if not changed:
            summary.unchanged += 1
            return
        for name, value in changed.items():
            setattr(record, name, value)
        summary.updated += 1

    # --- Entities ------------------------------------------------------------------------------

    def _build_teams(
        self,
        compiled: _Compiled,
        summary: FileSummary,
        number: int,
        row: dict[str, Any],
        problems: list[tuple[str | None, str]],
        cells: list[Cell],
    ) -> None:
        key, name = row.get("key"), row["name"]
        record_id = self._existing("teams", key)
        if record_id is None:
            ids = self.directory.names["teams"].get(name.casefold(), [])
            record_id = ids[0] if ids else None
        if record_id is None:
            record_id = self.writer.new_id("teams")
            self.writer.add(
                "teams", {"id": record_id, "name": name, "manager_id": None, "parent_id": None}
            )
            summary.created += 1
        else:
            self._update(Team, record_id, {"name": name}, summary)
        self.directory.add("teams", record_id, key=key, name=name)
        self._key_row("teams", key, record_id)
        for field_name, target in (("manager", "users"), ("parent", "teams")):
            if row.get(field_name):
                self._defer(
                    "teams", record_id, field_name, target, row[field_name], compiled, number
                )

    def _build_users(
        self,
        compiled: _Compiled,
        summary: FileSummary,
        number: int,
        row: dict[str, Any],
        problems: list[tuple[str | None, str]],
        cells: list[Cell],
    ) -> None:
        key, email = row.get("key"), row["email"]
        team_id = self._ref("teams", row.get("team"), self._column(compiled, "team"), problems)
        if problems:
            return
        values = {
            "email": email,
            "name": row["name"],
            "role": row.get("role", Role.REP),
            "team_id": team_id,
            "active": row.get("active", True),
        }
        record_id = self._existing("users", key) or self.directory.emails["users"].get(email)
        if record_id is None:
            record_id = self.writer.new_id("users")
            hired_at = row.get("hired_at", self.now)
            self.writer.add(
                "users",
                {
                    "id": record_id,
                    **values,
                    "manager_id": None,
                    "password_hash": None,
                    "hired_at": hired_at,
                    "left_at": None if values["active"] else self.now,
                    "created_at": self.now,
                },
            )
            summary.created += 1
        else:
            given = {"email", "name", *(k for k in ("role", "active") if k in row)}
            changes = {k: v for k, v in values.items() if k in given}
            if "team" in row:
                changes["team_id"] = team_id
            self._update(User, record_id, changes, summary)
        self.directory.add("users", record_id, key=key, name=row["name"], email=email)
        self._key_row("users", key, record_id)
        if row.get("manager"):
            self._defer("users", record_id, "manager", "users", row["manager"], compiled, number)

    def _build_accounts(
        self,
        compiled: _Compiled,
        summary: FileSummary,
        number: int,
        row: dict[str, Any],
        problems: list[tuple[str | None, str]],
        cells: list[Cell],
    ) -> None:
        key, name = row.get("key"), row["name"]
        owner_id = self._ref("users", row.get("owner"), self._column(compiled, "owner"), problems)
        values = {
            "name": name,
            "domain": row.get("domain"),
            "industry": row.get("industry"),
            "segment": row.get("segment"),
            "employees": row.get("employees"),
            "annual_revenue_cents": row.get("annual_revenue"),
            "country": row.get("country"),
            "region": row.get("region"),
            "postal_code": row.get("postal_code"),
            "territory": row.get("territory"),
            "owner_id": owner_id,
        }
        record_id = self._existing("accounts", key)
        if record_id is None:
            duplicate = self._likely_duplicate_account(name, row.get("domain"))
            if duplicate:
                problems.append((self._column(compiled, "name"), duplicate))
        if problems:
            return
        if record_id is None:
            record_id = self.writer.new_id("accounts")
            self.writer.add(
                "accounts",
                {
                    "id": record_id,
                    **values,
                    "created_at": row.get("created_at", self.now),
                    "version": 1,
                },
            )
            summary.created += 1
        else:
            mapped = {"annual_revenue_cents": "annual_revenue", "owner_id": "owner"}
            changes = {k: v for k, v in values.items() if mapped.get(k, k) in row}
            self._update(Account, record_id, changes, summary)
        self.directory.add("accounts", record_id, key=key, name=name)
        if row.get("domain"):
            self.directory.domains[row["domain"].lower()] = record_id
        self._key_row("accounts", key, record_id)

    def _check_email_taken(
        self,
        entity: str,
        email: str | None,
        column: str,
        problems: list[tuple[str | None, str]],
    ) -> None:
        """A new contact or lead whose email another one has is a likely duplicate."""
        other = self.directory.emails[entity].get(email) if email else None
        if other is not None:
            noun = ENTITIES[entity].noun
            problems.append((column, f"likely duplicate of {noun} {other} (same email {email!r})"))

    def _likely_duplicate_account(self, name: str, domain: str | None) -> str | None:
        ids = self.directory.names["accounts"].get(name.casefold())
        if ids:
            return (
                f"likely duplicate of account {ids[0]} ({name!r}, same name); give the rows "
                "a key column to update accounts, or rename"
            )
        if domain and domain.lower() in self.directory.domains:
            return (
                f"likely duplicate of account {self.directory.domains[domain.lower()]} "
                f"(same domain {domain!r})"
            )
        return None

    def _build_contacts(
        self,
        compiled: _Compiled,
        summary: FileSummary,
        number: int,
        row: dict[str, Any],
        problems: list[tuple[str | None, str]],
        cells: list[Cell],
    ) -> None:
        key = row.get("key")
        account_id = self._ref(
            "accounts", row.get("account"), self._column(compiled, "account"), problems
        )
        first, last = _person_name(row)
        if not first and not last:
            problems.append((self._column(compiled, "name"), "the contact has no name"))
        email = row.get("email")
        record_id = self._existing("contacts", key)
        if record_id is None:
            self._check_email_taken("contacts", email, self._column(compiled, "email"), problems)
        if problems:
            return
        values = {
            "account_id": account_id,
            "first_name": (first or "")[:100],
            "last_name": (last or "")[:100],
            "email": email,
            "phone": row.get("phone"),
            "title": row.get("title"),
            "buying_role": row.get("buying_role"),
        }
        if record_id is None:
            record_id = self.writer.new_id("contacts")
            self.writer.add(
                "contacts",
                {
                    "id": record_id,
                    **values,
                    "created_at": row.get("created_at", self.now),
                    "version": 1,
                },
            )
            summary.created += 1
        else:
            self._update(Contact, record_id, values, summary)
        self.directory.add(
            "contacts", record_id, key=key, name=f"{first} {last}".strip(), email=email
        )
        self._key_row("contacts", key, record_id)

    def _build_leads(
        self,
        compiled: _Compiled,
        summary: FileSummary,
        number: int,
        row: dict[str, Any],
        problems: list[tuple[str | None, str]],
        cells: list[Cell],
    ) -> None:
        key = row.get("key")
        owner_id = self._ref("users", row.get("owner"), self._column(compiled, "owner"), problems)
        first, last = _person_name(row)
        email = row.get("email")
        record_id = self._existing("leads", key)
        if record_id is None:
            self._check_email_taken("leads", email, self._column(compiled, "email"), problems)
        if problems:
            return
        created_at = row.get("created_at", self.now)
        status = row.get("status", LeadStatus.NEW)
        values = {
            "first_name": first[:100],
            "last_name": last[:100],
            "email": email,
            "phone": row.get("phone"),
            "title": row.get("title"),
            "company": row["company"],
            "company_domain": row.get("company_domain"),
            "industry": row.get("industry"),
            "employees": row.get("employees"),
            "country": row.get("country"),
            "region": row.get("region"),
            "source": row.get("source") or "import",
            "status": status,
            "bant_budget": row.get("bant_budget", False),
            "bant_authority": row.get("bant_authority", False),
            "bant_need": row.get("bant_need", False),
            "bant_timeline": row.get("bant_timeline", False),
            "owner_id": owner_id,
            "disqualification_reason": row.get("disqualification_reason"),
        }
        if record_id is not None:
            self._update(Lead, record_id, values, summary)
        else:
            record_id = self.writer.new_id("leads")
            reached = {
                "mql_at": status in {LeadStatus.MQL, LeadStatus.SQL, LeadStatus.CONVERTED},
                "sql_at": status in {LeadStatus.SQL, LeadStatus.CONVERTED},
                "converted_at": status is LeadStatus.CONVERTED,
                "disqualified_at": status is LeadStatus.DISQUALIFIED,
            }
            self.writer.add(
                "leads",
                {
                    "id": record_id,
                    **values,
                    "score": None,
                    "created_at": created_at,
                    # The source says where the lead got to, not when: the import's moment
                    # is the honest lower bound of each step.
                    **{name: (created_at if hit else None) for name, hit in reached.items()},
                    "converted_account_id": None,
                    "converted_contact_id": None,
                    "converted_deal_id": None,
                    "version": 1,
                },
            )
            summary.created += 1
        self.directory.add("leads", record_id, key=key, name=f"{first} {last}".strip(), email=email)
        self._key_row("leads", key, record_id)

    def _build_activities(
        self,
        compiled: _Compiled,
        summary: FileSummary,
        number: int,
        row: dict[str, Any],
        problems: list[tuple[str | None, str]],
        cells: list[Cell],
    ) -> None:
        key = row.get("key")
        links = {
            name: self._ref(
                ENTITIES["activities"].field(name).ref or name,  # type: ignore[union-attr]
                row.get(name),
                self._column(compiled, name),
                problems,
            )
            for name in ("user", "deal", "contact", "account", "lead")
        }
        engagement = {f"email_{n}": row.get(f"email_{n}") for n in ("opened", "clicked", "replied")}
        if row["type"] is not ActivityType.EMAIL and any(
            v is not None for v in engagement.values()
        ):
            problems.append((None, "opened, clicked and replied apply to emails only"))
        if problems:
            return
        values = {
            "type": row["type"],
            "subject": row["subject"],
            "body": row.get("body"),
            "occurred_at": row["occurred_at"],
            "user_id": links["user"],
            "deal_id": links["deal"],
            "contact_id": links["contact"],
            "account_id": links["account"],
            "lead_id": links["lead"],
            "duration_minutes": row.get("duration_minutes"),
            "outcome": row.get("outcome"),
            **engagement,
        }
        record_id = self._existing("activities", key)
        if record_id is not None:
            self._update(Activity, record_id, values, summary)
        else:
            record_id = self.writer.new_id("activities")
            self.writer.add("activities", {"id": record_id, **values, "created_at": self.now})
            summary.created += 1
        self._key_row("activities", key, record_id)

    def _build_deals(
        self,
        compiled: _Compiled,
        summary: FileSummary,
        number: int,
        row: dict[str, Any],
        problems: list[tuple[str | None, str]],
        cells: list[Cell],
    ) -> None:
        key = row.get("key")
        column = self._column
        owner_id = self._ref("users", row.get("owner"), column(compiled, "owner"), problems)
        account_id = self._ref(
            "accounts", row.get("account"), column(compiled, "account"), problems
        )
        contact_id = self._ref(
            "contacts", row.get("contact"), column(compiled, "contact"), problems
        )
        stage = self._stage(row["stage"], column(compiled, "stage"), problems)
        states = self._history(compiled, row, cells, stage, problems)
        if problems or stage is None or owner_id is None:
            return
        amount = row["amount"]
        created_at = row.get("created_at") or (states[0][0] if states else self.now)
        if states and created_at > states[0][0]:
            problems.append(
                (column(compiled, "created_at"),
                 f"created {created_at:%Y-%m-%d} after its first history date "
                 f"{states[0][0]:%Y-%m-%d}")
            )  # fmt: skip
            return
        if not states:
            states = [(created_at, stage, amount)]
        closed = stage.type is not StageType.OPEN
        closed_at = row.get("closed_at") or (states[-1][0] if closed else None)
        category = row.get("forecast_category") or _category(stage)
        values = {
            "name": row["name"],
            "account_id": account_id,
            "contact_id": contact_id,
            "owner_id": owner_id,
            "pipeline_id": self.pipeline_id,
            "stage_id": stage.id,
            "amount_cents": amount,
            "recurring_amount_cents": row.get("recurring_amount"),
            "close_date": row["close_date"],
            "forecast_category": category,
            "type": row.get("type", DealType.NEW_BUSINESS),
            "source": row.get("source"),
            "loss_reason": row.get("loss_reason"),
            "next_step": row.get("next_step"),
        }
        record_id = self._existing("deals", key)
        if record_id is not None:
            self._update_deal(record_id, values, summary)
            return
        record_id = self.writer.new_id("deals")
        self.writer.add(
            "deals",
            {
                "id": record_id,
                **values,
                "created_at": created_at,
                "closed_at": closed_at if closed else None,
                "updated_at": self.now,
                "version": 1,
            },
        )
        summary.created += 1
        for position, (at, state_stage, state_amount) in enumerate(states):
            valid_to = states[position + 1][0] if position + 1 < len(states) else None
            self.writer.add(
                "deal_history",
                {
                    "id": self.writer.new_id("deal_history"),
                    "deal_id": record_id,
                    "valid_from": at,
                    "valid_to": valid_to,
                    "changed_by_id": None,
                    "changed_fields": "created" if position == 0 else "stage,amount",
                    "stage_id": state_stage.id,
                    "amount_cents": state_amount,
                    "close_date": values["close_date"],
                    "forecast_category": (
                        category if state_stage is stage else _category(state_stage)
                    ),
                    "owner_id": owner_id,
                },
            )
            self.history_rows += 1
        self.directory.add("deals", record_id, key=key, name=None)
        self._key_row("deals", key, record_id)

    def _update_deal(self, record_id: int, values: dict[str, Any], summary: FileSummary) -> None:
        """A deal imported before: change what differs; a tracked change gets a history row."""
        self.writer.flush()  # the rows it may point at are in the database
        deal = self.session.get(Deal, record_id)
        if deal is None:
            summary.unchanged += 1
            return
        changed = {k: v for k, v in values.items() if getattr(deal, k) != v}
        if not changed:
            summary.unchanged += 1
            return
        for name, value in changed.items():
            setattr(deal, name, value)
        deal.updated_at = self.now
        tracked = [
            label
            for name, label in (
                ("stage_id", "stage"),
                ("amount_cents", "amount"),
                ("close_date", "close_date"),
                ("forecast_category", "forecast_category"),
                ("owner_id", "owner"),
            )
            if name in changed
        ]
        if tracked:
            self.session.execute(
                update(DealHistory)
                .where(DealHistory.deal_id == record_id, DealHistory.valid_to.is_(None))
                .values(valid_to=self.now)
            )
            self.session.add(
                DealHistory(
                    deal_id=record_id,
                    valid_from=self.now,
                    valid_to=None,
                    changed_by_id=None,
                    changed_fields=",".join(tracked),
                    stage_id=deal.stage_id,
                    amount_cents=deal.amount_cents,
                    close_date=deal.close_date,
                    forecast_category=deal.forecast_category,
                    owner_id=deal.owner_id,
                )
            )
            self.history_rows += 1
        self.session.flush()
        summary.updated += 1

    def _stage(
        self, name: str, column: str, problems: list[tuple[str | None, str]]
    ) -> Stage | None:
        stage = self.stages.get(name.casefold())
        if stage is None:
            known = ", ".join(s.name for s in self.stages.values())
            problems.append(
                (column,
                 f"no stage {name!r} in pipeline {self.pipeline.name!r} ({known}); map it in "
                 "the mapping")
            )  # fmt: skip
        return stage

    def _history(
        self,
        compiled: _Compiled,
        row: dict[str, Any],
        cells: list[Cell],
        stage: Stage | None,
        problems: list[tuple[str | None, str]],
    ) -> list[tuple[datetime, Stage, int]]:
        """The deal's dated states from the mapping's history steps, oldest first."""
        if stage is None or not compiled.history:
            return []
        states: list[tuple[datetime, Stage, int]] = []
        for parts in compiled.history:
            getter, column = parts["at"]
            raw = getter(cells)
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                continue
            try:
                at = conv.as_datetime(raw, self.formats)
            except conv.BadValue as exc:
                problems.append((column, f"history date: {exc}"))
                continue
            step_stage = stage
            if "stage" in parts:
                stage_getter, stage_column = parts["stage"]
                stage_name = stage_getter(cells)
                if stage_name is not None:
                    found = self._stage(str(stage_name), stage_column, problems)
                    if found is None:
                        continue
                    step_stage = found
            amount = row.get("amount", 0)
            if "amount" in parts:
                amount_getter, amount_column = parts["amount"]
                raw_amount = amount_getter(cells)
                if raw_amount is not None:
                    try:
                        amount = conv.as_cents(raw_amount, self.formats)
                    except conv.BadValue as exc:
                        problems.append((amount_column, f"history amount: {exc}"))
                        continue
            if states and at < states[-1][0]:
                problems.append(
                    (column,
                     f"history dates out of order: {at:%Y-%m-%d} comes before "
                     f"{states[-1][0]:%Y-%m-%d}")
                )  # fmt: skip
                continue
            states.append((at, step_stage, amount))
        if states and states[-1][1] is not stage and not problems:
            problems.append(
                (self._column(compiled, "stage"),
                 f"the deal is in {stage.name!r} but its last dated history step leaves it in "
                 f"{states[-1][1].name!r} (is a date missing?)")
            )  # fmt: skip
        return states

    # --- References to rows further down -------------------------------------------------------

    def _defer(
        self,
        entity: str,
        record_id: int,
        field_name: str,
        target: str,
        value: str,
        compiled: _Compiled,
        number: int,
    ) -> None:
        column = self._column(compiled, field_name)
        problem = Problem(compiled.table.name, number, column, "")
        self.pending_refs.append((entity, record_id, field_name, target, value, problem))

    def _resolve_pending(self, finished_entity: str) -> None:
        """Set references whose target entity is now complete (a team's manager waits for
        the users; a user's manager for the other users)."""
        still: list[tuple[str, int, str, str, str, Problem]] = []
        for entity, record_id, field_name, target, value, problem in self.pending_refs:
            if ORDER.index(target) > ORDER.index(finished_entity):
                still.append((entity, record_id, field_name, target, value, problem))
                continue
            found = self.directory.resolve(target, value)
            if isinstance(found, str):
                self.problems.append(
                    Problem(problem.file, problem.row, problem.column, f"{field_name}: {found}")
                )
                continue
            if found == record_id:
                self.problems.append(
                    Problem(problem.file, problem.row, problem.column,
                            f"{field_name}: a record cannot point at itself")
                )  # fmt: skip
                continue
            model = Team if entity == "teams" else User
            self.session.execute(
                update(model).where(model.id == record_id).values({f"{field_name}_id": found})
            )
        self.pending_refs = still


def _glob(name: str, pattern: str) -> bool:
    return fnmatch.fnmatch(name.casefold(), pattern.casefold())


def _person_name(row: Mapping[str, Any]) -> tuple[str, str]:
    """First and last name: as given, else the full name split at its last space."""
    first, last = row.get("first_name") or "", row.get("last_name") or ""
    if not first and not last and row.get("name"):
        first, _, last = str(row["name"]).rpartition(" ")
        if not first:
            first, last = last, ""
    return first, last


def _natural_key(entity: str, row: Mapping[str, Any]) -> str | None:
    """What makes two rows without keys the same record: a user's email, a team's name."""
    if entity == "users":
        return row.get("email")
    if entity == "teams":
        name = row.get("name")
        return name.casefold() if name else None
    return None


def _category(stage: Stage) -> ForecastCategory:
    if stage.type is StageType.WON:
        return ForecastCategory.CLOSED
    if stage.type is StageType.LOST:
        return ForecastCategory.OMITTED
    return ForecastCategory.PIPELINE


def _write_errors(path: Path, rows: list[tuple[Table, int, list[Cell], list[str]]]) -> None:
    """The rejected rows as CSV: where they came from, why, and their original cells."""
    headers: list[str] = []
    for table, *_ in rows:
        for column in table.header:
            if column not in headers:
                headers.append(column)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["source_file", "source_row", "import_problems", *headers])
        for table, number, cells, messages in rows:
            by_column = dict(zip(table.header, cells, strict=False))
            writer.writerow(
                [
                    table.name,
                    number,
                    "; ".join(messages),
                    *(_neutral(by_column.get(column)) for column in headers),
                ]
            )


def _neutral(value: Cell) -> str:
    """A cell as CSV text that spreadsheets will not run as a formula."""
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return neutralize(str(value))
