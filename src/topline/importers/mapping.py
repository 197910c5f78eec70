"""Mappings: which file holds which entity, and how its columns become Topline's fields.

A mapping is YAML (documented in docs/importing.md). Each entry of `files` names the files it
applies to (a glob), the entity they hold and, per field, where the value comes from:

- a column: `name: Opportunity Name`
- a template of columns: `email: {template: "{sales_agent|slug}@example.com"}` (empty when a
  column it uses is empty)
- a constant: `role: {value: rep}`
- a lookup in another file: `amount: {lookup: products, by: product, take: sales_price}`
- several of these in a list: the first that gives a value wins.

Each source may also carry `map` (their values to ours, e.g. stage names), `empty` (values
meaning "nothing", e.g. "0" or "n/a"), `prefix` (only values starting with it count, e.g. the
key prefix of a Salesforce Id: a `WhoId` names a contact when it starts with 003, a lead with
00Q), `default`, `format` (a date format) and `scale` (for amounts given in thousands or
millions). Fields not named are matched by header names unless the entry says `auto: false`.
"""

from __future__ import annotations

import fnmatch
import re
import unicodedata
from collections.abc import Callable
from collections.abc import Mapping as MappingABC
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from topline.crm.enums import StageType
from topline.crm.pipelines import StageSpec
from topline.errors import InvalidInput
from topline.importers.catalog import ENTITIES, EntityDef, match_columns
from topline.importers.sources import Cell
from topline.importers.values import BadValue, Formats, number

Scalar = str | int | float | bool
PRESETS_PACKAGE = "topline.importers.presets"


class MappingError(InvalidInput):
    """A mapping that cannot be used as written; the message says where and why."""

    code = "invalid_mapping"


class MissingColumn(MappingError):
    """The mapping names a column the file does not have."""


class ValueSpec(BaseModel):
    """Where one field's value comes from, and how it is cleaned up."""

    model_config = ConfigDict(extra="forbid")

    column: str | None = None
    template: str | None = None
    value: Scalar | None = None
    lookup: str | None = None
    by: str | None = Field(default=None, description="column whose value is the lookup key")
    take: str | None = Field(default=None, description="column of the lookup file to take")
    map: dict[str, Scalar | None] = Field(default_factory=dict)
    empty: list[str] = Field(default_factory=list)
    prefix: str | None = Field(
        default=None,
        min_length=1,
        description="only values starting with this count; others are empty (the key prefix "
        "of a Salesforce Id tells which kind of record it names)",
    )
    default: Scalar | None = None
    format: str | None = None
    scale: Decimal | None = None

    @model_validator(mode="after")
    def _one_source(self) -> ValueSpec:
        given = [
            name
            for name in ("column", "template", "value", "lookup")
            if getattr(self, name) is not None
        ]
        if len(given) > 1:
            raise ValueError(f"give one of column, template, value or lookup, not {given}")
        if not given and self.default is None:
            raise ValueError("give a column, template, value, lookup or default")
        if self.lookup is not None and (self.by is None or self.take is None):
            raise ValueError("a lookup needs `by` (our column) and `take` (their column)")
        if self.prefix is not None and self.column is None and self.template is None:
            raise ValueError("`prefix` goes with a column or a template")
        return self


FieldSource = str | ValueSpec | list[str | ValueSpec]


class HistoryStep(BaseModel):
    """A dated state of a deal: when it happened, and its stage then (default: the deal's)."""

    model_config = ConfigDict(extra="forbid")

    at: FieldSource
    stage: FieldSource | None = None
    amount: FieldSource | None = None


class FileMapping(BaseModel):
    """One kind of record in the files whose names match `file`."""

    model_config = ConfigDict(extra="forbid")

    file: str
    entity: Literal[
        "teams", "users", "accounts", "contacts", "leads", "deals", "deal_history", "activities"
    ]
    fields: dict[str, FieldSource] = Field(default_factory=dict)
    auto: bool = True
    merge_duplicates: bool = Field(
        default=False,
        description="rows repeating a key with the same values are one record (a list of "
        "managers taken from a list of reps); with other values they are a problem",
    )
    history: list[HistoryStep] = Field(default_factory=list)

    @model_validator(mode="after")
    def _known_fields(self) -> FileMapping:
        entity = ENTITIES[self.entity]
        for name in self.fields:
            if entity.field(name) is None:
                known = ", ".join(f.name for f in entity.fields)
                raise ValueError(f"{self.entity} have no field {name!r} (they have: {known})")
        if self.history and self.entity != "deals":
            raise ValueError("only deals have a history")
        return self


class StageEntry(BaseModel):
    """A stage of a pipeline the mapping creates."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    type: Literal["open", "won", "lost"] = "open"
    probability: float | None = Field(default=None, ge=0, le=1)


class PipelineSpec(BaseModel):
    """The pipeline deals go into; created with `stages` when Topline has none of that name."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    stages: list[str | StageEntry] = Field(default_factory=list)

    def stage_specs(self) -> list[StageSpec]:
        """The stages with probabilities: given ones, else spread evenly over open stages."""
        entries = [StageEntry(name=s) if isinstance(s, str) else s for s in self.stages]
        open_count = sum(1 for e in entries if e.type == "open")
        specs: list[StageSpec] = []
        position = 0
        for entry in entries:
            if entry.type == "open":
                position += 1
                default = round(position / (open_count + 1), 2)
            else:
                default = 1.0 if entry.type == "won" else 0.0
            probability = entry.probability if entry.probability is not None else default
            specs.append(StageSpec(entry.name, probability, StageType(entry.type)))
        return specs


class LookupTable(BaseModel):
    """A small reference file, read whole, to look values up in by `key`."""

    model_config = ConfigDict(extra="forbid")

    file: str
    key: str


class ImportMapping(BaseModel):
    """A whole mapping: the source system's name, formats, lookups and files."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(
        description="names the system the files come from; keys are kept per source so that "
        "re-importing updates the same records"
    )
    date_formats: list[str] = Field(default_factory=list)
    decimal_separator: Literal[".", ","] = "."
    timezone: str = "UTC"
    pipeline: PipelineSpec | None = None
    lookups: dict[str, LookupTable] = Field(default_factory=dict)
    ignore: list[str] = Field(
        default_factory=list, description="globs of files given along that hold no records"
    )
    missing_columns: Literal["error", "skip"] = Field(
        default="error",
        description="what a column the mapping names but a file lacks means: an error, or "
        "(presets, made for many variants of an export) that the field is not imported",
    )
    other_files: Literal["error", "skip"] = Field(
        default="error",
        description="what a file given along that no entry, lookup or `ignore` names means: an "
        "error, or (presets for a whole export of many files) that it is not read",
    )
    files: list[FileMapping]

    @field_validator("pipeline", mode="before")
    @classmethod
    def _pipeline_name(cls, value: object) -> object:
        return {"name": value} if isinstance(value, str) else value

    @field_validator("source")
    @classmethod
    def _source_name(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_\-]{0,49}", value):
            raise ValueError("use 1 to 50 lower-case letters, digits, - or _ (e.g. salesforce)")
        return value


def load_mapping(spec: str | Path) -> ImportMapping:
    """A mapping from a YAML file, or a shipped preset by name (salesforce, hubspot, …)."""
    path = Path(spec)
    if path.suffix.lower() in {".yaml", ".yml"} or path.exists():
        if not path.is_file():
            raise MappingError(f"mapping file {path} not found")
        text = path.read_text(encoding="utf-8")
        where = str(path)
    else:
        name = str(spec).lower()
        preset = resources.files(PRESETS_PACKAGE) / f"{name}.yaml"
        if not preset.is_file():
            raise MappingError(
                f"no mapping preset {name!r}; presets: {', '.join(preset_names())} "
                "(or give a .yaml file)"
            )
        text = preset.read_text(encoding="utf-8")
        where = f"preset {name}"
    return parse_mapping(text, where)


def parse_mapping(text: str, where: str = "mapping") -> ImportMapping:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MappingError(f"{where}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise MappingError(f"{where}: expected a mapping with `source` and `files`")
    try:
        return ImportMapping.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors()
        )
        raise MappingError(f"{where}: {problems}") from None


def preset_names() -> list[str]:
    folder = resources.files(PRESETS_PACKAGE)
    return sorted(item.name[:-5] for item in folder.iterdir() if item.name.endswith(".yaml"))


def auto_mapping(source: str, files: list[tuple[str, EntityDef]]) -> ImportMapping:
    """The mapping used without one: each file's entity guessed, columns matched by header."""
    return ImportMapping(
        source=source,
        files=[FileMapping(file=name, entity=entity.name) for name, entity in files],
    )


def entries_for(mapping: ImportMapping, file_name: str) -> list[FileMapping]:
    """The mapping's entries that apply to a file name (case-insensitive glob)."""
    return [
        entry
        for entry in mapping.files
        if fnmatch.fnmatch(file_name.casefold(), entry.file.casefold())
    ]


# --- Turning a field source into a function of the row ---------------------------------------

Getter = Callable[[list[Cell]], Cell]
Lookups = MappingABC[str, MappingABC[str, MappingABC[str, Cell]]]


def compile_source(
    source: FieldSource,
    header: list[str],
    lookups: Lookups,
    *,
    where: str,
    decimal_separator: str = ".",
    skip_missing: bool = False,
) -> tuple[Getter, str | None]:
    """A function giving the field's raw value for a row (None when empty), and the column
    to name in problems about it. With `skip_missing`, alternatives naming columns the file
    lacks are left out (`MissingColumn` when none is left)."""
    specs = source if isinstance(source, list) else [source]
    getters: list[Getter] = []
    column_name: str | None = None
    missing: MissingColumn | None = None
    for spec in specs:
        value_spec = ValueSpec(column=spec) if isinstance(spec, str) else spec
        try:
            getter, column = _compile_one(value_spec, header, lookups, where=where)
        except MissingColumn as exc:
            if not skip_missing:
                raise
            missing = exc
            continue
        if value_spec.scale is not None:
            getter = _scaled(getter, value_spec.scale, decimal_separator)
        getters.append(getter)
        column_name = column_name or column
    if not getters:
        assert missing is not None
        raise missing
    if len(getters) == 1:
        return getters[0], column_name

    def first_value(row: list[Cell]) -> Cell:
        for getter in getters:
            value = getter(row)
            if value is not None:
                return value
        return None

    return first_value, column_name


def _scaled(getter: Getter, scale: Decimal, decimal_separator: str) -> Getter:
    """Numbers times `scale` (amounts given in thousands or millions); text that is not a
    number passes through, to be refused by the field's own check."""
    formats = Formats(decimal_separator=decimal_separator)

    def scaled(row: list[Cell]) -> Cell:
        value = getter(row)
        if value is None:
            return None
        try:
            return str(number(value, formats) * scale)
        except BadValue:
            return value

    return scaled


def _compile_one(
    spec: ValueSpec, header: list[str], lookups: Lookups, *, where: str
) -> tuple[Getter, str | None]:
    empties = {"", *(item.strip().casefold() for item in spec.empty)}
    value_map = {_key(source): target for source, target in spec.map.items()}
    default = spec.default
    prefix = spec.prefix

    def clean(raw: Cell) -> Cell:
        if raw is None:
            return default
        if isinstance(raw, str):
            raw = raw.strip()
            if raw.casefold() in empties:
                return default
        elif str(raw).casefold() in empties:
            return default
        if prefix is not None and not str(raw).startswith(prefix):
            return default
        if value_map:
            key = _key(str(raw))
            if key in value_map:
                mapped = value_map[key]
                return default if mapped is None else mapped
        return raw

    if spec.column is not None:
        index = column_index(header, spec.column, where=where)
        return (lambda row: clean(row[index] if index < len(row) else None)), header[index]
    if spec.template is not None:
        render = _template(spec.template, header, where=where)
        return (lambda row: clean(render(row))), None
    if spec.lookup is not None:
        table = lookups.get(spec.lookup)
        if table is None:
            raise MappingError(f"{where}: no lookup called {spec.lookup!r} in `lookups`")
        assert spec.by is not None and spec.take is not None
        index = column_index(header, spec.by, where=where)
        take = spec.take
        # The map applies to our value before it is looked up (their spelling of the key).
        by_map = value_map

        def looked_up(row: list[Cell]) -> Cell:
            raw = row[index] if index < len(row) else None
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                return default
            key = _key(str(raw))
            found = table.get(str(by_map.get(key, raw)).strip().casefold())
            value = None if found is None else found.get(take)
            if value is None or (isinstance(value, str) and not value.strip()):
                return default
            return value

        return looked_up, header[index]
    constant = spec.value if spec.value is not None else default
    return (lambda _row: constant), None


def _key(text: str) -> str:
    return text.strip().casefold()


def column_index(header: list[str], column: str, *, where: str) -> int:
    wanted = column.strip().casefold()
    for index, name in enumerate(header):
        if name.casefold() == wanted:
            return index
    raise MissingColumn(f"{where}: no column {column!r} in the file (it has: {', '.join(header)})")


_PLACEHOLDER = re.compile(r"\{([^{}|]+)(?:\|(\w+))?\}")
FILTERS: dict[str, Callable[[str], str]] = {
    "slug": lambda text: re.sub(
        r"[^a-z0-9]+",
        ".",
        unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower(),
    ).strip("."),
    "lower": str.lower,
    "upper": str.upper,
    "first_word": lambda text: text.split()[0] if text.split() else "",
    "last_word": lambda text: text.split()[-1] if text.split() else "",
}


def _template(template: str, header: list[str], *, where: str) -> Getter:
    parts: list[str | tuple[int, Callable[[str], str] | None]] = []
    position = 0
    for match in _PLACEHOLDER.finditer(template):
        parts.append(template[position : match.start()])
        index = column_index(header, match.group(1), where=where)
        name = match.group(2)
        if name is not None and name not in FILTERS:
            raise MappingError(
                f"{where}: unknown template filter {name!r} (filters: {', '.join(FILTERS)})"
            )
        parts.append((index, FILTERS[name] if name else None))
        position = match.end()
    parts.append(template[position:])

    def render(row: list[Cell]) -> Cell:
        out: list[str] = []
        for part in parts:
            if isinstance(part, str):
                out.append(part)
                continue
            index, apply = part
            raw = row[index] if index < len(row) else None
            text = "" if raw is None else str(raw).strip()
            if not text:
                return None
            out.append(apply(text) if apply else text)
        return "".join(out)

    return render


def field_sources(
    entry: FileMapping, entity: EntityDef, header: list[str]
) -> dict[str, FieldSource]:
    """The entry's field sources plus, unless `auto: false`, the fields its header names."""
    sources: dict[str, FieldSource] = {}
    if entry.auto:
        named_columns = {
            spec.casefold()
            for source in entry.fields.values()
            for spec in (source if isinstance(source, list) else [source])
            if isinstance(spec, str)
        }
        for name, column in match_columns(entity, header).items():
            if column.casefold() not in named_columns:
                sources[name] = column
    sources.update(entry.fields)
    return sources
