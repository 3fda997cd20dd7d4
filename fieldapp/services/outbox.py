"""The transactional outbox. Work caused by a change (thumbnails, notifications, duplicate
search) is written as a row in the same transaction as the change, so it exists exactly when
the change does. A relay then hands rows to Celery; when the broker is down the rows wait,
and the work is delayed, never lost. Tasks receive the row id and mark it done, so a message
delivered twice does its work once.

A message can also be lost after it was handed over: the broker restarts without its queue,
or a worker dies holding it. The relay then sends the row again, but only once it knows the
message is no longer queued: it sends a checkpoint message (OutboxCheckpoint) through the
broker behind everything queued so far, and a row dispatched before a checkpoint that a
worker has run, and still not done a grace after that, is sent again. A slow but healthy
backlog holds its checkpoint back in the queue, so nothing still queued is sent twice (the
relay used to re-send every row older than the grace, doubling any backlog older than 30 s);
a lost queue lost its checkpoint too, and the next one, sent into the empty queue, comes
back at once. Broker queues are first in, first out (redis lists, RabbitMQ queues), and all
outbox tasks and checkpoints go to the default queue."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, text, update
from sqlalchemy.orm import Session

from fieldapp.models import OutboxMessage
from fieldapp.ops_models import OutboxCheckpoint

Sender = Callable[[str, dict[str, Any]], None]


# Rows younger than this are left to the fast path (fieldapp.outbox_sender: the writing
# process hands them to the broker within moments of its commit, and a worker sends each row's
# task: dispatch); the relay picks up what that could not send, and what a worker has not
# finished by then (a message delivered twice does its work once: see claim).
FAST_PATH_GRACE = timedelta(seconds=30)

# How often the relay sends a checkpoint through the broker. Every few seconds would do; a
# lost queue is found within CHECKPOINT_EVERY + FAST_PATH_GRACE plus one relay period.
CHECKPOINT_EVERY = timedelta(seconds=10)
CHECKPOINT_TASK = "workers.tasks.outbox_checkpoint"
# Checkpoints never run (sent into a queue that was then lost) are forgotten after this.
CHECKPOINT_KEEP = timedelta(days=1)


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
            _mark_dispatched(session, [r[0] for r in rows[:sent]])
            record_send_failure(session, [r[0] for r in rows[sent:]], exc)
            return sent
    _mark_dispatched(session, [r[0] for r in rows])
    return len(rows)


def _mark_dispatched(session: Session, message_ids: list[int]) -> None:
    """One write per batch, after its messages are in the broker: the time the relay compares
    with its checkpoints to tell a message still queued from one lost (see relay). Taken
    from the database's clock, like the checkpoints', so machines' clocks do not matter."""
    if not message_ids:
        return
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(message_ids), OutboxMessage.done_at.is_(None))
        .values(dispatched_at=func.clock_timestamp())
    )
    _commit_without_waiting_for_disk(session)


def relay(session: Session, send: Sender, *, now: datetime | None = None, limit: int = 500) -> int:
    """Send, oldest first, the rows that are not done and whose message cannot be queued:
    never handed over (the hand-over failed, or the work was handed back), or dispatched
    before the newest checkpoint a worker ran more than FAST_PATH_GRACE ago. Then send a new
    checkpoint when none went out for CHECKPOINT_EVERY. Rows are locked with SKIP LOCKED so
    two relays never send the same row at once. Stops at the first send failure: the broker
    is probably down, and the rest would fail too. Returns how many rows were sent."""
    now = now or datetime.now(UTC)
    settled = now - FAST_PATH_GRACE
    cutoff = session.execute(
        select(func.max(OutboxCheckpoint.published_at)).where(
            OutboxCheckpoint.consumed_at <= settled
        )
    ).scalar()
    lost: list[Any] = [OutboxMessage.dispatched_at.is_(None) & (OutboxMessage.attempts > 0)]
    if cutoff is not None:
        # Fast-path rows without a mark were handed to the web process's sender at their
        # commit (created_at), and its batch message follows within moments: a checkpoint
        # sent after that follows it too. (A row committed in the very moment a checkpoint
        # goes out may be sent once more; its task's claim makes that harmless.)
        lost.append(OutboxMessage.dispatched_at.is_(None) & (OutboxMessage.created_at < cutoff))
        lost.append(OutboxMessage.dispatched_at < cutoff)
    rows = session.execute(
        select(OutboxMessage)
        .where(
            OutboxMessage.done_at.is_(None),
            OutboxMessage.created_at <= settled,
            or_(*lost),
        )
        .order_by(OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).scalars()
    sent, broker_ok = _send_all(session, list(rows), send)
    if broker_ok:
        _checkpoint(session, send, now=now, cutoff=cutoff)
    return sent


def _checkpoint(session: Session, send: Sender, *, now: datetime, cutoff: datetime | None) -> None:
    """Send a checkpoint when the last one is older than CHECKPOINT_EVERY; forget those
    superseded by `cutoff` and those never run for CHECKPOINT_KEEP."""
    forget = OutboxCheckpoint.published_at < now - CHECKPOINT_KEEP
    if cutoff is not None:
        forget = forget | (OutboxCheckpoint.published_at < cutoff)
    session.execute(delete(OutboxCheckpoint).where(forget))
    latest = session.execute(select(func.max(OutboxCheckpoint.published_at))).scalar()
    if latest is not None and latest > now - CHECKPOINT_EVERY:
        _commit_without_waiting_for_disk(session)
        return
    checkpoint = OutboxCheckpoint()
    session.add(checkpoint)
    session.flush()
    checkpoint_id = checkpoint.id
    session.commit()  # published_at is before the message is: what the relay relies on
    try:
        send(CHECKPOINT_TASK, {"checkpoint_id": checkpoint_id})
    except Exception:  # the broker went away meanwhile: the next relay tries again
        session.execute(delete(OutboxCheckpoint).where(OutboxCheckpoint.id == checkpoint_id))
        session.commit()


def checkpoint_reached(session: Session, checkpoint_id: int) -> None:
    """A worker ran the checkpoint: every message queued before it has left the queue."""
    session.execute(
        update(OutboxCheckpoint)
        .where(OutboxCheckpoint.id == checkpoint_id, OutboxCheckpoint.consumed_at.is_(None))
        .values(consumed_at=func.clock_timestamp())
    )


def _send_all(session: Session, rows: list[OutboxMessage], send: Sender) -> tuple[int, bool]:
    sent = 0
    broker_ok = True
    for row in rows:
        row.attempts += 1
        try:
            send(row.task, {**row.payload, "outbox_id": row.id})
        except Exception as exc:  # any broker/transport error: keep the row for later
            row.last_error = f"{type(exc).__name__}: {exc}"[:1000]
            broker_ok = False
            break
        # The database's clock, written at the flush after the send: never before it.
        row.dispatched_at = func.clock_timestamp()
        row.last_error = None
        sent += 1
    _commit_without_waiting_for_disk(session)
    return sent, broker_ok


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
        .values(
            dispatched_at=None,
            attempts=OutboxMessage.attempts + 1,  # the relay sends it again (see relay)
            last_error=error[:1000],
        )
    )
