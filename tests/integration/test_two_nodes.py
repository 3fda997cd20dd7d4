"""More than one machine, on this machine (issue 16, part 2): a primary and a streaming replica
(pg_basebackup -R), two web nodes (gunicorn) behind one nginx upstream, two Celery workers on
one broker. The officer → coordinator → city path runs across them through nginx; the city's
figures are read from the replica while it keeps up, and from the primary when it lags or is
down. Also the replica router on its own against the real pair. About a minute here."""

from __future__ import annotations

import http.client
import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine, text

from fieldapp import localservices
from fieldapp.db import READ_SOURCE_HEADER, ReplicaRouter
from tests import nodes_support as ns

# Part of `make test` (the default selection); `-m "not nodes"` leaves it out.
pytestmark = pytest.mark.nodes


@pytest.fixture(scope="module")
def dbs() -> Iterator[ns.Databases]:
    with ns.primary_and_replica(log_statements=True) as pair:
        yield pair


@pytest.fixture(scope="module")
def seeded(dbs: ns.Databases) -> dict[str, Any]:
    keys = dbs.root / "data_keys.json"
    data = ns.seed(dbs.primary_url, keys)
    data["keys"] = keys
    ns.wait_for_replay(dbs)
    return data


def _bearer(seeded: dict[str, Any], who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {seeded['tokens'][who]}"}


def _report(lon: float, lat: float) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "lon": lon,
        "lat": lat,
        "category": "neighbours",
        "severity": "orange",
        "people_involved": 2,
        "title": "宅基地边界争执",
        "description": "两户因宅基地边界发生争执。",
        "occurred_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "parties": [{"name": "张三", "phone": "13800000000"}],
    }


def _act(
    port: int, seeded: dict[str, Any], who: str, case_id: str, action: str, **body: Any
) -> Any:
    status, case, _ = ns.get(port, f"/api/v1/cases/{case_id}", _bearer(seeded, who))
    assert status == 200, case
    status, answer = ns.post(
        port,
        f"/api/v1/cases/{case_id}/actions/{action}",
        {"version": case["version"], **body},
        _bearer(seeded, who),
    )
    assert status == 200, answer
    return answer


def _county_total(body: dict[str, Any]) -> int:
    """Reports counted in the county-level roll-up."""
    return int(body["totals"]["total"])


def _rollups(port: int, seeded: dict[str, Any]) -> tuple[int, int, str | None]:
    status, body, headers = ns.get(port, "/api/v1/rollups?level=county", _bearer(seeded, "city"))
    assert status == 200, body
    return status, _county_total(body), headers.get(READ_SOURCE_HEADER)


def _download(port: int, path: str, seeded: dict[str, Any]) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers=_bearer(seeded, "city"))
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _until(predicate: Any, timeout: float = 20, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)


def test_officer_coordinator_city_across_two_nodes_two_workers_and_a_replica(
    dbs: ns.Databases, seeded: dict[str, Any]
) -> None:
    # redis here by default; NODES_TEST_BROKER_URL=amqp://guest:guest@127.0.0.1:5672// runs
    # the same path on RabbitMQ, the production broker (docs/deploy.md, 1.2).
    broker = os.environ.get("NODES_TEST_BROKER_URL") or localservices.ensure_redis(
        dbs.root / "primary", progress=lambda _m: None
    )
    started = time.monotonic()
    phases: list[str] = []

    def mark(name: str) -> None:
        phases.append(f"{name} {time.monotonic() - started:.1f}s")

    with ns.platform(dbs, broker, seeded["keys"]) as plat:
        port = plat.port
        mark("up")
        # The officers file reports through nginx.
        filed = []
        for i in range(6):
            token, lon, lat = seeded["officers"][i % 2]
            status, body = ns.post(
                port, "/api/v1/reports", _report(lon, lat), {"Authorization": f"Bearer {token}"}
            )
            assert status == 201, body
            filed.append(body["id"])
        # The coordinator accepts and assigns one of them.
        _act(port, seeded, "coordinator", filed[0], "accept")
        assigned = _act(port, seeded, "coordinator", filed[0], "assign", department="991101-D01")
        assert assigned["status"] == "assigned"
        # The follow-up work of each report (the coordinator's notification) was done by the
        # workers. (Its delivery by e-mail/SMS is queued by the worker and sent by the relay
        # of the one beat; not run here.)
        with psycopg.connect(ns.libpq(dbs.primary_url), autocommit=True) as conn:

            def followed_up() -> bool:
                row = conn.execute(
                    "SELECT count(*) FILTER (WHERE done_at IS NOT NULL), count(*) FROM outbox"
                    " WHERE task = 'workers.tasks.process_report'"
                ).fetchone()
                return row == (6, 6)

            assert _until(followed_up, timeout=30), "the workers did not do the follow-up work"
            notified = conn.execute(
                "SELECT count(DISTINCT subject_id) FROM notifications n JOIN users u"
                " ON u.id = n.user_id WHERE u.username = 'n_coordinator'"
            ).fetchone()
        assert notified == (6,)
        # The city reads the roll-ups and KPIs: from the replica, with every report counted.
        status, total, source = _rollups(port, seeded)
        assert source == "replica"
        assert total == 6
        status, kpis, headers = ns.get(
            port,
            f"/api/v1/kpis?level=township&period={datetime.now(UTC):%Y-%m}",
            _bearer(seeded, "city"),
        )
        assert status == 200 and headers.get(READ_SOURCE_HEADER) == "replica", kpis
        # ... and the replica really ran them: its statement log shows the roll-up's query
        # from the web nodes' read engine (application_name fieldapp-reads).
        logged = dbs.replica_log.stat().st_size
        assert _rollups(port, seeded)[2] == "replica"
        with dbs.replica_log.open(errors="replace") as log:
            log.seek(logged)
            lines = [line for line in log if "[fieldapp-reads]" in line and "reports" in line]
        assert lines, "no read of reports on the replica"
        mark("path")

        # The city exports the cases: a worker writes the file reading from the replica, and
        # either web node hands it out (the file is stored in PostgreSQL).
        logged = dbs.replica_log.stat().st_size
        status, job = ns.post(
            port, "/api/v1/exports", {"kind": "cases", "format": "csv"}, _bearer(seeded, "city")
        )
        assert status == 202, job

        def export_done() -> bool:
            status, body, _ = ns.get(port, f"/api/v1/exports/{job['id']}", _bearer(seeded, "city"))
            assert status == 200 and body["status"] in ("queued", "running", "done"), body
            return bool(body["status"] == "done")

        assert _until(export_done, timeout=30), "the export was not written"
        with dbs.replica_log.open(errors="replace") as log:
            log.seek(logged)
            # psycopg's server-side cursor: the export's rows streamed on the replica.
            streamed = [line for line in log if "[fieldapp-reads]" in line and "DECLARE" in line]
        assert streamed, "the export's rows were not read on the replica"
        before = plat.requests_per_node()
        for _ in range(2):  # round robin: one download from each node
            status, raw = _download(port, f"/api/v1/exports/{job['id']}/download", seeded)
            assert status == 200
            assert raw.decode("utf-8-sig").count("宅基地边界争执") == 6  # every case, once

        def one_each() -> bool:
            now = plat.requests_per_node()
            return [a - b for a, b in zip(now, before, strict=True)] == [1, 1]

        assert _until(one_each, timeout=5), (plat.requests_per_node(), before)
        mark("export")
        # Writes never went there: the intake and the workflow answered 201/200 above, and a
        # standby refuses writes, so they were on the primary.

        # Replay paused (a replica that lags): reads go to the primary and see the new report.
        with psycopg.connect(ns.libpq(dbs.replica_url), autocommit=True) as replica:
            replica.execute("SELECT pg_wal_replay_pause()")
            try:
                token, lon, lat = seeded["officers"][0]
                status, body = ns.post(
                    port, "/api/v1/reports", _report(lon, lat), {"Authorization": f"Bearer {token}"}
                )
                assert status == 201, body
                time.sleep(1.5)  # over FIELDAPP_REPLICA_MAX_LAG_SECONDS=1
                answers = [_rollups(port, seeded) for _ in range(4)]  # both nodes
                assert {a[2] for a in answers} == {"primary"}, answers
                assert {a[1] for a in answers} == {7}
            finally:
                replica.execute("SELECT pg_wal_replay_resume()")
        ns.wait_for_replay(dbs)
        assert _until(lambda: {_rollups(port, seeded)[2] for _ in range(4)} == {"replica"})
        mark("lagging replica")

        # The replica down: answers still 200, from the primary; back when it returns.
        dbs.stop_replica("immediate")
        try:
            # A read already on its way to the replica when it died fails once per web
            # process (503 with Retry-After: the page or phone asks again); the next ones are
            # read from the primary.
            failed = 0
            answers: list[tuple[int, int, str | None]] = []
            while len(answers) < 4:
                status, body, headers = ns.get(
                    port, "/api/v1/rollups?level=county", _bearer(seeded, "city")
                )
                if status == 503:
                    assert headers.get("Retry-After"), body
                    failed += 1
                    assert failed <= 2, "more than one failed read per web node"
                    continue
                assert status == 200, body
                answers.append((status, _county_total(body), headers.get(READ_SOURCE_HEADER)))
            assert {a[2] for a in answers} == {"primary"} and {a[1] for a in answers} == {7}
        finally:
            dbs.start_replica()
        assert _until(lambda: {_rollups(port, seeded)[2] for _ in range(4)} == {"replica"})
        mark("replica down")

        # Requests landed on both web nodes; both workers are consumers of the one broker.
        per_node = plat.requests_per_node()
        assert min(per_node) >= 5, per_node
        logs = [(plat.root / f"worker{i}" / "worker.log").read_text() for i in range(2)]
        # Each worker took part (2 tasks per report: the hand-over batch and its follow-up).
        assert all(log.count("succeeded in") >= 1 for log in logs), logs
    mark("stopped")
    print(f"\ntwo nodes: {', '.join(phases)}; requests per node {per_node}")


def test_the_router_measures_lag_by_wal_position_not_by_the_clock(
    dbs: ns.Databases, seeded: dict[str, Any]
) -> None:
    """Idle primary: zero lag however long since the last write (the clock-based measure
    would grow); replay paused with writes waiting: lag in bytes and seconds, over the bound
    → not usable; a replica URL that names a primary, or nothing: not usable."""
    primary = create_engine(dbs.primary_url)
    replica = create_engine(dbs.replica_url)
    try:
        ns.wait_for_replay(dbs)
        router = ReplicaRouter(primary, replica, max_lag_seconds=0.5)
        time.sleep(1.0)  # idle: no write since
        lag = router.check()
        assert lag is not None and lag.bytes == 0 and lag.seconds == 0 and router.use_replica()
        with replica.connect() as conn:
            idle_for = conn.execute(
                text("SELECT extract(epoch FROM now() - pg_last_xact_replay_timestamp())")
            ).scalar_one()
        assert float(idle_for) >= 1.0  # what the naive measure would have reported
        with psycopg.connect(ns.libpq(dbs.replica_url), autocommit=True) as paused:
            paused.execute("SELECT pg_wal_replay_pause()")
            try:
                with primary.begin() as conn:
                    conn.execute(text("CREATE TABLE lag_probe (id int)"))
                time.sleep(0.8)
                lag = router.check()
                assert lag is not None and lag.bytes > 0 and lag.seconds > 0.5
                assert not router.use_replica()
            finally:
                paused.execute("SELECT pg_wal_replay_resume()")
        ns.wait_for_replay(dbs)
        lag = router.check()
        assert lag is not None and lag.bytes == 0 and router.use_replica()
        with primary.begin() as conn:
            conn.execute(text("DROP TABLE lag_probe"))

        assert ReplicaRouter(primary, primary, max_lag_seconds=5).check() is None
        nowhere = create_engine(
            "postgresql+psycopg://postgres@/fieldapp?host=/nonexistent&port=5432"
        )
        gone = ReplicaRouter(primary, nowhere, max_lag_seconds=5)
        assert gone.check() is None and gone.last_error and not gone.use_replica()
    finally:
        primary.dispose()
        replica.dispose()
