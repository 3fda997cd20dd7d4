"""gunicorn settings of the platform's web server, shared by `fieldapp up` (`make run`) and
the benchmarks, so that what is measured is what runs: `-c python:fieldapp.gunicorn_config`.
Any of them can be overridden on the command line or in GUNICORN_CMD_ARGS.

Threads, not only processes: a request spends most of its time waiting for PostgreSQL, and
each process holds its own caches (cells, categories) and connection pool. Three processes of
six threads served the intake benchmark at least as well as 4×4, 2×8, 6×3, 8×2 or 16×1 on
two cores (session notes of issue #3)."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask
from prometheus_client import multiprocess as prometheus_multiprocess

from fieldapp.logging_setup import gunicorn_logconfig

worker_class = "gthread"
workers = 3
threads = 6

# nginx keeps idle connections to gunicorn open (its upstream `keepalive`, idle up to 60 s) and
# sends the next request on one. gunicorn's default closes them after 2 s, and a request
# nginx sends in that very moment gets a 502 — not retried by nginx for a POST, such as a
# phone's report. Longer than nginx's 60 s: nginx is the side that closes.
keepalive = 75
# A stop (SIGTERM) lets requests in flight finish for this long, shorter than the 30 s after
# which `fieldapp up`'s supervisor kills what is still running (fieldapp.supervisor).
graceful_timeout = 25

# FIELDAPP_LOG_FORMAT=json: gunicorn's error and access lines as JSON too.
if (_json_logs := gunicorn_logconfig()) is not None:
    logconfig_dict = _json_logs


def post_worker_init(worker: Any) -> None:
    """Warm each worker before it accepts connections (fieldapp.warmup). Other WSGI apps
    served with these settings (the benchmark's floor apps) are left alone."""
    app = worker.wsgi
    if isinstance(app, Flask) and "fieldapp.engine" in app.extensions:
        from fieldapp.warmup import warm_up

        done = warm_up(app, connections=worker.cfg.threads)
        worker.log.info(
            "worker %s warmed up in %.0f ms: %s",
            worker.pid,
            done.pop("total_ms"),
            ", ".join(f"{key} {value}" for key, value in done.items()),
        )


def child_exit(_server: Any, worker: Any) -> None:
    """Prometheus multiprocess mode (PROMETHEUS_MULTIPROC_DIR, fieldapp.metrics): a worker
    gone must not leave its live gauges counted. The module is imported with the config, in
    the master, not here: this hook runs in gunicorn's SIGCHLD handler, and a first import
    inside it was re-entered by the next worker's exit at shutdown (a circular-import
    traceback in the JSON log, seen in the test of multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        prometheus_multiprocess.mark_process_dead(worker.pid)
