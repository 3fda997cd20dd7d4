"""The relay re-sends a message lost after it was handed to the broker (the queue was dropped,
as when redis restarts without its data), and does not re-send a slow but healthy backlog.
Real redis, a real Celery worker, committed data; each test uses a queue of its own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker
from flask import Flask
from sqlalchemy import Engine, delete, func, select, text
from sqlalchemy.orm import Session

from fieldapp import create_app
from fieldapp.models import AuditEvent, Notification, OutboxMessage, Report, ReportParty
from fieldapp.ops_models import OutboxCheckpoint
from fieldapp.services import outbox
from tests.integration.test_outbox_and_concurrency import _body, _done, _wait_for
from tests.support import file_via_api


def _app(database_url: str, broker_url: str, queue: str | None = None) -> Flask:
    app = create_app(
        {"TESTING": True, "DATABASE_URL": database_url, "CELERY_BROKER_URL": broker_url}
        | {"SECRET_KEY": "test"}
    )
    if queue:
        app.extensions["celery"].conf.task_default_queue = queue
    return app


@pytest.fixture
def report_ids(engine: Engine) -> Iterator[list[str]]:
    # Checkpoints of earlier tests (other queues, other brokers) must not count as ours.
    with Session(engine) as session, session.begin():
        session.execute(delete(OutboxCheckpoint))
    ids: list[str] = []
    yield ids
    with Session(engine) as session, session.begin():
        uuids = [uuid.UUID(i) for i in ids]
        session.execute(delete(Notification).where(Notification.subject_id.in_(ids)))
        session.execute(
            delete(OutboxMessage).where(OutboxMessage.payload["report_id"].astext.in_(ids))
        )
        session.execute(delete(AuditEvent).where(AuditEvent.object_id.in_(ids)))
        session.execute(delete(ReportParty).where(ReportParty.report_id.in_(uuids)))
        session.execute(delete(Report).where(Report.id.in_(uuids)))
        session.execute(delete(OutboxCheckpoint))


def _file_reports(database_url: str, people: dict, n: int, ids: list[str]) -> list[int]:
    """n reports through the API (their fast-path messages go to an in-memory broker, i.e.
    nowhere); returns their outbox row ids."""
    app = _app(database_url, "memory://")
    client = app.test_client()
    bodies = [_body() for _ in range(n)]
    for body in bodies:
        ids.append(body["id"])
        file_via_api(client, people, **body)
    assert app.extensions["fieldapp.outbox_sender"].flush(timeout=30)
    with Session(app.extensions["fieldapp.engine"]) as session:
        return list(
            session.execute(
                select(OutboxMessage.id)
                .where(OutboxMessage.payload["report_id"].astext.in_([b["id"] for b in bodies]))
                .order_by(OutboxMessage.id)
            ).scalars()
        )


def _sender(celery_app: Celery, log: list[int]) -> Any:
    def send(task: str, kwargs: dict[str, Any]) -> None:
        if "outbox_id" in kwargs:
            log.append(kwargs["outbox_id"])
        celery_app.send_task(task, kwargs=kwargs, retry=False)

    return send


def _purge(celery_app: Celery, queue: str) -> None:
    with celery_app.connection_for_write() as connection:
        connection.default_channel.queue_purge(queue)


def _notified(engine: Engine, ids: list[str]) -> list[tuple[str, int]]:
    with Session(engine) as session:
        return sorted(
            (str(subject), int(count))
            for subject, count in session.execute(
                select(Notification.subject_id, func.count())
                .where(Notification.subject_id.in_(ids), Notification.kind == "report.new")
                .group_by(Notification.subject_id)
            )
        )


def _consumed(engine: Engine) -> bool:
    with Session(engine) as session:
        return bool(
            session.execute(
                select(func.count()).where(OutboxCheckpoint.consumed_at.is_not(None))
            ).scalar_one()
        )


def test_a_message_lost_with_the_broker_is_sent_again_after_the_grace(
    engine: Engine, database_url: str, broker_url: str, people: dict, report_ids: list[str]
) -> None:
    [row_id] = _file_reports(database_url, people, 1, report_ids)
    queue = f"test-lost-{uuid.uuid4().hex[:8]}"
    app = _app(database_url, broker_url, queue)
    celery_app = app.extensions["celery"]
    relayed: list[int] = []
    send = _sender(celery_app, relayed)
    with app.app_context(), Session(engine) as session:
        # The worker's dispatch hands the row's task to the broker and marks it dispatched...
        assert outbox.dispatch(session, [row_id], send) == 1
        # ... and the broker loses its queue (redis restarted without its data).
        _purge(celery_app, queue)
        assert outbox.relay(session, send) == 0  # nothing is known lost yet
        with start_worker(celery_app, pool="solo", perform_ping_check=False, loglevel="WARNING"):
            _wait_for(lambda: _consumed(engine))  # the checkpoint came through the queue
            assert _done(engine, report_ids) == 0  # the row's message is gone
            assert outbox.relay(session, send) == 0  # within the grace: still waiting
            after_grace = datetime.now(UTC) + outbox.FAST_PATH_GRACE + timedelta(seconds=1)
            relayed.clear()
            assert outbox.relay(session, send, now=after_grace) >= 1
            assert relayed.count(row_id) == 1  # (rows other tests left undone may go too)
            _wait_for(lambda: _done(engine, report_ids) == 1)
            # Sent again once: it is now waiting behind a newer checkpoint.
            relayed.clear()
            outbox.relay(session, send, now=after_grace)
            assert row_id not in relayed
    assert _notified(engine, report_ids) == [(report_ids[0], 1)]


def test_a_slow_healthy_backlog_is_not_sent_twice(
    engine: Engine, database_url: str, broker_url: str, people: dict, report_ids: list[str]
) -> None:
    rows = _file_reports(database_url, people, 12, report_ids)
    queue = f"test-backlog-{uuid.uuid4().hex[:8]}"
    app = _app(database_url, broker_url, queue)
    celery_app = app.extensions["celery"]
    relayed: list[int] = []
    send = _sender(celery_app, relayed)
    with app.app_context(), Session(engine) as session:
        assert outbox.dispatch(session, rows, send) == len(rows)
        # A backlog ten minutes old, far past the grace, still queued: no worker yet.
        session.execute(
            text(
                "UPDATE outbox SET created_at = created_at - interval '10 minutes', "
                "dispatched_at = dispatched_at - interval '10 minutes' WHERE id = ANY(:ids)"
            ),
            {"ids": rows},
        )
        session.commit()
        relayed.clear()
        outbox.relay(session, send)
        for minutes in (1, 5, 30):  # the relay runs on while the backlog waits
            later = datetime.now(UTC) + timedelta(minutes=minutes)
            outbox.relay(session, send, now=later)
        assert not set(relayed) & set(rows), "a queued backlog was sent again"
        with start_worker(celery_app, pool="solo", perform_ping_check=False, loglevel="WARNING"):
            _wait_for(lambda: _done(engine, report_ids) == len(rows))
            _wait_for(lambda: _consumed(engine))
            later = datetime.now(UTC) + outbox.FAST_PATH_GRACE + timedelta(seconds=1)
            outbox.relay(session, send, now=later)
    assert not set(relayed) & set(rows)
    assert _notified(engine, report_ids) == sorted((i, 1) for i in report_ids)
