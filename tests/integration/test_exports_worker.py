"""The whole export flow through a real Celery worker on the real broker, with committed data
(cleaned up afterwards): request → the outbox hands it to the worker → progress → done →
download with the Chinese file name → a second delivery does nothing → the beat task expires
it → 410 and the file is gone."""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import openpyxl
import pytest
from celery.contrib.testing.worker import start_worker
from flask import Flask
from sqlalchemy import Engine, delete, select, update
from sqlalchemy.orm import Session

from fieldapp import create_app, export_store
from fieldapp.models import (
    AuditEvent,
    ExportJob,
    Notification,
    OutboxMessage,
    Report,
    ReportParty,
)
from tests.support import auth, file_via_api


@pytest.fixture
def worker_app(database_url: str, broker_url: str, tmp_path: Path) -> Iterator[Flask]:
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": broker_url,
            "CELERY_RESULT_BACKEND": broker_url,
            "SECRET_KEY": "test",
            "EXPORT_DIR": str(tmp_path / "exports"),
        }
    )
    # A queue of our own, so a `make run` worker on the same broker cannot take the tasks.
    app.extensions["celery"].conf.task_default_queue = "test-exports-queue"
    yield app
    app.extensions["fieldapp.engine"].dispose()


@pytest.fixture
def cleanup(engine: Engine) -> Iterator[dict[str, list[str]]]:
    made: dict[str, list[str]] = {"reports": [], "exports": []}
    yield made
    with Session(engine) as session, session.begin():
        reports = [uuid.UUID(i) for i in made["reports"]]
        ids = made["reports"] + made["exports"]
        session.execute(delete(Notification).where(Notification.subject_id.in_(made["reports"])))
        session.execute(
            delete(OutboxMessage).where(
                OutboxMessage.payload["report_id"].astext.in_(made["reports"])
                | OutboxMessage.payload["job_id"].astext.in_(made["exports"])
            )
        )
        session.execute(delete(AuditEvent).where(AuditEvent.object_id.in_(ids)))
        session.execute(
            delete(ExportJob).where(ExportJob.id.in_([uuid.UUID(i) for i in made["exports"]]))
        )
        session.execute(delete(ReportParty).where(ReportParty.report_id.in_(reports)))
        session.execute(delete(Report).where(Report.id.in_(reports)))


def _web_node(app: Flask, export_dir: Path) -> Flask:
    """Another web process on the same database and broker, with its own export folder."""
    return create_app({**app.config, "EXPORT_DIR": str(export_dir)})


def wait_for(condition: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


@pytest.mark.usefixtures("small_city_loaded")
def test_request_progress_download_and_expiry_through_a_real_worker(
    worker_app: Flask,
    engine: Engine,
    people: dict,
    cleanup: dict[str, list[str]],
    tmp_path: Path,
) -> None:
    client = worker_app.test_client()
    celery_app = worker_app.extensions["celery"]
    for i in range(5):
        report_id = str(uuid.uuid4())
        cleanup["reports"].append(report_id)  # before filing: this test commits
        file_via_api(
            client,
            people,
            id=report_id,
            severity="red" if i % 2 else "yellow",
            people_involved=2 + i,
            title=f"导出测试 {i}",
            description="两户因排水沟堵塞争执。",
        )

    with start_worker(celery_app, pool="solo", perform_ping_check=False, loglevel="WARNING"):
        r = client.post(
            "/api/v1/exports",
            json={"kind": "cases", "format": "xlsx", "filters": {"area": "991101001"}},
            headers=auth(people, "coord_1"),
        )
        assert r.status_code == 202, r.get_json()
        job = r.get_json()
        cleanup["exports"].append(job["id"])
        assert job["status"] == "queued"

        def finished() -> dict[str, Any] | None:
            state = client.get(job["status_url"], headers=auth(people, "coord_1")).get_json()
            return state if state["status"] in ("done", "failed") else None

        done = wait_for(finished)
        assert done["status"] == "done", done["error"]
        assert done["progress"]["rows_done"] == done["progress"]["rows_total"] >= 5
        assert done["progress"]["percent"] == 100.0
        assert done["started_at"] and done["finished_at"] and done["expires_at"]
        expires = datetime.fromisoformat(done["expires_at"])
        finished_at = datetime.fromisoformat(done["finished_at"])
        assert expires - finished_at == timedelta(hours=24)
        assert done["download_url"] == f"/api/v1/exports/{job['id']}/download"

        # Downloaded from another web node, with an export folder of its own: the file is
        # in the database, not on the worker's disk.
        other_node = _web_node(worker_app, tmp_path / "other-node").test_client()
        r = other_node.get(done["download_url"], headers=auth(people, "coord_1"))
        assert r.status_code == 200
        assert r.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        disposition = r.headers["Content-Disposition"]
        name = done["file"]["name"]
        # Named after the township it holds (issue #14), not the whole city.
        assert name.startswith("测试街道001矛盾纠纷案件清单_") and name.endswith(".xlsx")
        assert disposition.startswith("attachment;")
        assert f"filename*=UTF-8''{quote(name)}" in disposition  # RFC 5987
        assert int(r.headers["Content-Length"]) == len(r.data) == done["file"]["size"]
        with Session(engine) as session:
            assert export_store.read_all(session, uuid.UUID(job["id"])) == r.data
        # Nothing is left on the worker's disk (no temporary file either).
        assert list(Path(worker_app.config["EXPORT_DIR"]).iterdir()) == []
        sheet = openpyxl.load_workbook(io.BytesIO(r.data), data_only=True).active
        assert sheet is not None and sheet["A1"].value == "测试街道001矛盾纠纷案件清单"
        ids = {row[-1] for row in sheet.iter_rows(min_row=6, values_only=True)}
        assert set(cleanup["reports"]) <= ids

        # Only the requester downloads; for anyone else it does not exist.
        r = client.get(done["download_url"], headers=auth(people, "county"))
        assert r.status_code == 404

        # A second delivery of the message (as after a lost acknowledgement) does nothing.
        with Session(engine) as session:
            message = session.execute(
                select(OutboxMessage).where(OutboxMessage.payload["job_id"].astext == job["id"])
            ).scalar_one()
            assert message.done_at is not None
        again = celery_app.send_task(
            "workers.tasks.run_export", kwargs={"job_id": job["id"], "outbox_id": message.id}
        )
        direct = celery_app.send_task("workers.tasks.run_export", kwargs={"job_id": job["id"]})
        assert again.get(timeout=30) == {
            "skipped": True,
            "reason": "outbox message already handled",
        }
        assert direct.get(timeout=30) == {"skipped": True, "reason": "not queued"}
        state = client.get(job["status_url"], headers=auth(people, "coord_1")).get_json()
        assert state["finished_at"] == done["finished_at"] and state["status"] == "done"

        # Expiry: the beat task deletes the file and marks the job expired.
        with Session(engine) as session, session.begin():
            session.execute(
                update(ExportJob)
                .where(ExportJob.id == uuid.UUID(job["id"]))
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        swept = celery_app.send_task("workers.tasks.expire_exports").get(timeout=30)
        assert swept["expired"] >= 1
    with Session(engine) as session:
        assert export_store.stored_size(session, uuid.UUID(job["id"])) is None
    r = client.get(done["download_url"], headers=auth(people, "coord_1"))
    assert r.status_code == 410
    assert r.get_json()["error"]["code"] == "expired" and r.get_json()["error"]["message"]
    state = client.get(job["status_url"], headers=auth(people, "coord_1")).get_json()
    assert state["download_url"] is None
    with Session(engine) as session:
        actions = session.execute(
            select(AuditEvent.action)
            .where(AuditEvent.object_id == job["id"])
            .order_by(AuditEvent.id)
        ).scalars()
        assert list(actions) == [
            "export.request",
            "export.done",
            "export.download",
            "export.expire",
        ]
