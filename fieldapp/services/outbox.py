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

# Rows younger than this are left to the request that wrote them (it dispatches right after
# its commit); the relay picks up what that fast path could not send.
FAST_PATH_GRACE = timedelta(seconds=3)


def enqueue(session: Session, task: str, payload: dict[str, Any]) -> OutboxMessage:
    message = OutboxMessage(task=task, payload=payload)
    session.add(message)
    session.flush()
    return message


def dispatch(session: Session, message_ids: list[int], send: Sender) -> int:
    """Send the given messages now (the fast path after a commit). Best effort: a failure
    leaves them for the relay. Returns how many were sent.

    The rows are claimed and marked sent in one UPDATE (the hottest path: it follows every
    report), then handed to the broker; one that could not be sent is handed back to the relay
    in the same transaction. Rows younger than FAST_PATH_GRACE are never touched by the relay,
    and a row already marked is skipped, so a message is sent at most once here."""
    if not message_ids:
        return 0
    claimed: list[tuple[int, str, dict[str, Any]]] = [
        (row[0], row[1], row[2])
        for row in session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(message_ids), OutboxMessage.dispatched_at.is_(None))
            .values(dispatched_at=func.now(), attempts=OutboxMessage.attempts + 1, last_error=None)
            .returning(OutboxMessage.id, OutboxMessage.task, OutboxMessage.payload)
        )
    ]
    sent = 0
    for message_id, task, payload in claimed:
        try:
            send(task, {**payload, "outbox_id": message_id})
        except Exception as exc:  # any broker/transport error: the relay sends it later
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_([m[0] for m in claimed[sent:]]))
                .values(dispatched_at=None, last_error=f"{type(exc).__name__}: {exc}"[:1000])
            )
            break
        sent += 1
    _commit_without_waiting_for_disk(session)
    return sent


def relay(session: Session, send: Sender, *, now: datetime | None = None, limit: int = 500) -> int:
    """Send pending messages older than the fast-path grace, oldest first. Rows are locked
    with SKIP LOCKED so two relays never send the same row at once. Stops at the first send
    failure: the broker is probably down, and the rest would fail too."""
    now = now or datetime.now(UTC)
    rows = session.execute(
        select(OutboxMessage)
        .where(
            OutboxMessage.dispatched_at.is_(None),
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
    """This commit only records that messages went out. Should a crash lose it, the relay
    sends them again and the tasks, which claim their row, do the work once: so it need not
    wait for the disk (a second fsync after every report would halve the intake rate)."""
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
    session.execute(
        update(OutboxMessage).where(OutboxMessage.id == outbox_id).values(done_at=datetime.now(UTC))
    )


def release(session: Session, outbox_id: int, error: str) -> None:
    """The task failed (e.g. the mail server is down): hand the row back to the relay, which
    sends it again later, instead of losing the work."""
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == outbox_id)
        .values(dispatched_at=None, last_error=error[:1000])
    )


def pending_count(session: Session) -> int:
    return int(
        session.execute(
            select(func.count()).where(OutboxMessage.dispatched_at.is_(None))
        ).scalar_one()
    )
