"""The transactional outbox. Work caused by a change (thumbnails, notifications, duplicate
search) is written as a row in the same transaction as the change, so it exists exactly when
the change does. A relay then hands rows to Celery; when the broker is down the rows wait,
and the work is delayed, never lost. Tasks receive the row id and mark it done, so a message
delivered twice does its work once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from fieldapp.models import OutboxMessage

Sender = Callable[[str, dict[str, Any]], None]


# Rows younger than this are left to the fast path (fieldapp.outbox_sender: the writing
# process hands them to the broker within moments of its commit, and a worker sends each row's
# task: dispatch); the relay picks up what that could not send, and what a worker has not
# finished by then (a message delivered twice does its work once: see claim).
FAST_PATH_GRACE = timedelta(seconds=30)


def enqueue(session: Session, task: str, payload: dict[str, Any]) -> OutboxMessage:
    message = OutboxMessage(task=task, payload=payload)
    session.add(message)
    session.flush()
    return message


def record_send_failure(session: Session, message_ids: list[int], exc: Exception) -> None:
    """Note on rows that handing them to the broker failed (the relay sends them later)."""
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(message_ids))
        .values(
            attempts=OutboxMessage.attempts + 1,
            last_error=f"{type(exc).__name__}: {exc}"[:1000],
        )
    )
    _commit_without_waiting_for_disk(session)


def dispatch(session: Session, message_ids: list[int], send: Sender) -> int:
    """Send each row's own task (the worker's side of the fast path: outbox_sender's batches);
    rows already done are skipped. When all goes well, no write at all: a report costs one
    transaction, not two. When the broker fails, the rows not sent get the error and the relay
    sends them after FAST_PATH_GRACE. Returns how many were sent."""
    if not message_ids:
        return 0
    rows = [
        (int(r[0]), str(r[1]), dict(r[2]))
        for r in session.execute(
            select(OutboxMessage.id, OutboxMessage.task, OutboxMessage.payload)
            .where(OutboxMessage.id.in_(message_ids), OutboxMessage.done_at.is_(None))
            .order_by(OutboxMessage.id)
        )
    ]
    session.rollback()  # a read only: end it before the broker calls
    for sent, (message_id, task, payload) in enumerate(rows):
        try:
            send(task, {**payload, "outbox_id": message_id})
        except Exception as exc:  # any broker/transport error: the relay sends it later
            record_send_failure(session, [r[0] for r in rows[sent:]], exc)
            return sent
    return len(rows)


def relay(session: Session, send: Sender, *, now: datetime | None = None, limit: int = 500) -> int:
    """Send pending messages older than the fast-path grace, oldest first. Rows are locked
    with SKIP LOCKED so two relays never send the same row at once. Stops at the first send
    failure: the broker is probably down, and the rest would fail too."""
    now = now or datetime.now(UTC)
    rows = session.execute(
        select(OutboxMessage)
        .where(
            OutboxMessage.dispatched_at.is_(None),
            OutboxMessage.done_at.is_(None),
            OutboxMessage.created_at <= now - FAST_PATH_GRACE,
        )
        .order_by(OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).scalars()
    return _send_all(session, list(rows), send)


def _send_all(session: Session, rows: list[OutboxMessage], send: Sender) -> int:
    sent = 0
    for row in rows:
        row.attempts += 1
        try:
            send(row.task, {**row.payload, "outbox_id": row.id})
        except Exception as exc:  # any broker/transport error: keep the row for later
            row.last_error = f"{type(exc).__name__}: {exc}"[:1000]
            break
        row.dispatched_at = datetime.now(UTC)
        row.last_error = None
        sent += 1
    _commit_without_waiting_for_disk(session)
    return sent


def _commit_without_waiting_for_disk(session: Session) -> None:
    """This commit only records how sending went. Should a crash lose it, the relay sends
    the messages again and the tasks, which claim their row, do the work once: so it need
    not wait for the disk."""
    session.execute(text("SET LOCAL synchronous_commit = off"))
    session.commit()


def claim(session: Session, outbox_id: int) -> bool:
    """Called by a task at its start, inside its transaction: True when the work is still to
    do. The row stays locked until the task commits, so two deliveries cannot both work."""
    row = session.execute(
        select(OutboxMessage).where(OutboxMessage.id == outbox_id).with_for_update()
    ).scalar_one_or_none()
    return row is not None and row.done_at is None


def mark_done(session: Session, outbox_id: int) -> None:
    # A row the fast path sent was never marked dispatched: mark it now, so the relay's
    # partial index (dispatched_at IS NULL) holds only what may still need sending.
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == outbox_id)
        .values(
            done_at=datetime.now(UTC),
            dispatched_at=func.coalesce(OutboxMessage.dispatched_at, func.now()),
        )
    )


def release(session: Session, outbox_id: int, error: str) -> None:
    """The task failed (e.g. the mail server is down): hand the row back to the relay, which
    sends it again later, instead of losing the work."""
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == outbox_id)
        .values(dispatched_at=None, last_error=error[:1000])
    )
