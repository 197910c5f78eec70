"""Imports over HTTP: upload files, follow the job's progress, read its outcome.

The import itself runs outside the request, in the server's import thread (see
`topline.importers.jobs`); the upload answers 202 with the job at once.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import Path as FilePath
from typing import Annotated, Literal

from fastapi import (
    APIRouter,
    BackgroundTasks,
    File,
    Form,
    Path,
    Query,
    Request,
    Response,
    UploadFile,
    status,
)
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from topline import access
from topline.auth.enums import Role
from topline.errors import Conflict, InvalidInput, NotFound
from topline.importers import jobs
from topline.importers.mapping import parse_mapping, preset_names
from topline.importers.models import ImportJob, JobStatus
from topline.types import MAX_ID
from topline.web.api.common import ApiUser, Cursor, Limit, Page, WithTotal, errors, paginate
from topline.web.deps import DbSession
from topline.web.routing import TransactionRoute

router = APIRouter(prefix="/imports", tags=["imports"], route_class=TransactionRoute)

JobId = Annotated[int, Path(ge=1, le=MAX_ID, description="Import job id.")]
MAX_MAPPING_BYTES = 1 << 20

Preset = StrEnum("Preset", {name: name for name in preset_names()})  # type: ignore[misc]


class UploadedFile(BaseModel):
    name: str
    bytes: int


class FileOutcome(BaseModel):
    """What became of one file's rows for one kind of record."""

    file: str
    entity: str
    rows: int
    created: int
    updated: int
    unchanged: int
    merged: int
    rejected: int


class ImportProblem(BaseModel):
    file: str
    row: int | None = Field(description="1 is the first row after the header.")
    column: str | None
    message: str


class ImportOutcome(BaseModel):
    """The import's result: per file, its problems, and whether it was written."""

    dry_run: bool
    committed: bool = Field(description="The rows were written (never on a dry run).")
    seconds: float
    files: list[FileOutcome]
    history_rows: int
    problem_count: int
    problems: list[ImportProblem] = Field(description="The first 1,000 problems.")
    warnings: list[str]
    errors_file: bool = Field(description="Rejected rows can be downloaded (`keep_valid`).")
    analyzed_tables: list[str] = Field(
        default_factory=list,
        description="Tables whose query-planner statistics the import refreshed: those it wrote "
        "(created or updated) a tenth or more of the rows of, or that had none.",
    )


class ImportJobRead(BaseModel):
    """An import job: its files, options, progress and, once finished, its outcome."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    status: JobStatus = Field(
        description="draft, queued, running, then done, rejected (problems: nothing written), "
        "failed (could not run; see `error`) or cancelled."
    )
    dry_run: bool
    keep_valid: bool
    preset: str | None
    has_mapping: bool = Field(description="A YAML mapping was uploaded.")
    files: list[UploadedFile]
    preview_of_id: int | None = Field(description="The job whose files and mapping this reruns.")
    created_by_id: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    rows_read: dict[str, int] = Field(description="Rows read so far, per file name.")
    result: ImportOutcome | None
    error: str | None


def job_read(request: Request, job: ImportJob) -> ImportJobRead:
    """The job as the API shows it, with live progress (and a dead worker seen as failed)."""
    root = request.app.state.settings.data_dir
    state, error = jobs.seen_state(job)
    return ImportJobRead(
        id=job.id,
        status=state,
        dry_run=job.dry_run,
        keep_valid=job.keep_valid,
        preset=job.preset,
        has_mapping=job.mapping_yaml is not None,
        files=[UploadedFile(**entry) for entry in job.files],
        preview_of_id=job.preview_of_id,
        created_by_id=job.created_by_id,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        rows_read=jobs.progress_of(root, job) if state != JobStatus.DRAFT else {},
        result=ImportOutcome.model_validate(job.result) if job.result else None,
        error=error,
    )


def _job(session: DbSession, user: ApiUser, job_id: int) -> ImportJob:
    access.require_role(user, Role.ADMIN)
    job = session.get(ImportJob, job_id)
    if job is None:
        raise NotFound(f"import job {job_id} not found")
    return job


def _mapping_text(mapping: UploadFile | None) -> str | None:
    if mapping is None:
        return None
    raw = mapping.file.read(MAX_MAPPING_BYTES + 1)
    if len(raw) > MAX_MAPPING_BYTES:
        raise InvalidInput("mapping: the file is over 1 MB", details={"field": "mapping"})
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(
            "mapping: not UTF-8 text; upload the YAML mapping file", details={"field": "mapping"}
        ) from None
    # Checked now, so a broken mapping is refused at once instead of failing the job later.
    parse_mapping(text, "mapping")
    return text


@router.post(
    "",
    response_model=ImportJobRead,
    status_code=status.HTTP_202_ACCEPTED,
    responses=errors(403),
)
def create_import(
    request: Request,
    session: DbSession,
    user: ApiUser,
    background: BackgroundTasks,
    files: Annotated[
        list[UploadFile],
        File(description="CSV or XLSX files; several at once may refer to each other."),
    ],
    preset: Annotated[
        Preset | None, Form(description="A shipped mapping for another CRM's export.")
    ] = None,
    mapping: Annotated[
        UploadFile | None, File(description="A YAML mapping (see docs/importing.md).")
    ] = None,
    dry_run: Annotated[bool, Form(description="Check everything, write nothing.")] = False,
    keep_valid: Annotated[
        bool, Form(description="Write the valid rows even when others have problems.")
    ] = False,
) -> ImportJobRead:
    """Upload files to import; the import runs in the background (poll `GET /imports/{id}`).

    Admins only. Without a preset or mapping, each file's kind comes from its name and its
    columns from their headers. Unless `keep_valid`, a problem in any row means nothing is
    written; a dry run never writes.
    """
    access.require_role(user, Role.ADMIN)
    root: FilePath = request.app.state.settings.data_dir
    job = jobs.create_job(
        session,
        root,
        user,
        [(upload.filename, upload.file) for upload in files],
        preset=preset.value if preset is not None else None,
        mapping_yaml=_mapping_text(mapping),
        dry_run=dry_run,
        keep_valid=keep_valid,
    )
    # Submitted once the response is out, which is after the job's row was committed.
    background.add_task(request.app.state.import_runner.submit, job.id)
    return job_read(request, job)


JobSort = Literal["-created_at", "created_at"]


@router.get("", response_model=Page[ImportJobRead], responses=errors(403, 404))
def list_imports(
    request: Request,
    session: DbSession,
    user: ApiUser,
    status_: Annotated[JobStatus | None, Query(alias="status")] = None,
    sort: JobSort = "-created_at",
    cursor: Cursor = None,
    limit: Limit = 50,
    with_total: WithTotal = False,
) -> Page[ImportJobRead]:
    """Import jobs, newest first. Admins only."""
    access.require_role(user, Role.ADMIN)
    stmt = select(ImportJob)
    if status_ is not None:
        stmt = stmt.where(ImportJob.status == status_)
    rows, next_cursor, total = paginate(
        session,
        stmt,
        sort_column=ImportJob.created_at,
        id_column=ImportJob.id,
        descending=sort.startswith("-"),
        cursor=cursor,
        limit=limit,
        with_total=with_total,
    )
    return Page[ImportJobRead](
        items=[job_read(request, job) for job in rows], next_cursor=next_cursor, total=total
    )


@router.get("/{job_id:int}", response_model=ImportJobRead, responses=errors(403, 404))
def get_import(request: Request, session: DbSession, user: ApiUser, job_id: JobId) -> ImportJobRead:
    """One import job: rows read so far while it runs, its outcome once finished."""
    return job_read(request, _job(session, user, job_id))


@router.get(
    "/{job_id:int}/errors",
    response_class=Response,
    responses={
        200: {
            "description": "The rejected rows, each with its problems.",
            "content": {"text/csv": {}},
        },
        **errors(403, 404),
    },
)
def get_import_errors(
    request: Request, session: DbSession, user: ApiUser, job_id: JobId
) -> Response:
    """The rows a `keep_valid` import rejected, as CSV with an `import_problems` column."""
    job = _job(session, user, job_id)
    path = jobs.rejected_rows_file(request.app.state.settings.data_dir, job)
    if path is None:
        raise NotFound(f"import job {job_id} has no rejected rows to download")
    return FileResponse(
        path, media_type="text/csv; charset=utf-8", filename=f"import-{job.id}-errors.csv"
    )


@router.post(
    "/{job_id:int}/cancel",
    response_model=ImportJobRead,
    status_code=status.HTTP_202_ACCEPTED,
    responses=errors(403, 404, 409),
)
def cancel_import(
    request: Request, session: DbSession, user: ApiUser, job_id: JobId
) -> ImportJobRead:
    """Stop a queued or running import; nothing of it is written. A finished one is 409."""
    job = _job(session, user, job_id)
    if job.status.finished:
        raise Conflict(f"import job {job_id} has finished ({job.status.value})")
    jobs.cancel_job(request.app.state.settings.data_dir, job)
    return job_read(request, job)
