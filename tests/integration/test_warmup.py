"""A new server process fills its caches and opens its connections before its first request
(fieldapp.warmup, run by gunicorn's post_worker_init hook in fieldapp/gunicorn_config.py), and
still starts when the database cannot be read."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from fieldapp import create_app
from fieldapp.models import Cell
from fieldapp.services import geography
from fieldapp.warmup import warm_up

REPO = Path(__file__).resolve().parents[2]


def _fresh_app(database_url: str) -> object:
    # A new app has a new engine: nothing cached for it, an empty pool.
    return create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": "memory://",
            "SECRET_KEY": "test",
        }
    )


def test_warm_up_builds_the_cell_snapshot_and_opens_one_connection_per_thread(
    engine: Engine, database_url: str, small_city_loaded: None
) -> None:
    app = _fresh_app(database_url)
    app_engine = app.extensions["fieldapp.engine"]  # type: ignore[attr-defined]
    try:
        assert app_engine not in geography._cells
        assert app_engine.pool.checkedin() == 0

        done = warm_up(app, connections=4)  # type: ignore[arg-type]

        with Session(engine) as session:
            cells = session.execute(select(func.count()).select_from(Cell)).scalar_one()
        assert cells > 0
        assert done["cells"] == cells
        assert len(geography._cells[app_engine].locations) == cells
        assert done["categories"] > 0
        assert done["connections"] == 4
        assert app_engine.pool.checkedin() == 4  # opened, and back in the pool
    finally:
        app_engine.dispose()


def test_warm_up_lets_the_server_start_when_the_database_cannot_be_read() -> None:
    app = _fresh_app("postgresql+psycopg://nobody@127.0.0.1:1/none")
    done = warm_up(app, connections=4)  # type: ignore[arg-type]
    assert done["database"] == "skipped: OperationalError"
    assert "cells" not in done


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_gunicorn_with_the_platform_settings_warms_each_worker_before_serving(
    database_url: str, small_city_loaded: None, tmp_path: Path
) -> None:
    port = _free_port()
    log = tmp_path / "gunicorn.log"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": "memory://",
        "SECRET_KEY": "test",
        "FIELDAPP_INSTANCE": str(tmp_path),
    }
    with log.open("w") as out:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--config=python:fieldapp.gunicorn_config",
                "--workers=2",
                "--threads=3",
                f"--bind=127.0.0.1:{port}",
                "--log-level=info",
                f"--chdir={REPO}",
                "fieldapp:create_app()",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while log.read_text().count("warmed up") < 2:
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        # Warmed before any request was sent: each worker built its snapshot and opened
        # one connection per thread.
        warmed = [line for line in log.read_text().splitlines() if "warmed up" in line]
        assert all("connections 3" in line and "cells " in line for line in warmed)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/api/v1/categories")
        assert connection.getresponse().status == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
