"""CPU instructions one report costs the server process, counted by valgrind's callgrind, for
benchmarks/bench_intake.py: the one intake figure that does not move with what else the
machine is doing (its rates moved by a third between runs minutes apart).

Run by the benchmark under valgrind as `python -m benchmarks.intake_instructions FORM N
CONFIG`: FORM is `app` (the platform) or `flask_app` / `wsgi_app` (the least intake,
benchmarks/intake_floor_app.py); CONFIG a JSON file with the database URL, one client's bearer
token and position, and the floor app's chains. The app is called in-process as a WSGI
callable (no HTTP server: gunicorn's share is the same for every form), first 30 times
unmeasured (statements prepared, caches filled), then N times with callgrind's
instrumentation switched on (`callgrind_control -i on`), so the count is the N reports' work
alone: every thread of the process, the psycopg client included; PostgreSQL's own work is not
in it."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from typing import Any

from benchmarks.common import libpq_dsn

WARMUP_REPORTS = 30


def _load_app(form: str, config: dict[str, Any]) -> Callable[..., Any]:
    os.environ["DATABASE_URL"] = config["url"]
    os.environ["CELERY_BROKER_URL"] = "memory://"
    if form == "app":
        from fieldapp import create_app
        from fieldapp.warmup import warm_up

        app = create_app()
        warm_up(app, connections=1)
        return app
    os.environ["FLOOR_DSN"] = libpq_dsn(config["url"])
    os.environ["FLOOR_CHAINS"] = json.dumps(config["floor_chains"])
    from benchmarks import intake_floor_app  # reads the two variables above when imported

    return getattr(intake_floor_app, form)


def _post(app: Callable[..., Any], token: str, body: bytes) -> None:
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/api/v1/reports",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_AUTHORIZATION": f"Bearer {token}",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    status: list[str] = []
    answer = b"".join(app(environ, lambda s, _headers, _exc=None: status.append(s)))
    if not status or not status[0].startswith("201"):
        raise SystemExit(f"intake answered {status}: {answer[:300]!r}")


def main(form: str, reports: int, config_path: str) -> None:
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    app = _load_app(form, config)
    token, (lon, lat) = config["token"], config["point"]
    run = uuid.uuid4().hex[:8]

    def body(i: int) -> bytes:
        # The same body as wrk_intake.lua sends.
        return json.dumps(
            {
                "id": f"{run}-0000-4000-8000-{i:012x}",
                "lon": lon,
                "lat": lat,
                "category": "neighbours",
                "severity": "yellow",
                "people_involved": 2,
                "title": "邻里纠纷（压测）",
                "description": "压测生成的报告。",
                "occurred_at": config["occurred_at"],
                "parties": [{"name": "张三", "phone": "13800000000"}],
            },
            ensure_ascii=False,
        ).encode()

    for i in range(WARMUP_REPORTS):
        _post(app, token, body(i))
    bodies = [body(i) for i in range(WARMUP_REPORTS, WARMUP_REPORTS + reports)]
    toggle = ["callgrind_control", "-i"]
    subprocess.run([*toggle, "on", str(os.getpid())], check=True, capture_output=True)
    for data in bodies:
        _post(app, token, data)
    subprocess.run([*toggle, "off", str(os.getpid())], check=True, capture_output=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
