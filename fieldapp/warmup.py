"""Warm a freshly started server process before it takes its first request.

A gunicorn worker starts with empty per-process caches: its first report builds the STRtree
twin of locate for ~3,000 cells (a few hundred ms holding the GIL, so every thread of the
process waits), reads the category taxonomy, loads the translation catalogues and opens its
pooled database connections one by one. Seen in the intake benchmark (a per-request timeline):
a process's first reports took 450–640 ms, about 200 ms of it CPU building the snapshot, far
out of the p99 target of issue #3. Done at start, before the worker accepts connections,
that wait moves to boot.

Warming is best effort: a database that is not reachable yet must not keep the server from
starting (/healthz answers without one); the first requests then build the caches as
before."""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask
from flask_babel import force_locale, get_translations
from sqlalchemy.exc import SQLAlchemyError

from fieldapp.db import db
from fieldapp.services import geography, reports

log = logging.getLogger(__name__)


def warm_up(app: Flask, connections: int) -> dict[str, Any]:
    """Fill this process's caches and open up to `connections` pooled connections (one per
    server thread). Returns what was done, with timings in ms, for the worker's log."""
    done: dict[str, Any] = {}
    started = time.perf_counter()
    try:
        with app.app_context():  # its teardown returns the session's connection to the pool
            for language in app.config["LANGUAGES"]:
                with force_locale(language):
                    get_translations()
            done["translations_ms"] = _ms_since(started)
            mark = time.perf_counter()
            done["cells"] = len(geography.cell_snapshot(db.session).locations)
            done["cells_ms"] = _ms_since(mark)
            done["categories"] = len(reports.category_names(db.session))
        mark = time.perf_counter()
        done["connections"] = _open_connections(app, connections)
        done["connections_ms"] = _ms_since(mark)
    except SQLAlchemyError as exc:
        # Not reachable yet, or not migrated: the server starts anyway.
        log.warning(
            "warm-up could not read the database (%s): the first requests fill the caches",
            exc.__class__.__name__,
        )
        done["database"] = f"skipped: {exc.__class__.__name__}"
    done["total_ms"] = _ms_since(started)
    return done


def _open_connections(app: Flask, wanted: int) -> int:
    """Check out `wanted` connections at once (so the pool must open that many), then return
    them: the pool keeps them, and the threads' first requests find them open."""
    engine = app.extensions["fieldapp.engine"]
    wanted = min(wanted, engine.pool.size())
    held = []
    try:
        for _ in range(wanted):
            held.append(engine.connect())
    finally:
        for connection in held:
            connection.close()
    return len(held)


def _ms_since(mark: float) -> float:
    return round((time.perf_counter() - mark) * 1000, 1)
