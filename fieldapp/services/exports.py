"""Exports (导出): a user asks for a case list, a per-area table or area GeoJSON; a worker
writes the file (`run`), showing its progress; the requester downloads it until it expires.

- Requests are validated completely before anything is written: a bad parameter is a 400
  naming the field, and no job row exists.
- The job and its outbox message are written in one transaction (the worker is started
  through the transactional outbox, like every other background job).
- `claim` makes running idempotent: only a queued job starts, so a second delivery of the
  same message, or a worker on another host, does nothing.
- The file is written under a temporary name in EXPORT_DIR (the worker's scratch space), then
  stored in PostgreSQL (fieldapp.export_store) in the transaction that marks the job done: no
  one can ever download half a file, and a download on any web node finds it.
- `sweep` deletes expired files and marks their jobs expired; a running job whose worker
  died (no heartbeat) is marked failed."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from flask_babel import force_locale
from flask_babel import gettext as _
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fieldapp import export_store, export_writers
from fieldapp.contract.base import field_errors
from fieldapp.contract.exports import ExportContext, ExportFilters, ExportRequest
from fieldapp.domain import CHINA_TZ
from fieldapp.models import Area, Category, Cell, ExportJob, User
from fieldapp.services import audit, outbox
from fieldapp.services.errors import Conflict, Gone, InvalidInput, NotFound
from fieldapp.services.export_sources import (
    SOURCES,
    ExportParams,
    TableSource,
    named,
    viewer_level,
)

RUN_EXPORT_TASK = "workers.tasks.run_export"
#: A running job with no progress for this long lost its worker.
STALE_AFTER = timedelta(minutes=15)
#: Rows between two progress writes to the database.
PROGRESS_EVERY = 5000
#: Above this many rows an xlsx gets ZIP64 (a file that may pass 4 GB uncompressed).
XLSX_LARGE_ROWS = 200_000
MIME_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
    "geojson": "application/geo+json",
}


# --- requesting -------------------------------------------------------------------------------


def export_context(session: Session, viewer: User) -> ExportContext:
    """What the request model's checks need beyond its shape: the viewer's level, and whether
    a category or an area code exists."""
    return ExportContext(
        viewer_level=viewer_level(viewer),
        category_exists=lambda code: session.get(Category, code) is not None,
        area_exists=lambda code: _area_exists(session, code),
    )


def read_request(session: Session, viewer: User, body: Any) -> ExportRequest:
    """A body built by the exports page held to the API's model: every problem at once
    (InvalidInput, 400), as POST /api/v1/exports answers it."""
    try:
        return ExportRequest.model_validate(
            body, context={"export": export_context(session, viewer)}
        )
    except ValidationError as exc:
        raise InvalidInput(
            str(ExportRequest.error_summary), field_errors(exc), code=ExportRequest.error_code
        ) from None


def export_params(viewer: User, request: ExportRequest) -> ExportParams:
    """The validated request as ExportParams; Forbidden when the viewer may not export this
    kind."""
    filters = request.filters or ExportFilters.model_validate({})
    params = ExportParams(
        kind=request.kind,
        format=request.format,
        language=request.language,
        level=request.level,
        date_from=filters.date_from,
        date_to=filters.date_to,
        area=filters.area,
        category=filters.category,
        severity=filters.severity,
        status=filters.status,
        overdue=filters.overdue,
        key=filters.key,
    )
    SOURCES[request.kind].check(viewer, params)
    return params


def _area_exists(session: Session, code: str) -> bool:
    return (
        session.execute(select(Area.id).where(Area.code == code)).first() is not None
        or session.execute(select(Cell.id).where(Cell.code == code)).first() is not None
    )


@dataclass(frozen=True)
class Requested:
    job: ExportJob
    outbox_id: int


def request_export(
    session: Session,
    viewer: User,
    request: ExportRequest,
    *,
    now: datetime,
    max_active: int = 3,
    remote_addr: str | None = None,
) -> Requested:
    """Write the job of a validated request, its outbox message and the audit record in the
    caller's transaction. Forbidden (403) when the kind is not for the viewer; Conflict (409)
    when the viewer already has `max_active` unfinished exports."""
    params = export_params(viewer, request)
    active = session.execute(
        select(func.count()).where(
            ExportJob.requested_by == viewer.id, ExportJob.status.in_(("queued", "running"))
        )
    ).scalar_one()
    if active >= max_active:
        raise Conflict(
            _(
                "You already have %(n)d exports in progress. Wait for one to finish.",
                n=int(active),
            )
        )
    job = ExportJob(
        id=uuid.uuid4(),
        requested_by=viewer.id,
        kind=params.kind,
        format=params.format,
        params=params.as_json(),
        status="queued",
        rows_done=0,
        created_at=now,
    )
    session.add(job)
    session.flush()
    message = outbox.enqueue(session, RUN_EXPORT_TASK, {"job_id": str(job.id)})
    audit.record(
        session,
        actor_id=viewer.id,
        action="export.request",
        object_type="export",
        object_id=job.id,
        remote_addr=remote_addr,
        details={"kind": job.kind, "format": job.format, **job.params},
    )
    return Requested(job, message.id)


def get_job(session: Session, viewer: User, job_id: uuid.UUID) -> ExportJob:
    """The viewer's own export; NotFound for anyone else's (we do not reveal it exists)."""
    job = session.get(ExportJob, job_id)
    if job is None or job.requested_by != viewer.id:
        raise NotFound(_("No such export."))
    return job


def list_jobs(session: Session, viewer: User, limit: int = 50) -> list[ExportJob]:
    return list(
        session.execute(
            select(ExportJob)
            .where(ExportJob.requested_by == viewer.id)
            .order_by(ExportJob.created_at.desc())
            .limit(limit)
        ).scalars()
    )


def percent(job: ExportJob) -> float | None:
    if job.status == "done":
        return 100.0
    if not job.rows_total:
        return None if job.rows_total is None else 0.0
    return round(min(100.0, 100.0 * job.rows_done / job.rows_total), 1)


def job_json(job: ExportJob, *, status_url: str, download_url: str | None = None) -> dict[str, Any]:
    """The job as the API shows it; `download_url` only while the file can be downloaded."""
    # China time with its offset: the same instants, read as people there read them.
    iso = lambda t: t.astimezone(CHINA_TZ).isoformat() if t else None  # noqa: E731
    return {
        "id": str(job.id),
        "kind": job.kind,
        "format": job.format,
        "status": job.status,
        "params": job.params,
        "progress": {
            "rows_done": job.rows_done,
            "rows_total": job.rows_total,
            "percent": percent(job),
        },
        "file": {"name": job.file_name, "size": job.file_size},
        "error": job.error,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
        "expires_at": iso(job.expires_at),
        "status_url": status_url,
        "download_url": download_url if job.status == "done" else None,
    }


@dataclass(frozen=True)
class Download:
    path: Path
    file_name: str
    mimetype: str
    job_id: uuid.UUID | None = None
    """Set when the file is in the database (fieldapp.export_store), read from there."""
    size: int | None = None


def download(
    session: Session,
    viewer: User,
    job_id: uuid.UUID,
    export_dir: Path,
    *,
    now: datetime,
    remote_addr: str | None = None,
) -> Download:
    """The finished file of the viewer's own export: NotFound for others, Conflict while it
    is being made or failed, Gone once expired (or its file was removed)."""
    job = get_job(session, viewer, job_id)
    if job.status == "expired" or (job.expires_at is not None and job.expires_at <= now):
        raise Gone(_("This export has expired and its file was deleted. Request it again."))
    if job.status == "failed":
        raise Conflict(_("This export failed: %(error)s", error=job.error or "?"))
    if job.status != "done" or not job.file_path:
        raise Conflict(_("The export is not finished yet; try again when its status is done."))
    path = export_dir / job.file_path
    stored = export_store.stored_size(session, job.id)
    # Files written before exports moved into the database are still read from disk.
    if stored is None and not path.is_file():
        raise Gone(_("This export has expired and its file was deleted. Request it again."))
    # Downloads of case data are recorded like writes: who took which file, from where.
    audit.record(
        session,
        actor_id=viewer.id,
        action="export.download",
        object_type="export",
        object_id=job.id,
        remote_addr=remote_addr,
    )
    if stored is None:
        return Download(path, job.file_name or path.name, MIME_TYPES[job.format])
    return Download(path, job.file_name or path.name, MIME_TYPES[job.format], job.id, stored)


# --- running (in the worker) ------------------------------------------------------------------


def claim(session: Session, job_id: uuid.UUID, now: datetime) -> ExportJob | None:
    """Mark a queued job running, under a row lock; None when it is not queued (already
    running elsewhere, done, failed or expired) or does not exist. The caller commits."""
    job = session.execute(
        select(ExportJob).where(ExportJob.id == job_id).with_for_update(skip_locked=True)
    ).scalar_one_or_none()
    if job is None or job.status != "queued":
        return None
    job.status = "running"
    job.started_at = job.heartbeat_at = now
    job.rows_done = 0
    return job


ProgressStore = Callable[[uuid.UUID, int, int | None], None]


def _long_date(day: date, language: str) -> str:
    return f"{day.year}年{day.month}月{day.day}日" if language == "zh" else day.isoformat()


def _period_line(params: ExportParams) -> str:
    lang = params.language
    start = _long_date(params.date_from, lang) if params.date_from else None
    end = _long_date(params.date_to, lang) if params.date_to else None
    if start and end:
        return _("Period: %(start)s to %(end)s", start=start, end=end)
    if start:
        return _("Period: from %(start)s", start=start)
    if end:
        return _("Period: up to %(end)s", end=end)
    return _("Period: all dates")


def run(
    session: Session,
    job: ExportJob,
    export_dir: Path,
    *,
    now: Callable[[], datetime],
    ttl: timedelta,
    store_progress: ProgressStore,
    every: int = PROGRESS_EVERY,
    read: Session | None = None,
) -> ExportJob:
    """Write the file of a claimed (running) job and mark it done; on any error the partial
    file is removed and the error raised (the caller rolls back and calls `mark_failed`).
    Rows stream from `session` (a server-side cursor); progress goes through
    `store_progress`, which must write on *another* connection: committing this session
    would close the cursor. The caller commits at the end. `read` (default `session`) is
    where the rows come from: the replica's session when one is configured (fieldapp.db).

    The job row is changed in `session` only after the rows are written: an earlier change
    would be flushed with the first query and hold the row's lock for the whole export,
    and the progress writer would wait on it for ever."""
    owner = session.get(User, job.requested_by)
    assert owner is not None
    source = SOURCES[job.kind]
    params = ExportParams.from_json(job.kind, job.format, job.params)
    export_dir.mkdir(parents=True, exist_ok=True)
    final = export_dir / f"{job.id}.{job.format}"
    partial = export_dir / f".{job.id}.{job.format}.part"
    scratch = export_dir / f".tmp-{job.id}"  # XlsxWriter's row files, removed either way
    scratch.mkdir(exist_ok=True)
    try:
        with force_locale(params.language):
            reads = session if read is None else read
            params = named(reads, owner, params)
            total = source.count(reads, owner, params) if source.count else None
            store_progress(job.id, 0, total)
            title = source.title(params)
            started = now().astimezone(CHINA_TZ)
            file_name = f"{title}_{started:%Y%m%d-%H%M}.{job.format}"
            columns = source.columns(params)
            rows = source.rows(reads, owner, params)

            def progress(done: int) -> None:
                store_progress(job.id, done, total)

            written = _write(
                source, params, partial, columns, rows, progress, every, total, scratch
            )
            written_title = title
        os.replace(partial, final)  # atomic: the file appears complete or not at all
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    try:
        size = export_store.save(session, job.id, final)
    finally:
        final.unlink(missing_ok=True)  # the database holds it now (or the job fails)
    finished = now()
    job.rows_total = total
    job.rows_done = written
    job.file_name = file_name
    job.file_path = final.name
    job.file_size = size
    job.status = "done"
    job.finished_at = finished
    job.heartbeat_at = finished
    job.expires_at = finished + ttl
    audit.record(
        session,
        actor_id=None,
        action="export.done",
        object_type="export",
        object_id=job.id,
        details={"rows": written, "bytes": job.file_size, "title": written_title},
    )
    return job


def mark_failed(session: Session, job_id: uuid.UUID, error: str, now: datetime) -> None:
    """Record why a job failed (after the caller rolled its work back). The caller commits."""
    job = session.get(ExportJob, job_id)
    if job is None:
        return
    job.status = "failed"
    job.error = error[:1000]
    job.finished_at = now
    audit.record(
        session,
        actor_id=None,
        action="export.fail",
        object_type="export",
        object_id=job_id,
        details={"error": job.error},
    )


def _write(
    source: TableSource,
    params: ExportParams,
    path: Path,
    columns: list[export_writers.Column],
    rows: Any,
    progress: Callable[[int], None],
    every: int,
    total: int | None,
    scratch: Path,
) -> int:
    yes_no = (_("Yes"), _("No"))
    if params.format == "csv":
        return export_writers.write_csv(path, columns, rows, progress, yes_no=yes_no, every=every)
    if params.format == "geojson":
        return export_writers.write_geojson(
            path, columns, rows, progress, name=source.title(params), every=every
        )
    exported_at = datetime.now(CHINA_TZ)
    title = export_writers.SheetTitle(
        title=source.title(params),
        unit=_("Reporting unit: %(unit)s", unit=params.unit_name),
        period=_period_line(params),
        extra_lines=[_("Exported at: %(time)s", time=f"{exported_at:%Y-%m-%d %H:%M}")],
        sheet_name=source.title(params),
        serial_header=_("No."),
        total_label=_("Total"),
        count_text=_("%(n)s rows", n="{n}"),
        yes_no=yes_no,
        continued=_("continued "),
    )
    return export_writers.write_xlsx(
        path,
        columns,
        rows,
        progress,
        title=title,
        every=every,
        large=(total or 0) > XLSX_LARGE_ROWS,
        tmpdir=scratch,
    )


def store_progress_with(factory: Callable[[], Session]) -> ProgressStore:
    """A progress writer on its own short transactions (so the page sees it at once)."""

    def store(job_id: uuid.UUID, done: int, total: int | None) -> None:
        with factory() as progress_session, progress_session.begin():
            job = progress_session.get(ExportJob, job_id)
            if job is not None:
                job.rows_done = done
                job.rows_total = total
                job.heartbeat_at = datetime.now(CHINA_TZ)

    return store


# --- expiry -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepResult:
    expired: int
    failed: int
    orphans: int

    def as_dict(self) -> dict[str, int]:
        return {"expired": self.expired, "failed": self.failed, "orphans": self.orphans}


def sweep(session: Session, export_dir: Path, *, now: datetime) -> SweepResult:
    """Delete the files of expired exports and mark them expired; mark running jobs whose
    worker stopped (no heartbeat for STALE_AFTER) failed; remove temporary files left by
    such workers. Idempotent. The caller commits."""
    expired = list(
        session.execute(
            select(ExportJob)
            .where(ExportJob.status == "done", ExportJob.expires_at <= now)
            .with_for_update(skip_locked=True)
        ).scalars()
    )
    export_store.remove(session, [job.id for job in expired])
    for job in expired:
        if job.file_path:
            (export_dir / job.file_path).unlink(missing_ok=True)  # from before the store
        job.status = "expired"
        job.file_path = None
        audit.record(
            session, actor_id=None, action="export.expire", object_type="export", object_id=job.id
        )
    stale = list(
        session.execute(
            select(ExportJob)
            .where(ExportJob.status == "running", ExportJob.heartbeat_at < now - STALE_AFTER)
            .with_for_update(skip_locked=True)
        ).scalars()
    )
    for job in stale:
        job.status = "failed"
        job.error = _("The worker making this export stopped. Request it again.")
        job.finished_at = now
        audit.record(
            session, actor_id=None, action="export.fail", object_type="export", object_id=job.id
        )
    orphans = 0
    if export_dir.is_dir():
        cutoff = (now - STALE_AFTER).timestamp()
        running = {
            str(i)
            for i in session.execute(
                select(ExportJob.id).where(ExportJob.status.in_(("queued", "running")))
            ).scalars()
        }
        for leftover in [*export_dir.glob(".*.part"), *export_dir.glob(".tmp-*")]:
            # A long export keeps its scratch directory's mtime from its start: judge by job.
            job_id = leftover.name.removeprefix(".tmp-").removeprefix(".").split(".")[0]
            if job_id not in running and leftover.stat().st_mtime < cutoff:
                if leftover.is_dir():
                    shutil.rmtree(leftover, ignore_errors=True)
                else:
                    leftover.unlink(missing_ok=True)
                orphans += 1
    return SweepResult(len(expired), len(stale), orphans)
