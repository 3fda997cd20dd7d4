"""CPU instructions one report costs the server process, counted by valgrind's callgrind, for
benchmarks/bench_intake.py: the one intake figure that does not move with what else the
machine is doing (its rates moved by a third between runs minutes apart).

This file is the worker; it runs inside the tree being measured (this one, or a baseline
commit checked out beside it by bench_intake's same-run comparison), so it imports nothing
from `benchmarks` but the floor app, and only for the floor forms. Run by path (not `-m`,
which would load the other tree's copy) with that tree first on PYTHONPATH:

- `python intake_instructions.py setup CONFIG CLIENTS`: migrate the (empty) database named by
  DATABASE_URL with the tree's own migrations, load the demo city (seed 1) with the tree's own
  code, issue CLIENTS officers' bearer tokens and write them with their positions to CONFIG.
- `python intake_instructions.py count FORM N CONFIG` (under valgrind): FORM is `app` (the
  platform) or `flask_app` / `wsgi_app` (the least intake, benchmarks/intake_floor_app.py);
  CONFIG the JSON written by `setup` (plus the floor app's chains for the floor forms).
  With INTAKE_PROFILE=FILE it runs without valgrind and writes a cProfile of the N reports
  to FILE instead (to see which functions a difference in instructions is made of).

The app is called in-process as a WSGI callable (no HTTP server: gunicorn's share is the same
for every form), first 30 times unmeasured (statements prepared, caches filled), then N times
with callgrind's instrumentation switched on (`callgrind_control -i on`), so the count is the
N reports' work alone: every thread of the process, the psycopg client included;
PostgreSQL's own work is not in it. The same bodies and the same officer in every run."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

WARMUP_REPORTS = 30


def _libpq_dsn(database_url: str) -> str:
    return database_url.replace("postgresql+psycopg://", "postgresql://")


def setup(config_path: str, clients: int) -> None:
    """Migrate, load the demo city and issue `clients` officers' tokens (this tree's code)."""
    from sqlalchemy import create_engine, select, text

    # The script runs inside each tree compared (bench_intake compare): the demo loader moved
    # from fieldapp.services to the fieldapp.demo package after the baseline commit.
    try:
        from fieldapp.demo.accounts import load_demo_city
    except ImportError:
        from fieldapp.services.demo import load_demo_city  # type: ignore[no-redef]
    from sqlalchemy.orm import Session

    import fieldapp
    from fieldapp import create_app, migrate
    from fieldapp.models import Cell, OfficerCell, User
    from fieldapp.services import accounts

    here = os.path.realpath(os.getcwd())
    if not os.path.realpath(fieldapp.__file__).startswith(here + os.sep):
        raise SystemExit(f"fieldapp came from {fieldapp.__file__}, not the tree {here}")
    url = os.environ["DATABASE_URL"]
    engine = create_engine(url)
    migrate.upgrade(engine)
    app = create_app({"DATABASE_URL": url, "CELERY_BROKER_URL": "memory://"})
    with app.app_context(), Session(engine) as session, session.begin():
        load_demo_city(session, seed=1)
    with app.app_context(), Session(engine) as session, session.begin():
        officers = session.execute(
            select(User, Cell.id)
            .join(OfficerCell, OfficerCell.user_id == User.id)
            .join(Cell, Cell.id == OfficerCell.cell_id)
            .where(User.role == "officer")
            .order_by(User.id)
            .limit(clients)
        ).all()
        points = {
            cid: (x, y)
            for cid, x, y in session.execute(
                text(
                    "SELECT id, ST_X(p), ST_Y(p) FROM (SELECT id, "
                    "ST_PointOnSurface(geom) p FROM cells) s"
                )
            )
        }
        now = datetime.now(UTC)
        tokens = [
            (accounts.issue_token(session, user, "bench", now).token, points[cell_id])
            for user, cell_id in officers
        ]
    engine.dispose()
    import psycopg

    with psycopg.connect(_libpq_dsn(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    with open(config_path, "w", encoding="utf-8") as f:
        json.dump(
            {
                "url": url,
                "tokens": tokens,
                "occurred_at": now.replace(microsecond=0).isoformat(),
            },
            f,
        )


def _load_app(form: str, config: dict[str, Any]) -> Callable[..., Any]:
    os.environ["DATABASE_URL"] = config["url"]
    os.environ["CELERY_BROKER_URL"] = "memory://"
    if form == "app":
        from fieldapp import create_app
        from fieldapp.warmup import warm_up

        app = create_app()
        warm_up(app, connections=1)
        return app
    os.environ["FLOOR_DSN"] = _libpq_dsn(config["url"])
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


def count(form: str, reports: int, config_path: str) -> None:
    """File WARMUP_REPORTS reports unmeasured, then `reports` with instrumentation on."""
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    # Per-process caches that re-check the database every few seconds of wall time do not
    # re-check during the count: under valgrind a report takes ~50 times longer, so a 5 s
    # check fell every few reports instead of every few hundred, and the count moved by 2 %
    # with the machine's load. Set for both trees (each knob where the tree has it).
    os.environ["FIELDAPP_SETTINGS_CHECK_SECONDS"] = "3600"
    app = _load_app(form, config)
    if form == "app":
        from fieldapp.services import reports as reports_service

        if hasattr(reports_service, "CATEGORY_CACHE_SECONDS"):  # before the settings cache
            reports_service.CATEGORY_CACHE_SECONDS = 3600.0
    token, (lon, lat) = config["tokens"][0]
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
    profile_to = os.environ.get("INTAKE_PROFILE")
    if profile_to:  # a plain run under cProfile, not valgrind: where the time goes, by function
        import cProfile

        profiler = cProfile.Profile(time.process_time)  # CPU, not the waits on PostgreSQL
        profiler.enable()
        for data in bodies:
            _post(app, token, data)
        profiler.disable()
        profiler.dump_stats(profile_to)
        return
    toggle = ["callgrind_control", "-i"]
    subprocess.run([*toggle, "on", str(os.getpid())], check=True, capture_output=True)
    for data in bodies:
        _post(app, token, data)
    subprocess.run([*toggle, "off", str(os.getpid())], check=True, capture_output=True)


if __name__ == "__main__":
    if sys.argv[1] == "setup":
        setup(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1] == "count":
        count(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        raise SystemExit(__doc__)
