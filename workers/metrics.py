"""Task durations for Prometheus (fieldapp.metrics.TASK_DURATION), measured around every task
by Celery's signals; and, when FIELDAPP_WORKER_METRICS_PORT is set, a small HTTP server in the
worker's main process that serves them (with PROMETHEUS_MULTIPROC_DIR set, the figures of all
its pool processes). Bind it to an address only the monitoring host reaches
(FIELDAPP_WORKER_METRICS_ADDR, default 127.0.0.1)."""

from __future__ import annotations

import os
import time
from typing import Any

from celery.signals import task_postrun, task_prerun, worker_ready
from prometheus_client import REGISTRY, CollectorRegistry, multiprocess, start_http_server

from fieldapp.metrics import TASK_DURATION

_started: dict[str, float] = {}


@task_prerun.connect
def _task_started(task_id: str | None = None, **_kwargs: Any) -> None:
    if task_id:
        _started[task_id] = time.perf_counter()


@task_postrun.connect
def _task_finished(
    task_id: str | None = None, task: Any = None, state: str | None = None, **_kwargs: Any
) -> None:
    started = _started.pop(task_id or "", None)
    if started is None or task is None:
        return
    name = str(getattr(task, "name", "?")).removeprefix("workers.tasks.")
    TASK_DURATION.labels(name, (state or "?").lower()).observe(time.perf_counter() - started)


@worker_ready.connect
def _serve_metrics(**_kwargs: Any) -> None:
    port = os.environ.get("FIELDAPP_WORKER_METRICS_PORT")
    if not port:
        return
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    addr = os.environ.get("FIELDAPP_WORKER_METRICS_ADDR", "127.0.0.1")
    start_http_server(int(port), addr=addr, registry=registry)
