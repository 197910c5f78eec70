"""Imports run as background jobs, outside the request that uploaded the files.

A job is an `ImportJob` row plus a folder, `<data dir>/imports/<job id>/`, holding the
uploaded files (`files/`), the live progress (`progress.json`, rewritten at most a few times a
second) and, with `keep_valid`, the rejected rows (`errors.csv`). The process that received
the upload runs the job in its one import thread (imports run one at a time per process: each
is one long write transaction). Every process on the host answers about any job from the row
and the folder, so several server processes behind one address agree; serving from several
hosts needs the data directory on shared storage, as uploads do in any web app.

A job that was running when its process died is found by the process id it recorded and
marked failed; its import was one transaction, so nothing of it was written.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from topline.auth.models import User
from topline.clock import utcnow
from topline.errors import InvalidInput
from topline.importers.engine import ImportFailed, ImportResult, run_import
from topline.importers.mapping import ImportMapping, load_mapping, parse_mapping, preset_names
from topline.importers.models import ImportJob, JobStatus
from topline.storage.db import write_transaction

logger = logging.getLogger(__name__)

IMPORTS_FOLDER = "imports"
MAX_FILES = 20
# Progress is written at most this often; the import calls back every 10,000 rows.
PROGRESS_INTERVAL_SECONDS = 0.25
_SUFFIXES = {".csv", ".tsv", ".txt", ".xlsx", ".xlsm"}
_UNSAFE = re.compile(r"[^\w.\- ()]+")
# The process running a job, as "host:pid"; another process on the same host can tell
# whether it is still alive.
WORKER = f"{socket.gethostname()}:{os.getpid()}"


class JobCancelled(Exception):
    """The job was cancelled while it ran; its transaction rolls back."""


def upload_name(name: str | None) -> str:
    """The file name to keep for an upload: its last path part, with only plain characters.

    The name matters: presets and mappings pick files by it (`Opportunity.csv`).
    """
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    cleaned = _UNSAFE.sub("_", base).strip(". ")
    if not cleaned:
        raise InvalidInput("every uploaded file needs a name, such as deals.csv")
    if Path(cleaned).suffix.lower() not in _SUFFIXES:
        raise InvalidInput(f"{cleaned}: upload CSV (.csv, .tsv, .txt) or Excel (.xlsx) files")
    return cleaned[:200]


@dataclass(frozen=True)
class JobFolder:
    """Where one job's files, progress and rejected rows live."""

    path: Path

    @classmethod
    def of(cls, root: Path, job_id: int) -> JobFolder:
        return cls(root / IMPORTS_FOLDER / str(job_id))

    @property
    def files_dir(self) -> Path:
        return self.path / "files"

    @property
    def errors_path(self) -> Path:
        return self.path / "errors.csv"

    @property
    def _progress_path(self) -> Path:
        return self.path / "progress.json"

    @property
    def _cancel_path(self) -> Path:
        return self.path / "cancel"

    def file_paths(self, files: Iterable[dict[str, Any]]) -> list[Path]:
        return [self.files_dir / entry["name"] for entry in files]

    def save(self, name: str, stream: IO[bytes]) -> dict[str, Any]:
        """Copy an upload into the folder, in chunks."""
        self.files_dir.mkdir(parents=True, exist_ok=True)
        target = self.files_dir / name
        with target.open("xb") as out:
            shutil.copyfileobj(stream, out, 1 << 20)
        return {"name": name, "bytes": target.stat().st_size}

    def write_progress(self, progress: dict[str, Any]) -> None:
        """Replace the progress file whole, so readers never see half of it."""
        self.path.mkdir(parents=True, exist_ok=True)
        partial = self._progress_path.with_suffix(f".{threading.get_ident()}.tmp")
        partial.write_text(json.dumps(progress), encoding="utf-8")
        os.replace(partial, self._progress_path)

    def read_progress(self) -> dict[str, Any]:
        try:
            data = json.loads(self._progress_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def request_cancel(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        self._cancel_path.touch()

    def cancel_requested(self) -> bool:
        return self._cancel_path.exists()

    def copy_files_to(self, other: JobFolder) -> None:
        """Give `other` the same uploads (hard links where the disk allows)."""
        other.files_dir.mkdir(parents=True, exist_ok=True)
        for source in self.files_dir.iterdir():
            target = other.files_dir / source.name
            try:
                os.link(source, target)
            except OSError:
                shutil.copyfile(source, target)

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def create_job(
    session: Session,
    root: Path,
    actor: User,
    uploads: Sequence[tuple[str | None, IO[bytes]]],
    *,
    preset: str | None = None,
    mapping_yaml: str | None = None,
    dry_run: bool = False,
    keep_valid: bool = False,
    draft: bool = False,
) -> ImportJob:
    """A job for the uploaded files, its files saved; the caller commits and then submits it.

    Refuses (`InvalidInput`) no files, too many, unnamed or non-table files, a name given
    twice, both a preset and a mapping, or an unknown preset.
    """
    if not uploads:
        raise InvalidInput("upload at least one file")
    if len(uploads) > MAX_FILES:
        raise InvalidInput(f"upload at most {MAX_FILES} files at once")
    names = [upload_name(name) for name, _ in uploads]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InvalidInput(f"a file name was uploaded twice: {', '.join(repeated)}")
    if preset is not None and mapping_yaml is not None:
        raise InvalidInput("give a preset or a mapping, not both")
    if preset is not None and preset not in preset_names():
        raise InvalidInput(f"no preset {preset!r}; presets: {', '.join(preset_names())}")
    job = ImportJob(
        created_by_id=actor.id,
        status=JobStatus.DRAFT if draft else JobStatus.QUEUED,
        dry_run=dry_run,
        keep_valid=keep_valid,
        preset=preset,
        mapping_yaml=mapping_yaml,
        files=[],
        worker=WORKER,
        created_at=utcnow(),
    )
    session.add(job)
    session.flush()
    folder = JobFolder.of(root, job.id)
    try:
        job.files = [
            folder.save(name, stream) for name, (_, stream) in zip(names, uploads, strict=True)
        ]
    except BaseException:
        folder.remove()
        raise
    return job


def rerun_job(
    session: Session,
    root: Path,
    job: ImportJob,
    actor: User,
    *,
    dry_run: bool,
    keep_valid: bool | None = None,
) -> ImportJob:
    """A new queued job with `job`'s files and mapping: a draft's preview, or the real import
    after a preview."""
    again = ImportJob(
        created_by_id=actor.id,
        status=JobStatus.QUEUED,
        dry_run=dry_run,
        keep_valid=job.keep_valid if keep_valid is None else keep_valid,
        preset=job.preset,
        mapping_yaml=job.mapping_yaml,
        files=list(job.files),
        preview_of_id=job.id,
        worker=WORKER,
        created_at=utcnow(),
    )
    session.add(again)
    session.flush()
    JobFolder.of(root, job.id).copy_files_to(JobFolder.of(root, again.id))
    return again


def mapping_of(job: ImportJob) -> ImportMapping | None:
    """The job's mapping: its preset, its YAML, or None (columns matched by header)."""
    if job.preset:
        return load_mapping(job.preset)
    if job.mapping_yaml:
        return parse_mapping(job.mapping_yaml, "the mapping")
    return None


def progress_of(root: Path, job: ImportJob) -> dict[str, int]:
    """Rows read so far per file, as the running import last reported."""
    rows = JobFolder.of(root, job.id).read_progress().get("rows", {})
    return {str(name): int(count) for name, count in rows.items()} if rows else {}


def worker_alive(worker: str | None) -> bool | None:
    """Whether the process `worker` ("host:pid") still runs; None when it is on another host."""
    if not worker:
        return False
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


INTERRUPTED = (
    "interrupted: the server process running it stopped. The import is one transaction, so "
    "nothing of it was written; upload the files again."
)


UNFINISHED = (JobStatus.QUEUED, JobStatus.RUNNING)


def fail_interrupted(session: Session) -> int:
    """Mark failed the queued and running jobs of this host whose process is gone."""
    stuck = session.scalars(select(ImportJob).where(ImportJob.status.in_(UNFINISHED))).all()
    count = 0
    for job in stuck:
        if job.worker != WORKER and worker_alive(job.worker) is False:
            job.status = JobStatus.FAILED
            job.error = INTERRUPTED
            job.finished_at = utcnow()
            count += 1
    return count


def seen_state(job: ImportJob) -> tuple[JobStatus, str | None]:
    """The job's status and error as callers should see them: a queued or running job whose
    process on this host is gone is failed, before the next start records it."""
    if job.status in UNFINISHED and worker_alive(job.worker) is False:
        return JobStatus.FAILED, INTERRUPTED
    return job.status, job.error


def cancel_job(root: Path, job: ImportJob) -> None:
    """Stop an unfinished job: a draft at once, a queued or running one where it runs (its
    transaction rolls back). The caller commits; a finished job is left as it is."""
    if job.status.finished:
        return
    JobFolder.of(root, job.id).request_cancel()
    if job.status == JobStatus.DRAFT:
        job.status = JobStatus.CANCELLED
        job.error = "cancelled before it ran"
        job.finished_at = utcnow()


def rejected_rows_file(root: Path, job: ImportJob) -> Path | None:
    """The CSV of the rows a keep-valid import rejected, if it wrote one."""
    path = JobFolder.of(root, job.id).errors_path
    return path if (job.result or {}).get("errors_file") and path.is_file() else None


class ImportRunner:
    """Runs this process's import jobs, one at a time, in a thread of its own."""

    def __init__(self, engine: Engine, root: Path) -> None:
        self.engine = engine
        self.root = root
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="topline-import")
        self._running: int | None = None
        self._closed = False

    def submit(self, job_id: int) -> None:
        """Run job `job_id` (committed, queued, claimed by this process) when the thread is free."""
        if not self._closed:
            self._executor.submit(self.run, job_id)

    def close(self, *, wait: bool = True) -> None:
        """Cancel the running job and drop the queued ones; they are failed on next start."""
        self._closed = True
        if self._running is not None:
            JobFolder.of(self.root, self._running).request_cancel()
        self._executor.shutdown(wait=wait, cancel_futures=True)

    def run(self, job_id: int) -> None:
        """Run one job to its end, recording the outcome on its row; never raises."""
        folder = JobFolder.of(self.root, job_id)
        with Session(self.engine, expire_on_commit=False) as session, write_transaction(session):
            job = session.get(ImportJob, job_id)
            if job is None or job.status != JobStatus.QUEUED:
                return
            if folder.cancel_requested():
                self._finish(session, job, JobStatus.CANCELLED, error="cancelled before it ran")
                return
            job.status = JobStatus.RUNNING
            job.started_at = utcnow()
            session.commit()
        self._running = job_id
        status, result, error = JobStatus.FAILED, None, None
        try:
            outcome = self._import(job, folder)
            result = _result_json(outcome, folder)
            if job.dry_run:
                problems = outcome.problem_count and not job.keep_valid
                status = JobStatus.REJECTED if problems else JobStatus.DONE
            else:
                status = JobStatus.DONE if outcome.committed else JobStatus.REJECTED
        except JobCancelled:
            status, error = JobStatus.CANCELLED, "cancelled while it ran: nothing was written"
        except (InvalidInput, ImportFailed) as exc:
            error = str(exc)
        except Exception:
            logger.exception("import job %s failed", job_id)
            error = f"the import stopped on an internal error (job {job_id}); see the server log"
        finally:
            self._running = None
        with Session(self.engine, expire_on_commit=False) as session, write_transaction(session):
            current = session.get(ImportJob, job_id)
            if current is not None:
                self._finish(session, current, status, result=result, error=error)

    def _import(self, job: ImportJob, folder: JobFolder) -> ImportResult:
        mapping = mapping_of(job)
        rows: dict[str, int] = {}
        last_write = 0.0

        def report(file: str, count: int) -> None:
            nonlocal last_write
            rows[file] = count
            now = time.monotonic()
            if now - last_write >= PROGRESS_INTERVAL_SECONDS:
                last_write = now
                folder.write_progress({"rows": rows})
                if folder.cancel_requested():
                    raise JobCancelled

        folder.write_progress({"rows": {}})
        with Session(self.engine, expire_on_commit=False) as session, write_transaction(session):
            actor = session.get(User, job.created_by_id)
            result = run_import(
                session,
                folder.file_paths(job.files),
                mapping,
                dry_run=job.dry_run,
                keep_valid=job.keep_valid,
                errors_path=folder.errors_path if job.keep_valid else None,
                actor=actor,
                progress=report,
            )
        folder.write_progress({"rows": rows})
        return result

    @staticmethod
    def _finish(
        session: Session,
        job: ImportJob,
        status: JobStatus,
        *,
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        job.status = status
        job.result = result
        job.error = error
        job.finished_at = utcnow()
        session.commit()


def _result_json(result: ImportResult, folder: JobFolder) -> dict[str, Any]:
    data = result.to_json()
    # The server's path means nothing to the caller; the errors file is served by the API.
    data["errors_file"] = folder.errors_path.exists() and result.errors_file is not None
    return data
