"""Prometheus metrics (the standard client library, prometheus_client).

What each process counts itself — request latency by endpoint, reports filed, task
durations (the deadline sweep, the hotspot run, every other task) — and, read at scrape time
from the shared services so every node reports the same value: the outbox backlog and the age
of its oldest row, the Celery queue depth, the alerts raised. With a read replica
(FIELDAPP_REPLICA_DATABASE_URL): its lag in seconds and bytes as this process's ReplicaRouter
last measured it, whether reads go to it now, and how many app contexts' reads each target
served.

Under gunicorn (several processes) set PROMETHEUS_MULTIPROC_DIR to an empty folder writable by
the service before the processes start: each process then writes its figures there and
/metrics sums them (prometheus_client's multiprocess mode; fieldapp.gunicorn_config removes a
dead worker's live gauges). Without it, each process answers with its own figures.

Who may read /metrics: requests from FIELDAPP_METRICS_ALLOW (addresses or networks, default
the machine itself) or with `Authorization: Bearer <FIELDAPP_METRICS_TOKEN>`; everyone else
gets a 404, as if there were nothing."""

from __future__ import annotations

import hmac
import ipaddress
import os
import time
from collections.abc import Iterable, Iterator
from typing import Any

from flask import Flask, Response, abort, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, text

from fieldapp import health
from fieldapp.db import ReplicaRouter, on_read_routed

REQUEST_LATENCY = Histogram(
    "fieldapp_http_request_duration_seconds",
    "Time to answer a request, by endpoint (Flask endpoint name), method and status class.",
    ["endpoint", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
REPORTS_FILED = Counter(
    "fieldapp_reports_filed", "Reports accepted (201) by the intake API of this node."
)
TASK_DURATION = Histogram(
    "fieldapp_task_duration_seconds",
    "Time a Celery task ran, by task (deadline_sweep and recompute_hotspots among them).",
    ["task", "outcome"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 1800.0),
)

READS_ROUTED = Counter(
    "fieldapp_reads_routed",
    "Requests and tasks whose read-heavy queries (dashboards, roll-ups, KPIs, map layers,"
    " exports) were served by each target: replica or primary.",
    ["target"],
)
on_read_routed(lambda target: READS_ROUTED.labels(target).inc())

# The endpoint of the intake: counted as "reports filed" when it answers 201.
INTAKE_ENDPOINT = "api.create_report"
DEFAULT_ALLOW = "127.0.0.1/32,::1/128"


def _networks(spec: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(part.strip(), strict=False) for part in spec.split(",") if part]


def allowed(remote: str | None, authorization: str, *, allow: str, token: str | None) -> bool:
    """May this client read the metrics? By its address (the direct peer: behind nginx that
    is nginx, which guards /metrics itself) or by the bearer token."""
    if token:
        scheme, _sep, given = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token):
            return True
    if not remote:
        return False
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return False
    return any(address in network for network in _networks(allow))


class SharedStateCollector(Collector):
    """Figures of the shared services, read when Prometheus scrapes (each is one cheap query:
    the outbox through its partial index of rows not done)."""

    def __init__(self, engine: Engine, broker_url: str, queue: str) -> None:
        self._engine = engine
        self._broker_url = broker_url
        self._queue = queue

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from self._database()
        yield from self._broker()

    def _database(self) -> Iterable[GaugeMetricFamily]:
        up = GaugeMetricFamily("fieldapp_database_up", "1 when the database answered.")
        try:
            with self._engine.connect() as connection:
                connection.execute(text("SET LOCAL statement_timeout = 2000"))
                row = connection.execute(
                    text(
                        "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)"
                        " FROM outbox WHERE done_at IS NULL"
                    )
                ).one()
                backlog, age = int(row[0]), float(row[1])
                alerts = connection.execute(text("SELECT count(*) FROM hotspot_alerts")).scalar()
        except Exception:  # the database is away: say so, and nothing else from it
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield GaugeMetricFamily(
            "fieldapp_outbox_backlog", "Outbox rows whose work is not done yet.", value=backlog
        )
        yield GaugeMetricFamily(
            "fieldapp_outbox_oldest_age_seconds",
            "Age of the oldest outbox row not done (0 when none).",
            value=age,
        )
        yield GaugeMetricFamily(
            "fieldapp_hotspot_alerts_raised",
            "Hotspot alerts raised so far (rows of hotspot_alerts).",
            value=alerts or 0,
        )

    def _broker(self) -> Iterable[GaugeMetricFamily]:
        from kombu import Connection

        up = GaugeMetricFamily("fieldapp_broker_up", "1 when the Celery broker answered.")
        if self._broker_url.startswith("memory://"):
            return
        try:
            with Connection(
                self._broker_url, connect_timeout=health.PROBE_TIMEOUT_SECONDS
            ) as connection:
                connection.ensure_connection(max_retries=1, timeout=health.PROBE_TIMEOUT_SECONDS)
                depth = _queue_depth(connection, self._queue)
        except Exception:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        depth_family = GaugeMetricFamily(
            "fieldapp_celery_queue_depth", "Messages waiting in the Celery queue.", labels=["queue"]
        )
        depth_family.add_metric([self._queue], depth)
        yield depth_family


class ReplicaCollector(Collector):
    """The replica as this process's router sees it. A scrape measures anew only when the
    last look is older than REPLICA_CHECK_SECONDS (the router's own period), so scraping adds
    at most one primary and one replica round trip per period."""

    def __init__(self, router: ReplicaRouter) -> None:
        self._router = router

    def collect(self) -> Iterator[GaugeMetricFamily]:
        router = self._router
        router.use_replica()
        lag = router.last_lag
        yield GaugeMetricFamily(
            "fieldapp_replica_up",
            "1 when the replica answered as a standby at the last look (0: unreachable, or not"
            " a standby).",
            value=0 if lag is None else 1,
        )
        yield GaugeMetricFamily(
            "fieldapp_replica_in_use",
            "1 when reads are routed to the replica now (up, and within the lag bound).",
            value=1 if router.usable else 0,
        )
        yield GaugeMetricFamily(
            "fieldapp_replica_max_lag_seconds",
            "The bound (FIELDAPP_REPLICA_MAX_LAG_SECONDS) past which reads go to the primary.",
            value=router.max_lag_seconds,
        )
        if lag is not None:
            yield GaugeMetricFamily(
                "fieldapp_replica_lag_seconds",
                "Upper bound on the age of the oldest change the replica has not replayed"
                " (0 when it has replayed everything the primary flushed).",
                value=lag.seconds,
            )
            yield GaugeMetricFamily(
                "fieldapp_replica_lag_bytes",
                "WAL the primary has flushed and the replica has not replayed yet.",
                value=lag.bytes,
            )


def _queue_depth(connection: Any, queue: str) -> int:
    """Messages waiting in `queue`; 0 for a queue no worker has declared yet (a passive
    declare answers 404 NOT_FOUND, on redis as on RabbitMQ)."""
    from amqp.exceptions import ChannelError

    try:
        declared = connection.default_channel.queue_declare(queue, passive=True)
    except ChannelError as exc:
        if exc.code == 404 or "NOT_FOUND" in str(exc):
            return 0
        raise
    return int(declared.message_count)


def exposition(app: Flask) -> bytes:
    """The text Prometheus reads: this node's own figures (all its processes, in
    multiprocess mode) followed by the shared ones."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        own = CollectorRegistry()
        multiprocess.MultiProcessCollector(own)
    else:
        own = REGISTRY
    shared = CollectorRegistry()
    shared.register(
        SharedStateCollector(
            app.extensions["fieldapp.engine"],
            app.config["CELERY_BROKER_URL"],
            app.extensions["celery"].conf.task_default_queue or "celery",
        )
    )
    router: ReplicaRouter | None = app.extensions.get("fieldapp.replica_router")
    if router is not None:
        shared.register(ReplicaCollector(router))
    return generate_latest(own) + generate_latest(shared)


def init_app(app: Flask) -> None:
    """Time every request; count reports filed; serve /metrics to allowed clients."""
    app.config.setdefault("METRICS_ALLOW", os.environ.get("FIELDAPP_METRICS_ALLOW", DEFAULT_ALLOW))
    app.config.setdefault("METRICS_TOKEN", os.environ.get("FIELDAPP_METRICS_TOKEN") or None)

    @app.before_request
    def start_timer() -> None:
        g.metrics_started = time.perf_counter()

    # One labelled child per (endpoint, method, status class), found once: `labels()` builds
    # and checks its arguments and takes a lock on every call, and this runs on every request.
    children: dict[tuple[str, str, int], Any] = {}

    @app.after_request
    def observe(response: Response) -> Response:
        started = g.pop("metrics_started", None)
        if started is not None:
            elapsed = time.perf_counter() - started
            endpoint = request.endpoint or "(unmatched)"
            status = response.status_code
            key = (endpoint, request.method, status // 100)
            child = children.get(key)
            if child is None:
                child = children[key] = REQUEST_LATENCY.labels(endpoint, key[1], f"{key[2]}xx")
            child.observe(elapsed)
            if status == 201 and endpoint == INTAKE_ENDPOINT:
                REPORTS_FILED.inc()
        return response

    @app.get("/metrics")
    def metrics() -> Response:
        if not allowed(
            request.remote_addr,
            request.headers.get("Authorization", ""),
            allow=current_app.config["METRICS_ALLOW"],
            token=current_app.config["METRICS_TOKEN"],
        ):
            abort(404)
        body = exposition(current_app._get_current_object())  # type: ignore[attr-defined]
        return Response(body, headers={"Content-Type": CONTENT_TYPE_LATEST})
