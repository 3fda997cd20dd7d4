"""Thin, idempotent tasks: they take ids or plain values and call services. Tasks fed by the
outbox get `outbox_id` and claim it first, so a message delivered twice does its work once."""

from __future__ import annotations

import uuid
from typing import Any

from celery import current_app as current_celery
from celery import shared_task

from fieldapp.db import db
from fieldapp.services import (
    duplicates,
    exports,
    geography,
    hotspots,
    notifications,
    outbox,
    photos,
    sweep,
)
from grid import queries


@shared_task(name="workers.tasks.boundary_stats")
def boundary_stats() -> dict[str, int]:
    """Counts per level, as `fieldapp geo stats` prints them."""
    return queries.level_counts(db.session)


@shared_task(name="workers.tasks.warm_geography_caches")
def warm_geography_caches() -> int:
    """Rebuild this worker's cell index if the boundaries changed; returns the version."""
    return geography.cell_snapshot(db.session).version


@shared_task(name="workers.tasks.relay_outbox")
def relay_outbox() -> int:
    """Send outbox rows that the requests could not (broker down, crash after commit), and
    those whose message was lost after it was sent (broker restarted without its queue)."""
    return outbox.relay(db.session, _send_task)


@shared_task(name="workers.tasks.outbox_checkpoint")
def outbox_checkpoint(checkpoint_id: int) -> int:
    """The relay's checkpoint came through the queue: what was queued before it has left
    (fieldapp.services.outbox.relay re-sends what of that is still not done a grace later)."""
    outbox.checkpoint_reached(db.session, checkpoint_id)
    db.session.commit()
    return checkpoint_id


@shared_task(name="workers.tasks.dispatch_outbox")
def dispatch_outbox(outbox_ids: list[int]) -> int:
    """A web process's batch of committed outbox rows (fieldapp.outbox_sender): send each
    row's own task; rows done already are skipped. Lost or repeated, the relay and the tasks'
    claim keep the work done once."""
    return outbox.dispatch(db.session, outbox_ids, _send_task)


def _send_task(task: str, kwargs: dict[str, object]) -> None:
    current_celery.send_task(task, kwargs=kwargs, retry=False)


@shared_task(name="workers.tasks.process_report", acks_late=True)
def process_report(outbox_id: int, report_id: str) -> bool:
    """Work that follows a new report: tell the township's coordinators. Safe to run twice
    (hence acks_late): the outbox claim and the notifications' unique key see to it."""
    session = db.session
    if not outbox.claim(session, outbox_id):
        session.rollback()
        return False
    # One message per report, the duplicate suspicion in it (not a second message).
    found = duplicates.candidates(session, uuid.UUID(report_id))
    notifications.new_report(session, uuid.UUID(report_id), duplicates=len(found))
    outbox.mark_done(session, outbox_id)
    session.commit()
    return True


@shared_task(name="workers.tasks.make_thumbnail", acks_late=True)
def make_thumbnail(outbox_id: int, photo_id: str) -> bool:
    session = db.session
    if not outbox.claim(session, outbox_id):
        session.rollback()
        return False
    photos.make_thumbnail(session, uuid.UUID(photo_id))
    outbox.mark_done(session, outbox_id)
    session.commit()
    return True


@shared_task(name="workers.tasks.deadline_sweep")
def deadline_sweep() -> dict[str, int]:
    """Notify once per light change and escalate overdue red cases (idempotent)."""
    from datetime import UTC, datetime

    from flask import current_app

    session = db.session
    result = sweep.sweep(
        session, now=datetime.now(UTC), policy=current_app.config["DEADLINE_POLICY"]
    )
    session.commit()
    return result.as_dict()


@shared_task(name="workers.tasks.deliver_notification", acks_late=True)
def deliver_notification(outbox_id: int, notification_id: int) -> bool:
    """Email/SMS one notification through the configured channels, once. A channel failure
    hands the outbox row back to the relay (retried later) rather than dropping it."""
    from flask import current_app

    from fieldapp.services.channels import configured_channels

    session = db.session
    if not outbox.claim(session, outbox_id):
        session.rollback()
        return False
    try:
        sent = notifications.deliver(
            session, notification_id, configured_channels(current_app.config)
        )
    except Exception as exc:
        session.rollback()
        outbox.release(session, outbox_id, f"{type(exc).__name__}: {exc}")
        session.commit()
        raise
    outbox.mark_done(session, outbox_id)
    session.commit()
    return sent


@shared_task(name="workers.tasks.recompute_hotspots", acks_late=True)
def recompute_hotspots(
    outbox_id: int | None = None, requested_by: int | None = None
) -> dict[str, Any]:
    """Recompute the hotspot alerts on the complete days up to yesterday: daily from beat
    (06:00 China time) or when city staff ask (through the outbox, with `outbox_id`).
    Idempotent: a second run the same day finds the same data with the same seed and changes
    nothing, and an outbox message delivered twice is claimed once; hence acks_late."""
    from flask import current_app

    session = db.session
    if outbox_id is not None and not outbox.claim(session, outbox_id):
        session.rollback()
        return {"skipped": True, "outbox_id": outbox_id}
    settings = hotspots.settings_from_config(current_app.config)
    result = hotspots.recompute(
        session, today=hotspots.china_today(), settings=settings, actor_id=requested_by
    )
    if outbox_id is not None:
        outbox.mark_done(session, outbox_id)
    session.commit()
    return result.as_dict()


@shared_task(name="workers.tasks.run_export")
def run_export(job_id: str, outbox_id: int | None = None) -> dict[str, Any]:
    """Write one export's file (fieldapp.services.exports). Idempotent: only a queued job is
    claimed, so a second delivery — or a job already running on another worker, or done —
    does nothing. Not acks_late: a worker lost mid-export leaves the job running without a
    heartbeat, and the sweep marks it failed rather than silently starting it again."""
    from datetime import UTC, datetime, timedelta
    from pathlib import Path

    from flask import current_app
    from sqlalchemy.orm import Session

    session = db.session
    if outbox_id is not None and not outbox.claim(session, outbox_id):
        session.rollback()
        return {"skipped": True, "reason": "outbox message already handled"}
    job = exports.claim(session, uuid.UUID(job_id), datetime.now(UTC))
    if outbox_id is not None:
        outbox.mark_done(session, outbox_id)
    session.commit()  # the job is ours (running) and the message handled, before the work
    if job is None:
        return {"skipped": True, "reason": "not queued"}
    engine = db.engine
    store = exports.store_progress_with(lambda: Session(engine))
    try:
        exports.run(
            session,
            job,
            Path(current_app.config["EXPORT_DIR"]),
            now=lambda: datetime.now(UTC),
            ttl=timedelta(hours=current_app.config["EXPORT_TTL_HOURS"]),
            store_progress=store,
            read=db.read_session,
        )
        session.commit()
    except Exception as exc:
        session.rollback()
        current_app.logger.exception("export %s failed", job_id)
        exports.mark_failed(
            session, uuid.UUID(job_id), f"{type(exc).__name__}: {exc}", datetime.now(UTC)
        )
        session.commit()
        return {"job_id": job_id, "status": "failed"}
    return {"job_id": job_id, "status": "done", "rows": job.rows_done}


@shared_task(name="workers.tasks.expire_exports")
def expire_exports() -> dict[str, int]:
    """Delete expired export files, mark their jobs expired, fail jobs whose worker died."""
    from datetime import UTC, datetime
    from pathlib import Path

    from flask import current_app

    session = db.session
    result = exports.sweep(session, Path(current_app.config["EXPORT_DIR"]), now=datetime.now(UTC))
    session.commit()
    return result.as_dict()


@shared_task(name="workers.tasks.notify_silent_officers")
def notify_silent_officers() -> int:
    """Once a day: tell each coordinator which officers of their township are silent
    (fieldapp.services.silent). Idempotent: the inbox keeps one such notification per
    coordinator per China day, so a second run the same day adds nothing."""
    from datetime import UTC, datetime

    from flask import current_app

    from fieldapp.services import silent

    session = db.session
    created = silent.notify_coordinators(
        session, now=datetime.now(UTC), days=current_app.config["SILENT_DAYS"]
    )
    session.commit()
    return created


import workers.metrics  # noqa: E402,F401  (task durations for Prometheus)
