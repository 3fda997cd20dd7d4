"""/metrics: its contents, who may read it, the multiprocess mode under a real gunicorn, task
durations from a real worker, and JSON log lines."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine
from sqlalchemy import text as sql

from fieldapp import create_app, metrics
from fieldapp.db import db
from tests.support import auth, report_fields

REPO = Path(__file__).resolve().parents[2]


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _value(text: str, name: str, **labels: str) -> float | None:
    return _samples(text).get((name, tuple(sorted(labels.items()))))


@pytest.fixture
def live_app(database_url: str, engine: Engine, broker_url: str) -> Flask:
    return create_app(
        {"DATABASE_URL": database_url, "CELERY_BROKER_URL": broker_url, "SECRET_KEY": "t"}
    )


def test_metrics_hold_latency_outbox_queue_and_alerts(live_app: Flask) -> None:
    client = live_app.test_client()
    assert client.get("/healthz").status_code == 200
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=")
    text = response.get_data(as_text=True)
    count = _value(
        text,
        "fieldapp_http_request_duration_seconds_count",
        endpoint="pages.healthz",
        method="GET",
        status="2xx",
    )
    assert count is not None and count >= 1
    assert _value(text, "fieldapp_database_up") == 1
    assert _value(text, "fieldapp_broker_up") == 1
    assert _value(text, "fieldapp_outbox_backlog") is not None
    assert _value(text, "fieldapp_outbox_oldest_age_seconds") is not None
    assert _value(text, "fieldapp_hotspot_alerts_raised") is not None
    depth = _value(text, "fieldapp_celery_queue_depth", queue="celery")
    assert depth is not None and depth >= 0
    assert "fieldapp_reports_filed_total" in text
    assert "fieldapp_task_duration_seconds" in text  # declared, observed by workers


def test_metrics_say_when_the_database_and_broker_are_down() -> None:
    dead = create_app(
        {
            "DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",
            "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
            "SECRET_KEY": "t",
        }
    )
    text = dead.test_client().get("/metrics").get_data(as_text=True)
    assert _value(text, "fieldapp_database_up") == 0
    assert _value(text, "fieldapp_broker_up") == 0
    assert "fieldapp_outbox_backlog" not in text


def test_metrics_only_for_allowed_addresses_or_the_token(live_app: Flask) -> None:
    client = live_app.test_client()
    outside = {"REMOTE_ADDR": "203.0.113.7"}
    assert client.get("/metrics", environ_base=outside).status_code == 404
    live_app.config["METRICS_TOKEN"] = "s3cret-token-of-the-monitoring-host"
    live_app.config["METRICS_ALLOW"] = "10.0.0.0/8"
    try:
        assert client.get("/metrics").status_code == 404  # 127.0.0.1 is no longer allowed
        assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.2.3.4"}).status_code == 200
        wrong = {"Authorization": "Bearer guess"}
        assert client.get("/metrics", headers=wrong, environ_base=outside).status_code == 404
        right = {"Authorization": "Bearer s3cret-token-of-the-monitoring-host"}
        assert client.get("/metrics", headers=right, environ_base=outside).status_code == 200
    finally:
        live_app.config["METRICS_TOKEN"] = None
        live_app.config["METRICS_ALLOW"] = metrics.DEFAULT_ALLOW


def test_a_filed_report_is_counted(client: FlaskClient, people: dict) -> None:
    before = metrics.REPORTS_FILED._value.get()
    body = report_fields(
        severity="yellow",
        title="计数",
        description="计数测试",
        occurred_at="2026-12-01T08:00:00+08:00",
    )
    assert (
        client.post("/api/v1/reports", json=body, headers=auth(people, "officer_a")).status_code
        == 201
    )
    # A repeat of the same report (200) is not a new one.
    assert (
        client.post("/api/v1/reports", json=body, headers=auth(people, "officer_a")).status_code
        == 200
    )
    assert metrics.REPORTS_FILED._value.get() == before + 1


@pytest.mark.usefixtures("small_city_loaded")
def test_task_durations_are_measured_by_a_real_worker(database_url: str, broker_url: str) -> None:
    app = create_app(
        {
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": broker_url,
            "CELERY_RESULT_BACKEND": broker_url,
            "SECRET_KEY": "t",
        }
    )
    celery_app = app.extensions["celery"]
    celery_app.conf.task_default_queue = f"test-metrics-{uuid.uuid4().hex[:8]}"
    sample = metrics.TASK_DURATION.labels("deadline_sweep", "success")
    before = sample._sum.get()  # type: ignore[attr-defined]
    with start_worker(celery_app, pool="solo", perform_ping_check=False, loglevel="WARNING"):
        celery_app.send_task("workers.tasks.deadline_sweep").get(timeout=60)
    assert sample._sum.get() > before  # type: ignore[attr-defined]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_gunicorn_workers_add_up_in_multiprocess_mode_and_log_json(
    database_url: str, small_city_loaded: None, tmp_path: Path
) -> None:
    port = _free_port()
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    log = tmp_path / "gunicorn.log"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": "memory://",
        "SECRET_KEY": "t",
        "FIELDAPP_INSTANCE": str(tmp_path),
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
        "FIELDAPP_LOG_FORMAT": "json",
    }
    with log.open("w") as out:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--config=python:fieldapp.gunicorn_config",
                "--workers=2",
                "--threads=2",
                f"--bind=127.0.0.1:{port}",
                "--access-logfile=-",
                f"--chdir={REPO}",
                "fieldapp:create_app()",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        while log.read_text().count("warmed up") < 2:
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        requests = 40
        for _ in range(requests):  # new connections: spread over both workers
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", "/healthz")
            assert connection.getresponse().status == 200
            connection.close()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/metrics")
        response = connection.getresponse()
        assert response.status == 200
        text = response.read().decode()
    finally:
        server.terminate()
        server.wait(timeout=30)
    # Every worker's requests are counted, whichever worker answered the scrape.
    count = _value(
        text,
        "fieldapp_http_request_duration_seconds_count",
        endpoint="pages.healthz",
        method="GET",
        status="2xx",
    )
    assert count == requests
    assert len(list(multiproc.glob("histogram_*.db"))) == 2  # one file per worker
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert any("warmed up" in e["message"] for e in entries)
    assert any(e["logger"] == "gunicorn.access" for e in entries)
    assert all({"time", "level", "logger", "message"} <= e.keys() for e in entries)


def test_metrics_say_a_replica_url_naming_a_primary_is_not_used(
    database_url: str, engine: object, broker_url: str
) -> None:
    app = create_app(
        {
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": broker_url,
            "SECRET_KEY": "t",
            "REPLICA_DATABASE_URL": database_url,
        }
    )
    client = app.test_client()
    before = client.get("/metrics").get_data(as_text=True)
    with app.app_context():
        db.read_session.execute(sql("SELECT 1"))
    scraped = client.get("/metrics").get_data(as_text=True)
    assert _value(scraped, "fieldapp_replica_up") == 0
    assert _value(scraped, "fieldapp_replica_in_use") == 0
    assert _value(scraped, "fieldapp_replica_lag_seconds") is None
    for target, more in (("primary", 1), ("replica", 0)):
        was = _value(before, "fieldapp_reads_routed_total", target=target) or 0
        assert (_value(scraped, "fieldapp_reads_routed_total", target=target) or 0) == was + more
