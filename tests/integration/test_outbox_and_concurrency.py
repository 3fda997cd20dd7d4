"""Background work survives a broker outage (transactional outbox), and two phones posting the
same report id at the same moment make one row and agree. These tests use committed data
(real concurrent transactions), and clean up after themselves."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from flask import Flask
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from fieldapp import create_app
from fieldapp.models import AuditEvent, Notification, OutboxMessage, Report, ReportParty
from fieldapp.services import outbox
from tests.support import auth, file_via_api, report_fields


def _body() -> dict[str, Any]:
    return report_fields(
        category="wages_labour",
        severity="red",
        people_involved=12,
        title="工地欠薪，工人聚集",
        description="十余名工人在项目部讨薪。",
        occurred_at=(datetime.now(UTC) - timedelta(minutes=20)).isoformat(),
    )


def _app(database_url: str, broker_url: str) -> Flask:
    return create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": broker_url,
            "SECRET_KEY": "test",
        }
    )


@pytest.fixture
def cleanup(engine: Engine) -> Iterator[list[str]]:
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


def test_broker_down_reports_still_accepted_then_tasks_run_once(
    engine: Engine, database_url: str, broker_url: str, people: dict, cleanup: list[str]
) -> None:
    # A broker that is not there: a unix socket path nobody listens on.
    down = _app(database_url, "redis+socket:///nonexistent/fieldapp-test-broker.sock")
    client = down.test_client()
    bodies = [_body() for _ in range(3)]
    for body in bodies:
        cleanup.append(body["id"])
        file_via_api(client, people, **body)
    ids = [b["id"] for b in bodies]
    assert down.extensions["fieldapp.outbox_sender"].flush(timeout=30)
    with Session(engine) as session:
        pending = (
            session.execute(
                select(OutboxMessage).where(OutboxMessage.payload["report_id"].astext.in_(ids))
            )
            .scalars()
            .all()
        )
        assert len(pending) == 3
        assert all(m.dispatched_at is None and m.done_at is None for m in pending)
        assert all(m.attempts == 1 and m.last_error for m in pending)

    # The broker is back: the relay sends them, a real worker runs them.
    up = _app(database_url, broker_url)
    celery_app = up.extensions["celery"]
    celery_app.conf.task_default_queue = "test-outbox-queue"
    later = datetime.now(UTC) + outbox.FAST_PATH_GRACE + timedelta(seconds=1)
    with start_worker(celery_app, pool="solo", perform_ping_check=False, loglevel="WARNING"):
        with up.app_context(), Session(engine) as session:

            def send(task: str, kwargs: dict[str, Any]) -> None:
                celery_app.send_task(task, kwargs=kwargs, retry=False)

            assert outbox.relay(session, send, now=later) >= 3
            # A duplicate delivery of the first message (as after a crash before the mark).
            first = session.execute(
                select(OutboxMessage).where(OutboxMessage.payload["report_id"].astext == ids[0])
            ).scalar_one()
            send(first.task, {**first.payload, "outbox_id": first.id})
        _wait_for(lambda: _done(engine, ids) == 3)
    with Session(engine) as session:
        notified = session.execute(
            select(Notification.subject_id, func.count())
            .where(Notification.subject_id.in_(ids), Notification.kind == "report.new")
            .group_by(Notification.subject_id)
        ).all()
    # One coordinator in township 1: one notification per report, the duplicate changed nothing.
    assert sorted(notified) == sorted((i, 1) for i in ids)


def test_the_fast_path_writes_nothing_and_the_relay_takes_only_what_is_not_done(
    engine: Engine, database_url: str, people: dict, cleanup: list[str]
) -> None:
    """A report's message goes to the broker after the commit with no second write by the
    request; the worker's dispatch marks the batch dispatched in one write; the relay sends
    at once (after the grace) only what could not be handed over, and never one a worker has
    done."""
    app = _app(database_url, "memory://")
    client = app.test_client()
    bodies = [_body() for _ in range(3)]
    for body in bodies:
        cleanup.append(body["id"])
        file_via_api(client, people, **body)
    assert app.extensions["fieldapp.outbox_sender"].flush(timeout=30)
    with Session(engine) as session:
        rows = {
            m.payload["report_id"]: m
            for m in session.execute(
                select(OutboxMessage).where(
                    OutboxMessage.payload["report_id"].astext.in_([b["id"] for b in bodies])
                )
            ).scalars()
        }
        assert all(
            (m.dispatched_at, m.done_at, m.attempts, m.last_error) == (None, None, 0, None)
            for m in rows.values()
        )
        done, waiting, failing = (rows[b["id"]] for b in bodies)
        outbox.mark_done(session, done.id)  # a worker did the first
        session.commit()
        sent: list[int] = []

        def send(task: str, kwargs: dict[str, Any]) -> None:
            sent.append(kwargs["outbox_id"])

        mine = [done.id, waiting.id, failing.id]
        # They went to the broker: as one batch or more, to the worker's dispatch_outbox,
        # which sends each row's own task unless a worker did it already.
        assert set(mine) <= _dispatched_through_memory_broker(app)
        assert outbox.dispatch(session, [done.id, waiting.id], send) == 1
        assert sent == [waiting.id]
        session.expire_all()
        assert session.get(OutboxMessage, waiting.id).dispatched_at is not None  # type: ignore[union-attr]
        sent.clear()

        def broker_down(task: str, kwargs: dict[str, Any]) -> None:
            raise ConnectionError("broker down")

        assert outbox.dispatch(session, [failing.id], broker_down) == 0
        session.expire_all()
        failed = session.get(OutboxMessage, failing.id)
        assert failed is not None and failed.attempts == 1 and failed.dispatched_at is None
        assert failed.last_error == "ConnectionError: broker down"
        assert outbox.relay(session, send) == 0 or not set(sent) & set(mine)
        later = datetime.now(UTC) + outbox.FAST_PATH_GRACE + timedelta(seconds=1)
        outbox.relay(session, send, now=later)
        # The failed hand-over is sent; the dispatched row is queued (no checkpoint says
        # otherwise); the done one is left alone.
        assert failing.id in sent and waiting.id not in sent and done.id not in sent
        session.expire_all()
        assert session.get(OutboxMessage, failing.id).dispatched_at is not None  # type: ignore[union-attr]
        sent.clear()
        outbox.relay(session, send, now=later)
        assert not set(sent) & set(mine)  # sent once: now marked dispatched


def _dispatched_through_memory_broker(app: Flask) -> set[int]:
    """The outbox ids of the dispatch_outbox messages waiting in the in-memory broker."""
    ids: set[int] = set()
    with app.extensions["celery"].connection_for_read() as connection:
        queue = connection.SimpleQueue("celery", no_ack=True)
        try:
            while True:
                message = queue.get(timeout=0.5)
                if message.headers.get("task") == "workers.tasks.dispatch_outbox":
                    _args, kwargs, _embed = message.decode()
                    ids.update(kwargs["outbox_ids"])
        except queue.Empty:
            pass
        finally:
            queue.close()
    return ids


def _done(engine: Engine, ids: list[str]) -> int:
    with Session(engine) as session:
        return int(
            session.execute(
                select(func.count()).where(
                    OutboxMessage.payload["report_id"].astext.in_(ids),
                    OutboxMessage.done_at.is_not(None),
                )
            ).scalar_one()
        )


def _wait_for(condition: Any, timeout: float = 20.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_two_phones_posting_the_same_id_at_once_make_one_row(
    engine: Engine, database_url: str, people: dict, cleanup: list[str]
) -> None:
    app = _app(database_url, "memory://")
    for _round in range(5):
        body = _body()
        cleanup.append(body["id"])
        barrier = threading.Barrier(2)
        answers: list[Any] = []

        def post(
            body: dict[str, Any] = body,
            barrier: threading.Barrier = barrier,
            answers: list[Any] = answers,
        ) -> None:
            client = app.test_client()
            barrier.wait()
            r = client.post("/api/v1/reports", json=body, headers=auth(people, "officer_a"))
            answers.append((r.status_code, r.get_json()))

        threads = [threading.Thread(target=post) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(code for code, _ in answers) == [200, 201], answers
        assert answers[0][1] == answers[1][1]
        with Session(engine) as session:
            rows = session.execute(
                select(func.count()).where(Report.id == uuid.UUID(body["id"]))
            ).scalar_one()
            parties = session.execute(
                select(func.count()).where(ReportParty.report_id == uuid.UUID(body["id"]))
            ).scalar_one()
            messages = session.execute(
                select(func.count()).where(OutboxMessage.payload["report_id"].astext == body["id"])
            ).scalar_one()
        assert (rows, parties, messages) == (1, 0, 1)
