"""A real Celery worker on the real (private or configured) redis broker runs our tasks inside
the Flask app context, against the test database."""

from __future__ import annotations

import pytest
from celery.contrib.testing.worker import start_worker
from sqlalchemy import Engine

from fieldapp import create_app


@pytest.mark.usefixtures("small_city_loaded")
def test_worker_runs_a_task_through_the_broker(
    engine: Engine, database_url: str, broker_url: str
) -> None:
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": broker_url,
            "CELERY_RESULT_BACKEND": broker_url,
        }
    )
    celery_app = app.extensions["celery"]
    # A queue of our own, so a `make run` worker on the same broker cannot take the task.
    celery_app.conf.task_default_queue = "test-worker-queue"
    with start_worker(celery_app, pool="solo", perform_ping_check=False, loglevel="WARNING"):
        result = celery_app.send_task("workers.tasks.boundary_stats")
        counts = result.get(timeout=30)
    assert counts["cells"] >= 48 and counts["townships"] >= 2
