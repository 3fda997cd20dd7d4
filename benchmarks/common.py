"""Shared helpers: timing, JSON figure lines, and a throwaway database."""

from __future__ import annotations

import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from fieldapp import localservices, migrate

REPO = Path(__file__).resolve().parent.parent


def libpq_dsn(database_url: str) -> str:
    """The libpq form of a SQLAlchemy psycopg URL, for psycopg.connect."""
    return database_url.replace("postgresql+psycopg://", "postgresql://")


def figure(name: str, **values: Any) -> None:
    """Print one figure as a JSON line (the format every benchmark shares)."""
    print(json.dumps({"benchmark": name, **values}, ensure_ascii=False), flush=True)


def median_seconds(fn: Callable[[], Any], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


@contextmanager
def throwaway_database(label: str) -> Iterator[Engine]:
    """A migrated database of its own on the configured or private server, dropped after."""
    server = os.environ.get("DATABASE_URL") or localservices.ensure_postgres(
        Path(os.environ.get("FIELDAPP_INSTANCE") or REPO / "instance"), progress=lambda _m: None
    )
    name = f"fieldapp_bench_{label}_{os.getpid()}"
    localservices.create_database(server, name)
    engine = create_engine(make_url(server).set(database=name))
    try:
        migrate.upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        localservices.drop_database(server, name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_gunicorn(
    database_url: str,
    port: int,
    extra_env: dict[str, str] | None = None,
    app: str = "fieldapp:create_app()",
    bind: str | None = None,
) -> subprocess.Popen[bytes]:
    """The app (or another WSGI `app` of this repository) served by gunicorn with the
    platform's settings (fieldapp/gunicorn_config.py, as `make run`), on a throwaway
    database; background work goes to an in-memory broker (nothing consumes it during a
    benchmark). `bind` (e.g. `unix:PATH`) replaces 127.0.0.1:port."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": "memory://",
        **(extra_env or {}),
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config=python:fieldapp.gunicorn_config",
            f"--bind={bind or f'127.0.0.1:{port}'}",
            "--log-level=warning",
            f"--chdir={REPO}",
            app,
        ],
        env=env,
    )


def wait_ready(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/v1/categories")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("gunicorn did not come up")


def officers_at_cells(session: Session, limit: int | None = None) -> list[tuple[Any, int, Any]]:
    """The demo city's officers in id order, one row per cell of theirs: (User, cell id, a
    point inside the cell as (lon, lat)), where that officer's phone files from. The load
    generators' phones (benchmarks/intake_instructions.py keeps a copy: it runs inside a
    baseline tree, where this module may not exist)."""
    from fieldapp.models import Cell, OfficerCell, User

    officers = session.execute(
        select(User, Cell.id)
        .join(OfficerCell, OfficerCell.user_id == User.id)
        .join(Cell, Cell.id == OfficerCell.cell_id)
        .where(User.role == "officer")
        .order_by(User.id)
        .limit(limit)
    ).all()
    rows: Any = session.execute(
        text(
            "SELECT id, ST_X(p), ST_Y(p) FROM (SELECT id, ST_PointOnSurface(geom) p "
            "FROM cells WHERE id = ANY(:ids)) s"
        ),
        {"ids": sorted({cell_id for _user, cell_id in officers})},
    )
    points = {cid: (float(x), float(y)) for cid, x, y in rows}
    return [(user, cell_id, points[cell_id]) for user, cell_id in officers]
