"""The import pages: upload files, map their columns, preview the import, then confirm it.

An upload becomes a draft job (see `topline.importers.jobs`). Its page shows each file's
first rows and lets the admin pick the kind of record and the field each column fills,
pre-filled from the header names; a preview is a dry run of that mapping, and confirming
runs the same files and mapping for real. Runs happen in the server's import thread while
the page polls their progress.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, BackgroundTasks, Depends, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from topline import access
from topline.auth.enums import Role
from topline.auth.models import User
from topline.errors import Conflict, InvalidInput, NotFound
from topline.importers import jobs
from topline.importers.catalog import ENTITIES, EntityDef, guess_entity, match_columns
from topline.importers.mapping import entries_for, parse_mapping, preset_names
from topline.importers.models import ImportJob, JobStatus
from topline.importers.sources import SourceError, open_table
from topline.types import MAX_ID
from topline.web.deps import CurrentUser, DbSession
from topline.web.routing import TransactionRoute
from topline.web.templating import templates

router = APIRouter(route_class=TransactionRoute)

SAMPLE_ROWS = 3
RECENT_JOBS = 25
DEFAULT_SOURCE = "spreadsheet"
MAX_PROBLEMS_SHOWN = 200


@dataclass
class FilePreview:
    """One uploaded file as the mapping form shows it."""

    index: int
    name: str
    header: list[str] = field(default_factory=list)
    samples: list[list[str]] = field(default_factory=list)
    entity: EntityDef | None = None
    matches: dict[str, str] = field(default_factory=dict)  # column → field
    preset_entities: list[str] = field(default_factory=list)
    error: str | None = None


def _admin(user: User) -> None:
    access.require_role(user, Role.ADMIN)


def _job(session: Session, job_id: int) -> ImportJob:
    job = session.get(ImportJob, job_id) if 1 <= job_id <= MAX_ID else None
    if job is None:
        raise NotFound(f"import job {job_id} not found")
    return job


def _root(request: Request) -> Path:
    root: Path = request.app.state.settings.data_dir
    return root


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def preview_file(path: Path, index: int, job: ImportJob) -> FilePreview:
    """The file's header, first rows and guessed mapping (or the preset's entries for it)."""
    preview = FilePreview(index=index, name=path.name)
    try:
        with open_table(path) as table:
            preview.header = list(table.header)
            for _, cells in table.rows():
                preview.samples.append([_text(cell)[:80] for cell in cells])
                if len(preview.samples) == SAMPLE_ROWS:
                    break
    except SourceError as exc:
        preview.error = str(exc).replace(str(path.parent) + "/", "")
        return preview
    mapping = jobs.mapping_of(job) if job.preset or job.mapping_yaml else None
    if mapping is not None:
        preview.preset_entities = [entry.entity for entry in entries_for(mapping, path.name)]
        return preview
    preview.entity = guess_entity(path.name, preview.header)
    if preview.entity is not None:
        preview.matches = _by_column(match_columns(preview.entity, preview.header))
    return preview


def _by_column(matches: dict[str, str]) -> dict[str, str]:
    return {column: field_name for field_name, column in matches.items()}


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(
        request, name, {"active_nav": "imports", **context}, status_code=status
    )


def _list_page(
    request: Request, session: Session, error: str | None = None, status: int = 200
) -> HTMLResponse:
    recent = session.scalars(
        select(ImportJob)
        .order_by(ImportJob.created_at.desc(), ImportJob.id.desc())
        .limit(RECENT_JOBS)
    ).all()
    return _page(
        request,
        "imports/list.html",
        {"jobs": recent, "presets": preset_names(), "error": error},
        status,
    )


@router.get("/imports", response_class=HTMLResponse)
def imports_page(request: Request, session: DbSession, user: CurrentUser) -> HTMLResponse:
    """Recent imports and the upload form."""
    _admin(user)
    return _list_page(request, session)


@router.post("/imports", response_class=HTMLResponse)
def upload_files(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    files: Annotated[list[UploadFile], File()],
    preset: Annotated[str, Form()] = "",
    mapping: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Keep the uploaded files as a draft import and show its mapping form."""
    _admin(user)
    uploads = [(upload.filename, upload.file) for upload in files if upload.filename]
    try:
        mapping_yaml = None
        if mapping is not None and mapping.filename:
            raw = mapping.file.read(1 << 20)
            mapping_yaml = raw.decode("utf-8-sig", errors="replace")
            parse_mapping(mapping_yaml, mapping.filename)
        job = jobs.create_job(
            session,
            _root(request),
            user,
            uploads,
            preset=preset or None,
            mapping_yaml=mapping_yaml,
            draft=True,
        )
    except InvalidInput as exc:
        session.rollback()
        return _list_page(request, session, error=exc.message, status=422)
    return RedirectResponse(f"/imports/{job.id}", status_code=303)


def _job_context(request: Request, job: ImportJob) -> dict[str, Any]:
    state, error = jobs.seen_state(job)
    result = job.result or {}
    return {
        "job": job,
        "state": state.value,
        "finished": state.finished,
        "job_error": error,
        "rows_read": jobs.progress_of(_root(request), job),
        "result": result,
        "problems": result.get("problems", [])[:MAX_PROBLEMS_SHOWN],
        "can_confirm": job.dry_run and state == JobStatus.DONE,
    }


@router.get("/imports/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, session: DbSession, user: CurrentUser, job_id: int) -> HTMLResponse:
    """A draft's mapping form, or a run's progress and outcome."""
    _admin(user)
    job = _job(session, job_id)
    context = _job_context(request, job)
    if job.status == JobStatus.DRAFT:
        folder = jobs.JobFolder.of(_root(request), job.id)
        paths = folder.file_paths(job.files)
        context.update(
            files=[preview_file(path, index, job) for index, path in enumerate(paths)],
            entities=list(ENTITIES.values()),
            source=DEFAULT_SOURCE,
            form_error=None,
        )
    return _page(request, "imports/job.html", context)


@router.get("/imports/{job_id}/status", response_class=HTMLResponse)
def job_status(
    request: Request, session: DbSession, user: CurrentUser, job_id: int
) -> HTMLResponse:
    """The run's progress and outcome alone, for the page to poll."""
    _admin(user)
    context = _job_context(request, _job(session, job_id))
    return templates.TemplateResponse(request, "imports/_status.html", context)


@router.get("/imports/{job_id}/columns", response_class=HTMLResponse)
def file_columns(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    job_id: int,
    index: int,
    entity: str = "",
) -> HTMLResponse:
    """One file's column table for another kind of record (the form swaps it in)."""
    _admin(user)
    job = _job(session, job_id)
    paths = jobs.JobFolder.of(_root(request), job.id).file_paths(job.files)
    if not 0 <= index < len(paths):
        raise NotFound(f"import job {job_id} has no file {index}")
    preview = preview_file(paths[index], index, job)
    # The form's select sends itself as `entity-<index>`.
    preview.entity = ENTITIES.get(entity or request.query_params.get(f"entity-{index}", ""))
    preview.matches = (
        _by_column(match_columns(preview.entity, preview.header)) if preview.entity else {}
    )
    return templates.TemplateResponse(
        request, "imports/_columns.html", {"file": preview, "entities": list(ENTITIES.values())}
    )


def mapping_from_form(names: list[str], form: dict[str, str], source: str) -> str:
    """The YAML mapping the form describes: per file its entity and each column's field."""
    files: list[dict[str, Any]] = []
    for index, name in enumerate(names):
        entity_name = form.get(f"entity-{index}", "")
        if not entity_name:
            continue  # a file left out of the import
        entity = ENTITIES.get(entity_name)
        if entity is None:
            raise InvalidInput(f"{name}: no kind of record {entity_name!r}")
        fields: dict[str, str] = {}
        prefix = f"column-{index}-"
        for key, value in form.items():
            if not key.startswith(prefix) or not value:
                continue
            column = form.get(f"name-{index}-{key[len(prefix) :]}", "")
            if value in fields:
                raise InvalidInput(
                    f"{name}: {value} is filled from two columns ({fields[value]!r} and "
                    f"{column!r}); pick one"
                )
            fields[value] = column
        missing = [f.name for f in entity.fields if f.required and f.name not in fields]
        if missing:
            raise InvalidInput(f"{name}: pick a column for {', '.join(missing)} ({entity.noun})")
        files.append({"file": name, "entity": entity.name, "auto": False, "fields": fields})
    if not files:
        raise InvalidInput("pick the kind of record of at least one file")
    text = yaml.safe_dump({"source": source, "files": files}, sort_keys=False, allow_unicode=True)
    parse_mapping(text, "the mapping")  # the same checks as a mapping file gets
    return text


async def form_fields(request: Request) -> dict[str, str]:
    """The posted form's text fields (the mapping form's names depend on the files)."""
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


FormFields = Annotated[dict[str, str], Depends(form_fields)]


@router.post("/imports/{job_id}/preview", response_class=HTMLResponse)
def preview_import(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    background: BackgroundTasks,
    job_id: int,
    form: FormFields,
) -> Response:
    """Dry-run the draft with the form's mapping (or its preset), showing the run's page."""
    _admin(user)
    job = _job(session, job_id)
    if job.status != JobStatus.DRAFT:
        raise Conflict(f"import job {job_id} is not a draft any more; upload the files again")
    source = form.get("source", "").strip() or DEFAULT_SOURCE
    names = [entry["name"] for entry in job.files]
    try:
        if not (job.preset or job.mapping_yaml):
            job.mapping_yaml = mapping_from_form(names, form, source)
    except InvalidInput as exc:
        paths = jobs.JobFolder.of(_root(request), job.id).file_paths(job.files)
        previews = [preview_file(path, index, job) for index, path in enumerate(paths)]
        for preview in previews:  # keep what the admin picked
            chosen = form.get(f"entity-{preview.index}", "")
            preview.entity = ENTITIES.get(chosen)
            preview.matches = {
                form.get(f"name-{preview.index}-{key.rsplit('-', 1)[1]}", ""): value
                for key, value in form.items()
                if key.startswith(f"column-{preview.index}-") and value
            }
        context = _job_context(request, job)
        context.update(
            files=previews,
            entities=list(ENTITIES.values()),
            source=source,
            form_error=exc.message,
        )
        return _page(request, "imports/job.html", context, status=422)
    run = jobs.rerun_job(session, _root(request), job, user, dry_run=True)
    background.add_task(request.app.state.import_runner.submit, run.id)
    return RedirectResponse(f"/imports/{run.id}", status_code=303)


@router.post("/imports/{job_id}/confirm", response_class=HTMLResponse)
def confirm_import(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    background: BackgroundTasks,
    job_id: int,
    keep_valid: Annotated[bool, Form()] = False,
) -> Response:
    """Run a previewed import for real: the same files and mapping, written this time.

    A preview with problems may go ahead only with `keep_valid` (the valid rows only)."""
    _admin(user)
    job = _job(session, job_id)
    ready = job.status == JobStatus.DONE or (job.status == JobStatus.REJECTED and keep_valid)
    if not (job.dry_run and ready):
        raise Conflict(f"import job {job_id} is not a finished preview that can be imported")
    run = jobs.rerun_job(session, _root(request), job, user, dry_run=False, keep_valid=keep_valid)
    background.add_task(request.app.state.import_runner.submit, run.id)
    return RedirectResponse(f"/imports/{run.id}", status_code=303)


@router.post("/imports/{job_id}/cancel", response_class=HTMLResponse)
def cancel_job(request: Request, session: DbSession, user: CurrentUser, job_id: int) -> Response:
    """Stop a draft, queued or running import."""
    _admin(user)
    job = _job(session, job_id)
    jobs.cancel_job(_root(request), job)
    return RedirectResponse(f"/imports/{job.id}", status_code=303)


@router.get("/imports/{job_id}/errors.csv")
def rejected_rows(request: Request, session: DbSession, user: CurrentUser, job_id: int) -> Response:
    """The rows a `keep valid` import rejected, with their problems."""
    _admin(user)
    job = _job(session, job_id)
    path = jobs.rejected_rows_file(_root(request), job)
    if path is None:
        raise NotFound(f"import job {job_id} has no rejected rows")
    return FileResponse(
        path, media_type="text/csv; charset=utf-8", filename=f"import-{job.id}-errors.csv"
    )
