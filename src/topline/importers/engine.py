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
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from topline.audit.service import record_audit
from topline.auth.enums import Role
from topline.auth.models import Team, User
from topline.clock import utcnow
from topline.crm.deals import CREATED, TRACKED_FIELDS
from topline.crm.enums import ActivityType, DealType, ForecastCategory, LeadStatus, StageType
from topline.crm.history import (
    HISTORY_MARKS,
    SUBSCRIPTION_FIELDS,
    copied_from,
    copy_subscription_fields,
    marks_of,
    next_marks,
    refresh_pushes,
)
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
from topline.crm.stays import rebuild_stays
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
from topline.storage.statistics import analyze_stale

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
    # The tables whose planner statistics the import refreshed (`topline.storage.statistics`).
    analyzed_tables: list[str] = field(default_factory=list)

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
            "analyzed_tables": self.analyzed_tables,
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


@dataclass
class _RowPlan:
    """What reading a file's rows takes, worked out once per file rather than once per row."""

    compiled: _Compiled
    # Per field: name, getter, column, required, converter (raising `conv.BadValue`).
    fields: list[tuple[str, Getter, str, bool, Callable[[Cell], Any]]]
    # Per history step: the getter and column of its date, stage (or None) and amount.
    steps: list[tuple[Getter, str, Getter | None, str, Getter | None, str]]
    # Stages by the names history steps give, and a stage's id, category and whether closed.
    stage_names: dict[str, Stage] = field(default_factory=dict)
    stage_facts: dict[Stage, tuple[int, ForecastCategory, bool]] = field(default_factory=dict)


# The columns of the deal and deal_history rows `_build_deals` writes, in its order.
_DEAL_ROW = (
    "id", "name", "account_id", "contact_id", "owner_id", "pipeline_id", "stage_id",
    "amount_cents", "recurring_amount_cents", "close_date", "forecast_category", "type",
    "source", "loss_reason", "next_step", "created_at", "closed_at", "updated_at", "version",
)  # fmt: skip
_HISTORY_ROW = (
    "id", "deal_id", "valid_from", "valid_to", "changed_by_id", "changed_fields", "stage_id",
    "amount_cents", "close_date", "forecast_category", "owner_id", *HISTORY_MARKS,
)  # fmt: skip


@dataclass(slots=True)
class _DatedState:
    """A deal's state as a history file dates it (a row of Salesforce's OpportunityHistory),
    kept until every history row is read: the file need not be in order."""

    at: datetime
    order: int  # among its deal's rows as read; of two states at one moment the later holds
    key: str | None
    stage: Stage
    amount: int | None  # None: as on the row before (the first row: the deal's)
    close_date: date | None
    category: ForecastCategory | None  # None: the stage's
    changed_by_id: int | None
    summary: FileSummary


@dataclass
class _FileHistory:
    """What history files say, by deal id, until their rows are all read."""

    states: dict[int, list[_DatedState]] = field(default_factory=lambda: defaultdict(list))
    deal_keys: dict[int, str] = field(default_factory=dict)
    created: dict[int, datetime] | None = None  # creation of the source's deals, once needed
    first_id: int = 0  # history rows with this id or above were written by this import


@dataclass(frozen=True, slots=True)
class _DealNow:
    """A deal as the database has it when its history is written from a history file."""

    state: tuple[Any, ...]  # its tracked fields, in `TRACKED_FIELDS` order
    updated_at: datetime
    closed_at: datetime | None


@dataclass(slots=True)
class _Version:
    """A deal_history row in the making: the tracked state (in `TRACKED_FIELDS` order), from
    when it held, who changed the deal to it, and the keys of the source rows it stands for."""

    valid_from: datetime
    state: tuple[Any, ...]
    changed_by_id: int | None
    keys: list[str]


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
    analyzed: list[str] = []
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
        # With the rows, in the same transaction: the reports run next are planned on them.
        analyzed = analyze_stale(session.connection(), importer.written_rows())
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
        analyzed_tables=analyzed,
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
        # Deals updated here whose subscription fields changed: their older history rows' copies
        # of them are rewritten at the end (`_copy_deal_fields`).
        self.resubscribed: set[int] = set()
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
        self.file_history = _FileHistory()

    def close(self) -> None:
        for table in self.tables:
            table.close()

    def written_rows(self) -> dict[str, int]:
        """Rows written per table: each entity's table (named as the entity) and, for the
        records created, their external ids."""
        written: Counter[str] = Counter()
        for summary in self.summaries:
            if summary.entity != "deal_history":  # counted in `history_rows`
                written[summary.entity] += summary.created + summary.updated + summary.merged
            written[ExternalId.__tablename__] += summary.created
        written[DealHistory.__tablename__] += self.history_rows
        return dict(written)

    # --- Setup -------------------------------------------------------------------------------

    def run(self) -> None:
        lookups = self._lookups()
        plan = self._plan(lookups)
        self._load_directory()
        self.pipeline, self.stages = self._pipeline()
        self.pipeline_id = self.pipeline.id
        # The history rows this import writes start after these.
        first_history_id = (self.session.scalar(select(func.max(DealHistory.id))) or 0) + 1
        if "deal_history" in plan:
            self.file_history.first_id = first_history_id
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
            if entity == "deal_history" and self.file_history.states:
                self._write_file_history()
            self.writer.flush()
            self._resolve_pending(entity)
        self.writer.finish()
        self._copy_deal_fields(first_history_id)
        written = select(DealHistory.deal_id).where(DealHistory.id >= first_history_id)
        deal_ids = list(self.session.scalars(written.distinct()))
        refresh_pushes(self.session, deal_ids)
        rebuild_stays(self.session, deal_ids)

    def _copy_deal_fields(self, first_history_id: int) -> None:
        """Copy each deal's creation and subscription fields onto the history rows this import
        wrote (see `DealHistory`): one statement, whichever way the rows were made. Then the
        deals updated here whose subscription fields changed get them copied onto their older
        rows too."""
        history, deals = DealHistory.__table__, Deal.__table__
        self.session.execute(
            update(history)  # type: ignore[arg-type]
            .where(history.c.id >= first_history_id, deals.c.id == history.c.deal_id)
            .values(deal_created_at=deals.c.created_at, **copied_from(deals))
        )
        copy_subscription_fields(self.session, sorted(self.resubscribed))

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
        for table in list(self.tables):
            if not entries_for(self.mapping, table.name) and not any(
                _glob(table.name, pattern) for pattern in lookup_files
            ):
                if self.mapping.other_files == "skip":  # a whole export: read what it maps
                    unread = "not read (the mapping says nothing about this file)"
                    self.warnings.append(Problem(table.name, None, None, unread))
                    table.close()
                    self.tables.remove(table)
                    continue
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

    # The plan of the file whose rows are being read (`_row_plan`).
    _reading: _RowPlan | None = None

    def _import_file(self, compiled: _Compiled) -> None:
        summary = FileSummary(compiled.table.name, compiled.entity.name)
        self.summaries.append(summary)
        entity = compiled.entity.name
        build = getattr(self, f"_build_{entity}")
        self._reading = self._row_plan(compiled)
        if entity == "deals":  # `_build_deals` queues its rows as tuples in these orders
            self.writer.declare("deals", _DEAL_ROW)
            self.writer.declare("deal_history", _HISTORY_ROW)
        values, reject, progress = self._values, self._reject, self.progress
        # The row number of each key's first row (a million keys: a dict of ints); with
        # merge_duplicates also that row's values, to compare repeats.
        seen: dict[str, int] = {}
        signatures: dict[str, tuple[tuple[str, str], ...]] = {}
        merge = compiled.entry.merge_duplicates
        width = len(compiled.table.header)
        for number, cells in compiled.table.rows():
            summary.rows += 1
            problems: list[tuple[str | None, str]] = []
            if len(cells) > width:
                while len(cells) > width and (cells[-1] is None or cells[-1] == ""):
                    cells.pop()
                if len(cells) > width:
                    problems.append(
                        (None, f"the row has {len(cells)} cells but the header names {width} "
                         "columns (a stray delimiter or quote?)")
                    )  # fmt: skip
                    reject(compiled, summary, number, cells, problems)
                    continue
            row_values = values(compiled, cells, problems)
            key = row_values.get("key")
            identity = key or _natural_key(entity, row_values)
            if identity is not None and not problems:
                earlier = seen.get(identity)
                if earlier is None:
                    seen[identity] = number
                    if merge:
                        signatures[identity] = tuple(
                            sorted((k, str(v)) for k, v in row_values.items())
                        )
                elif merge and signatures[identity] == tuple(
                    sorted((k, str(v)) for k, v in row_values.items())
                ):
                    summary.merged += 1
                    continue
                else:
                    what = "key" if key else "name"
                    problems.append(
                        (None, f"duplicate {what} {identity!r} (also on row {earlier})")
                    )
            if not problems:
                build(compiled, summary, number, row_values, problems, cells)
            if problems:
                reject(compiled, summary, number, cells, problems)
            if progress is not None and summary.rows % 10_000 == 0:
                progress(compiled.table.name, summary.rows)
        if summary.rows == 0:
            self._problem(compiled.table.name, None, None, "the file has a header but no rows")
        if progress is not None:
            progress(compiled.table.name, summary.rows)

    def _row_plan(self, compiled: _Compiled) -> _RowPlan:
        plan = self._reading
        if plan is not None and plan.compiled is compiled:
            return plan
        fields = [
            (name, getter, column, field_def.required, self._converter(field_def))
            for name, (getter, column, field_def) in compiled.fields.items()
        ]
        steps = []
        for parts in compiled.history:
            at_getter, at_column = parts["at"]
            stage_getter, stage_column = parts.get("stage") or (None, "stage")
            amount_getter, amount_column = parts.get("amount") or (None, "amount")
            steps.append(
                (at_getter, at_column, stage_getter, stage_column, amount_getter, amount_column)
            )
        return _RowPlan(compiled, fields, steps)

    def _values(
        self, compiled: _Compiled, cells: list[Cell], problems: list[tuple[str | None, str]]
    ) -> dict[str, Any]:
        plan = self._reading
        if plan is None or plan.compiled is not compiled:
            plan = self._row_plan(compiled)
        result: dict[str, Any] = {}
        for name, getter, column, required, convert in plan.fields:
            raw = getter(cells)
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                if required:
                    problems.append((column, f"{name} is required and empty"))
                continue
            try:
                result[name] = convert(raw)
            except conv.BadValue as exc:
                problems.append((column, f"{name}: {exc}"))
        return result

    def _convert(self, field_def: FieldDef, raw: Cell) -> Any:
        return self._converter(field_def)(raw)

    def _converter(self, field_def: FieldDef) -> Callable[[Cell], Any]:
        """How a cell becomes the field's value (or raises `conv.BadValue`)."""
        kind, formats = field_def.kind, self.formats
        if kind is Kind.TEXT or kind is Kind.REF or kind is Kind.STAGE:
            max_length = field_def.max_length or 300
            return lambda raw: conv.as_text(raw, max_length=max_length)
        if kind is Kind.EMAIL:
            return conv.as_email
        if kind is Kind.MONEY:
            return lambda raw: conv.as_cents(raw, formats)
        if kind is Kind.INT:
            return conv.as_int
        if kind is Kind.DATE:
            return lambda raw: conv.as_date(raw, formats)
        if kind is Kind.DATETIME:
            return lambda raw: conv.as_datetime(raw, formats)
        if kind is Kind.BOOL:
            return conv.as_bool
        if kind is Kind.COUNTRY:
            return conv.as_country
        choices = field_def.choices
        assert kind is Kind.CHOICE and choices is not None
        return lambda raw: conv.as_choice(raw, choices)

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
        converted = {
            name: self._ref(target, row.get(name), self._column(compiled, name), problems)
            for name, target in (("converted_account", "accounts"),
                                 ("converted_contact", "contacts"))
        }  # fmt: skip
        first, last = _person_name(row)
        email = row.get("email")
        record_id = self._existing("leads", key)
        if record_id is None:
            self._check_email_taken("leads", email, self._column(compiled, "email"), problems)
        status = row.get("status", LeadStatus.NEW)
        if "converted_at" in row and status is not LeadStatus.CONVERTED:
            problems.append(
                (self._column(compiled, "converted_at"),
                 f"a conversion date for a lead that is {status.value}, not converted")
            )  # fmt: skip
        if problems:
            return
        created_at = row.get("created_at", self.now)
        converted_at = row.get("converted_at")
        if converted_at is not None:
            # Sources date a conversion by its day: one that seems to come before the lead's
            # creation happened on the day it was created.
            converted_at = max(converted_at, row.get("created_at", converted_at))
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
            # What a converted lead became, when the source says (its deal once deals are in).
            **{f"{name}_id": found for name, found in converted.items() if name in row},
            **({"converted_at": converted_at} if converted_at is not None else {}),
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
                    **({"converted_at": converted_at} if converted_at else {}),  # it says when
                    "converted_account_id": converted["converted_account"],
                    "converted_contact_id": converted["converted_contact"],
                    "converted_deal_id": None,
                    "version": 1,
                },
            )
            summary.created += 1
        self.directory.add("leads", record_id, key=key, name=f"{first} {last}".strip(), email=email)
        self._key_row("leads", key, record_id)
        if row.get("converted_deal"):
            deal = row["converted_deal"]
            self._defer("leads", record_id, "converted_deal", "deals", deal, compiled, number)

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
        # The hot path of big imports: rows are tuples in `_DEAL_ROW` and `_HISTORY_ROW` order,
        # and what depends only on the stage is looked up once per stage.
        key = row.get("key")
        column = self._column
        owner_id = self._ref("users", row.get("owner"), column(compiled, "owner"), problems)
        account, contact = row.get("account"), row.get("contact")
        account_id = (
            None if account is None
            else self._ref("accounts", account, column(compiled, "account"), problems)
        )  # fmt: skip
        contact_id = (
            None if contact is None
            else self._ref("contacts", contact, column(compiled, "contact"), problems)
        )  # fmt: skip
        stage = self.stages.get(row["stage"].casefold())
        if stage is None:
            self._stage(row["stage"], column(compiled, "stage"), problems)
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
        plan = self._reading
        if plan is None or plan.compiled is not compiled:
            plan = self._row_plan(compiled)
        facts = plan.stage_facts
        stage_id, category, closed = facts.get(stage) or _stage_facts(facts, stage)
        closed_at = row.get("closed_at") or (states[-1][0] if closed else None)
        category = row.get("forecast_category") or category
        close_date = row["close_date"]
        deal = (
            row["name"], account_id, contact_id, owner_id, self.pipeline_id, stage_id, amount,
            row.get("recurring_amount"), close_date, category,
            row.get("type", DealType.NEW_BUSINESS), row.get("source"), row.get("loss_reason"),
            row.get("next_step"),
        )  # fmt: skip
        record_id = self._existing("deals", key)
        if record_id is not None:
            self._update_deal(record_id, dict(zip(_DEAL_ROW[1:15], deal, strict=True)), summary)
            return
        writer = self.writer
        record_id = writer.new_id("deals")
        closed_at = closed_at if closed else None
        writer.add_row("deals", (record_id, *deal, created_at, closed_at, self.now, 1))
        summary.created += 1
        history_id = writer.new_ids("deal_history", len(states))
        last = len(states) - 1
        rows = []
        marks = None
        for position, (at, state_stage, state_amount) in enumerate(states):
            if state_stage is stage:
                state_stage_id, state_category = stage_id, category
            else:
                state_stage_id, state_category, _ = facts.get(state_stage) or _stage_facts(
                    facts, state_stage
                )
            marks = next_marks(marks, state_stage_id, state_stage.type, at, close_date)
            rows.append(
                (history_id + position, record_id, at,
                 states[position + 1][0] if position < last else None, None,
                 "created" if position == 0 else "stage,amount", state_stage_id, state_amount,
                 close_date, state_category, owner_id, marks.stage_type, marks.is_first,
                 marks.entered_at, marks.closed_at, marks.pushed_from)
            )  # fmt: skip
        writer.add_rows("deal_history", rows)
        self.history_rows += len(rows)
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
        if not changed.keys().isdisjoint(SUBSCRIPTION_FIELDS):
            self.resubscribed.add(record_id)
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
            current = self.session.scalar(
                select(DealHistory).where(
                    DealHistory.deal_id == record_id, DealHistory.valid_to.is_(None)
                )
            )
            previous = None
            if current is not None:
                current.valid_to = self.now
                previous = marks_of(current)
                self.session.flush()
            stage_type = self.session.get_one(Stage, deal.stage_id).type
            marks = next_marks(previous, deal.stage_id, stage_type, self.now, deal.close_date)
            # Through the writer: it hands out this import's ids (the database's would be the
            # same as the writer's next ones).
            self.writer.add(
                "deal_history",
                {
                    "id": self.writer.new_id("deal_history"),
                    "deal_id": record_id,
                    "valid_from": self.now,
                    "valid_to": None,
                    "changed_by_id": None,
                    "changed_fields": ",".join(tracked),
                    "stage_id": deal.stage_id,
                    "amount_cents": deal.amount_cents,
                    "close_date": deal.close_date,
                    "forecast_category": deal.forecast_category,
                    "owner_id": deal.owner_id,
                    **marks.as_values(),
                },
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
        plan = self._reading
        if plan is None or plan.compiled is not compiled:
            plan = self._row_plan(compiled)
        stage_names, formats = plan.stage_names, self.formats
        as_datetime, deal_amount = conv.as_datetime, row.get("amount", 0)
        states: list[tuple[datetime, Stage, int]] = []
        for getter, column, stage_getter, stage_column, amount_getter, amount_column in plan.steps:
            raw = getter(cells)
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                continue
            try:
                at = as_datetime(raw, formats)
            except conv.BadValue as exc:
                problems.append((column, f"history date: {exc}"))
                continue
            step_stage = stage
            if stage_getter is not None:
                stage_name = stage_getter(cells)
                if stage_name is not None:
                    name = str(stage_name)
                    found = stage_names.get(name)
                    if found is None:
                        found = self._stage(name, stage_column, problems)
                        if found is None:
                            continue
                        stage_names[name] = found
                    step_stage = found
            amount = deal_amount
            if amount_getter is not None:
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

    # --- Deal history from history files ---------------------------------------------------------

    def _build_deal_history(
        self,
        compiled: _Compiled,
        summary: FileSummary,
        number: int,
        row: dict[str, Any],
        problems: list[tuple[str | None, str]],
        cells: list[Cell],
    ) -> None:
        """A dated state of a deal, kept until every history row is read (then
        `_write_file_history` turns each deal's states into its history)."""
        history, column = self.file_history, self._column
        deal_id = self._ref("deals", row["deal"], column(compiled, "deal"), problems)
        stage = self._stage(row["stage"], column(compiled, "stage"), problems)
        changed_by_id = self._ref(
            "users", row.get("changed_by"), column(compiled, "changed_by"), problems
        )
        if problems or deal_id is None or stage is None:
            return
        if history.created is None:
            history.created = self._source_deal_creations()
        created_at = history.created.get(deal_id)
        if created_at is not None and row["at"] < created_at:
            problems.append(
                (column(compiled, "at"),
                 f"dated {row['at']:%Y-%m-%d %H:%M}, before the deal was created "
                 f"({created_at:%Y-%m-%d %H:%M})")
            )  # fmt: skip
            return
        history.deal_keys.setdefault(deal_id, row["deal"])
        states = history.states[deal_id]
        states.append(
            _DatedState(
                at=row["at"],
                order=len(states),
                key=row.get("key"),
                stage=stage,
                amount=row.get("amount"),
                close_date=row.get("close_date"),
                category=row.get("forecast_category"),
                changed_by_id=changed_by_id,
                summary=summary,
            )
        )

    def _source_deal_creations(self) -> dict[int, datetime]:
        """When each deal imported from this source (now or before) was created."""
        keyed = and_(
            ExternalId.record_id == Deal.id,
            ExternalId.entity == "deals",
            ExternalId.source == self.mapping.source,
        )
        rows = self.session.execute(select(Deal.id, Deal.created_at).join(ExternalId, keyed))
        return dict(rows.all())

    def _write_file_history(self) -> None:
        """Each deal a history file covers gets its history from it: its states oldest first,
        with the deal's owner throughout (history files do not track owners), ending in the
        deal's current state. A deal whose history is already so is left as it is; any other
        has its history rows replaced, and its closed_at set to when it last closed."""
        history = self.file_history
        deal_ids = list(history.states)
        deals = self._deals_now(deal_ids)
        existing = self._history_rows(deal_ids)
        stage_types = dict(self.session.execute(select(Stage.id, Stage.type)).all())
        known = self.known_keys.setdefault("deal_history", set())
        replaced: list[tuple[int, list[_Version]]] = []
        closed_at_changes: list[dict[str, Any]] = []
        for deal_id, states in history.states.items():
            deal = deals.get(deal_id)
            if deal is None:  # the key points at a deal deleted since
                for state in states:
                    state.summary.unchanged += 1
                continue
            versions = self._versions(deal_id, deal, states)
            rows = existing.get(deal_id, [])
            wanted = _history_rows_of(versions, stage_types)
            if wanted == [row[1:] for row in rows]:
                for version, row in zip(versions, rows, strict=True):
                    for key in version.keys:
                        self._key_row("deal_history", key, row[0])
                for state in states:
                    state.summary.unchanged += 1
            else:
                replaced.append((deal_id, versions))
                for state in states:
                    if state.key in known:
                        state.summary.updated += 1
                    else:
                        state.summary.created += 1
            closed_at = _closed_at(versions, stage_types)
            if closed_at != deal.closed_at:
                closed_at_changes.append({"b_id": deal_id, "b_closed_at": closed_at})
        self._replace_history(replaced, existing, stage_types)
        if closed_at_changes:
            deals_table = Deal.__table__
            self.session.connection().execute(
                update(deals_table)  # type: ignore[arg-type]
                .where(deals_table.c.id == bindparam("b_id"))
                .values(closed_at=bindparam("b_closed_at"), version=deals_table.c.version + 1),
                closed_at_changes,
            )

    def _versions(self, deal_id: int, deal: _DealNow, states: list[_DatedState]) -> list[_Version]:
        """A deal's history rows from its dated states: a field a state leaves empty is as
        before, and when the last state is not the deal's current one, the current one is
        recorded from the deal's last update (and a warning says so)."""
        _, amount, close_date, _, owner_id = current = deal.state
        moments: list[tuple[datetime, tuple[Any, ...], int | None, str | None]] = []
        for state in sorted(states, key=lambda s: (s.at, s.order)):
            amount = state.amount if state.amount is not None else amount
            close_date = state.close_date if state.close_date is not None else close_date
            category = state.category or _category(state.stage)
            values = (state.stage.id, amount, close_date, category, owner_id)
            moments.append((state.at, values, state.changed_by_id, state.key))
        last_at, last = moments[-1][0], moments[-1][1]
        if last != current:
            moment = max(deal.updated_at, last_at)
            moments.append((moment, current, None, None))
            fields = [
                TRACKED_FIELDS[name].value
                for name, before, now in zip(TRACKED_FIELDS, last, current, strict=True)
                if before != now
            ]
            self.warnings.append(
                Problem(
                    states[-1].summary.file, None, None,
                    f"deal {self.file_history.deal_keys[deal_id]!r}: its history ends with "
                    f"another {', '.join(fields)} than the deal has; the deal's is recorded "
                    f"from {moment:%Y-%m-%d %H:%M}",
                )
            )  # fmt: skip
        return _chain(moments)

    def _deals_now(self, deal_ids: list[int]) -> dict[int, _DealNow]:
        """The deals as the database has them, by id."""
        found: dict[int, _DealNow] = {}
        tracked = [getattr(Deal, name) for name in TRACKED_FIELDS]
        for chunk in _chunks(deal_ids):
            for deal_id, *state, updated_at, closed_at in self.session.execute(
                select(Deal.id, *tracked, Deal.updated_at, Deal.closed_at).where(Deal.id.in_(chunk))
            ):
                found[deal_id] = _DealNow(tuple(state), updated_at, closed_at)
        return found

    def _history_rows(self, deal_ids: list[int]) -> dict[int, list[tuple[Any, ...]]]:
        """The history rows the deals have, oldest first: id, then as `_history_values`."""
        found: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
        columns = [getattr(DealHistory, name) for name in _HISTORY_COLUMNS]
        for chunk in _chunks(deal_ids):
            for row in self.session.execute(
                select(DealHistory.deal_id, DealHistory.id, *columns)
                .where(DealHistory.deal_id.in_(chunk))
                .order_by(DealHistory.deal_id, DealHistory.valid_from, DealHistory.id)
            ):
                found[row[0]].append(tuple(row[1:]))
        return found

    def _replace_history(
        self,
        replaced: list[tuple[int, list[_Version]]],
        existing: dict[int, list[tuple[Any, ...]]],
        stage_types: Mapping[int, StageType],
    ) -> None:
        """Delete the deals' history rows (and the keys pointing at them), then write the new
        ones: all deletes first, as the writer may write any time."""
        old_ids = [row[0] for deal_id, _ in replaced for row in existing.get(deal_id, [])]
        keys = [key for _, versions in replaced for version in versions for key in version.keys]
        # Rows written earlier in this import (a new deal's first row) were counted then.
        self.history_rows -= sum(1 for row_id in old_ids if row_id >= self.file_history.first_id)
        source_keys = and_(
            ExternalId.source == self.mapping.source, ExternalId.entity == "deal_history"
        )
        quiet = {"synchronize_session": False}
        for chunk in _chunks([deal_id for deal_id, _ in replaced]):
            self.session.execute(
                delete(DealHistory).where(DealHistory.deal_id.in_(chunk)), execution_options=quiet
            )
        for chunk in _chunks(old_ids):
            self.session.execute(
                delete(ExternalId).where(source_keys, ExternalId.record_id.in_(chunk)),
                execution_options=quiet,
            )
        for chunk in _chunks(keys):
            self.session.execute(
                delete(ExternalId).where(source_keys, ExternalId.key.in_(chunk)),
                execution_options=quiet,
            )
        self.known_keys.setdefault("deal_history", set()).difference_update(keys)
        for deal_id, versions in replaced:
            for position, row in enumerate(_history_rows_of(versions, stage_types)):
                record_id = self.writer.new_id("deal_history")
                values = dict(zip(_HISTORY_COLUMNS, row, strict=True))
                self.writer.add("deal_history", {"id": record_id, "deal_id": deal_id, **values})
                self.history_rows += 1
                for key in versions[position].keys:
                    self._key_row("deal_history", key, record_id)

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
            if found == record_id and target == entity:
                self.problems.append(
                    Problem(problem.file, problem.row, problem.column,
                            f"{field_name}: a record cannot point at itself")
                )  # fmt: skip
                continue
            model = Team if entity == "teams" else User if entity == "users" else Lead
            # A plain UPDATE skips the ORM's version counter: raise it here, so an edit made on
            # the record as it stood before the import is refused as stale.
            self.session.execute(
                update(model)
                .where(model.id == record_id)
                .values({f"{field_name}_id": found, "version": model.version + 1})
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


def _stage_facts(
    facts: dict[Stage, tuple[int, ForecastCategory, bool]], stage: Stage
) -> tuple[int, ForecastCategory, bool]:
    """A stage's id, forecast category and whether it is closed, remembered in `facts`."""
    found = facts[stage] = (stage.id, _category(stage), stage.type is not StageType.OPEN)
    return found


# The columns of a deal_history row after its id and deal_id, in the order the importer writes.
_HISTORY_COLUMNS = (
    "valid_from", "valid_to", "changed_by_id", "changed_fields",
    *TRACKED_FIELDS,  # stage_id, amount_cents, close_date, forecast_category, owner_id
    *HISTORY_MARKS,  # stage_type, is_first, entered_at, closed_at, pushed_from
)  # fmt: skip


def _chain(
    moments: list[tuple[datetime, tuple[Any, ...], int | None, str | None]],
) -> list[_Version]:
    """A deal's versions from its dated states (moment, state, changed by, source key), oldest
    first. States at one moment are one (the last holds); a state equal to the one before
    changes nothing (a Salesforce row for a probability change) and adds no version."""
    versions: list[_Version] = []
    for at, state, changed_by_id, key in moments:
        keys = [key] if key else []
        if versions and at == versions[-1].valid_from:
            last = versions[-1]
            last.state, last.changed_by_id = state, changed_by_id
            last.keys.extend(keys)
            if len(versions) > 1 and versions[-2].state == state:
                versions[-2].keys.extend(versions.pop().keys)
        elif versions and state == versions[-1].state:
            versions[-1].keys.extend(keys)
        else:
            versions.append(_Version(at, state, changed_by_id, keys))
    return versions


def _history_rows_of(
    versions: list[_Version], stage_types: Mapping[int, StageType]
) -> list[tuple[Any, ...]]:
    """The columns (`_HISTORY_COLUMNS`) of the deal's history rows, oldest first."""
    rows = []
    marks = None
    for position, version in enumerate(versions):
        stage_id, close_date = version.state[0], version.state[2]
        marks = next_marks(marks, stage_id, stage_types[stage_id], version.valid_from, close_date)
        rows.append((*_history_values(versions, position), *marks.as_values().values()))
    return rows


def _history_values(versions: list[_Version], position: int) -> tuple[Any, ...]:
    """The columns of the history row for the version at `position` up to its marks: valid
    until the next one, naming the fields that changed (the first is the creation)."""
    version = versions[position]
    changed = CREATED
    if position:
        before = versions[position - 1].state
        changed = ",".join(
            TRACKED_FIELDS[name].value
            for name, old, new in zip(TRACKED_FIELDS, before, version.state, strict=True)
            if old != new
        )
    valid_to = versions[position + 1].valid_from if position + 1 < len(versions) else None
    return (version.valid_from, valid_to, version.changed_by_id, changed, *version.state)


def _closed_at(versions: list[_Version], stage_types: Mapping[int, StageType]) -> datetime | None:
    """When the deal last came to a won or lost stage; None while it is open."""
    closed_at = None
    for version in versions:
        if stage_types.get(version.state[0]) is StageType.OPEN:
            closed_at = None
        elif closed_at is None:
            closed_at = version.valid_from
    return closed_at


def _chunks(items: list[Any], size: int = 500) -> Iterator[list[Any]]:
    """`items` in slices small enough for an IN list on every database."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


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
