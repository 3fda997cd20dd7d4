"""Celery wired as in Flask's own example (examples/celery): tasks run inside the app context,
and are declared with `@shared_task` in `workers/` so they never import the app."""

from __future__ import annotations

from typing import Any

from celery import Celery, Task
from flask import Flask
from sqlalchemy.orm import Session

from fieldapp.domain import CHINA_TZ
from fieldapp.outbox_sender import OutboxSender
from fieldapp.services import outbox

# The worker's side of OutboxSender's batches: sends each row's own task.
DISPATCH_OUTBOX_TASK = "workers.tasks.dispatch_outbox"


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.conf.update(
        broker_url=app.config["CELERY_BROKER_URL"],
        # No result backend by default: tasks record their outcome in PostgreSQL themselves.
        result_backend=app.config.get("CELERY_RESULT_BACKEND"),
        task_ignore_result=app.config.get("CELERY_RESULT_BACKEND") is None,
        timezone=CHINA_TZ.key,
        enable_utc=True,
        broker_connection_retry_on_startup=True,
        # Publishing from a request must fail fast when the broker is down: the outbox keeps
        # the message and the relay sends it later.
        broker_connection_timeout=2,
        worker_hijack_root_logger=False,
        task_always_eager=app.config.get("CELERY_TASK_ALWAYS_EAGER", False),
        imports=("workers.tasks",),
    )
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    app.extensions["fieldapp.outbox_sender"] = _outbox_sender(app, celery_app)
    return celery_app


def _outbox_sender(app: Flask, celery_app: Celery) -> OutboxSender:
    def send(outbox_ids: list[int]) -> None:
        celery_app.send_task(DISPATCH_OUTBOX_TASK, kwargs={"outbox_ids": outbox_ids}, retry=False)

    def record_failure(outbox_ids: list[int], exc: Exception) -> None:
        # A session of its own: the sender thread must not share a request's connection.
        with Session(app.extensions["fieldapp.engine"]) as session:
            outbox.record_send_failure(session, outbox_ids, exc)

    return OutboxSender(send, record_failure)
