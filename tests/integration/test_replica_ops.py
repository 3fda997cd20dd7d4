"""What operators see of the read replica, against a real primary and streaming replica
(pg_basebackup -R, tests/nodes_support.py): `fieldapp check` on a replica that is fine, that
replays another primary, and that is behind the bound; /metrics with the replica's lag in
seconds and bytes and the reads served by each target. About 20 s here (a fresh pair)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, create_engine, text

from fieldapp import create_app, migrate
from fieldapp.db import db
from tests import nodes_support as ns
from tests.integration.test_check_command import GOOD_KEY, _check
from tests.integration.test_metrics import _value

pytestmark = pytest.mark.nodes
MAX_LAG_S = 2.0


@pytest.fixture(scope="module")
def pair() -> Iterator[ns.Databases]:
    with ns.primary_and_replica() as dbs:
        engine = create_engine(dbs.primary_url)
        migrate.upgrade(engine)
        engine.dispose()
        ns.wait_for_replay(dbs)
        yield dbs


class _Paused:
    """Replay paused on the replica while the primary writes: a replica that lags."""

    def __init__(self, dbs: ns.Databases) -> None:
        self.dbs = dbs

    def __enter__(self) -> None:
        self.replica = psycopg.connect(ns.libpq(self.dbs.replica_url), autocommit=True)
        self.replica.execute("SELECT pg_wal_replay_pause()")
        with psycopg.connect(ns.libpq(self.dbs.primary_url), autocommit=True) as primary:
            primary.execute("CREATE TABLE IF NOT EXISTS lag_probe (id int)")
            primary.execute("INSERT INTO lag_probe VALUES (1)")

    def __exit__(self, *_exc: object) -> None:
        self.replica.execute("SELECT pg_wal_replay_resume()")
        self.replica.close()
        ns.wait_for_replay(self.dbs)


def test_check_a_good_replica_another_primarys_and_one_behind(
    tmp_path: Path, pair: ns.Databases, database_url: str, broker_url: str, engine: Engine
) -> None:
    """`engine` migrates the worktree's test database: run alone, this test must not see it
    unmigrated (a second ✗ line)."""
    common = {"CELERY_BROKER_URL": broker_url, "SECRET_KEY": GOOD_KEY}
    good = _check(
        tmp_path,
        DATABASE_URL=pair.primary_url,
        FIELDAPP_REPLICA_DATABASE_URL=pair.replica_url,
        **common,
    )
    assert good == (0, ["all good"])
    # The test database of this worktree is a cluster of its own: a standby of the pair's
    # primary cannot be a replica of it.
    code, lines = _check(
        tmp_path,
        DATABASE_URL=database_url,
        FIELDAPP_REPLICA_DATABASE_URL=pair.replica_url,
        **common,
    )
    assert code == 1 and len(lines) == 1, lines
    assert lines[0].startswith("✗ replica replays another primary: its system identifier ")
    with _Paused(pair):
        code, lines = _check(
            tmp_path,
            DATABASE_URL=pair.primary_url,
            FIELDAPP_REPLICA_DATABASE_URL=pair.replica_url,
            FIELDAPP_REPLICA_MAX_LAG_SECONDS="0.5",
            **common,
        )
    assert code == 1 and len(lines) == 1, lines
    assert lines[0].startswith("✗ replica behind: "), lines
    assert "bytes of WAL) over FIELDAPP_REPLICA_MAX_LAG_SECONDS=0.5" in lines[0]


def test_metrics_hold_the_replica_lag_and_reads_per_target(
    pair: ns.Databases, broker_url: str
) -> None:
    """The bound is 2 s, not less: the pair's primary writes WAL of its own now and then
    (autovacuum analysing the freshly migrated tables), and on a loaded machine its replay
    can take a good part of a second; while it is pending, the lag's upper bound is the time
    since the replica was last seen caught up (fieldapp.db.replica_lag), and a sub-second
    bound then routed a read to the primary (seen once in a full run)."""
    app = create_app(
        {
            "DATABASE_URL": pair.primary_url,
            "CELERY_BROKER_URL": broker_url,
            "SECRET_KEY": "t",
            "REPLICA_DATABASE_URL": pair.replica_url,
            "REPLICA_MAX_LAG_SECONDS": MAX_LAG_S,
            "REPLICA_CHECK_SECONDS": 0,  # measure at every look: no waiting in the test
        }
    )
    client = app.test_client()

    def scrape() -> str:
        response = client.get("/metrics")
        assert response.status_code == 200
        return response.get_data(as_text=True)

    def read(expected: str) -> None:
        if expected == "replica":
            ns.wait_for_replay(pair)
        with app.app_context():
            db.read_session.execute(text("SELECT 1"))
            assert app.extensions["fieldapp.replica_router"].usable == (expected == "replica")

    ns.wait_for_replay(pair)
    before = scrape()
    replica_reads = _value(before, "fieldapp_reads_routed_total", target="replica") or 0.0
    primary_reads = _value(before, "fieldapp_reads_routed_total", target="primary") or 0.0
    assert _value(before, "fieldapp_replica_up") == 1
    assert _value(before, "fieldapp_replica_in_use") == 1
    assert _value(before, "fieldapp_replica_lag_bytes") == 0
    assert _value(before, "fieldapp_replica_lag_seconds") == 0
    assert _value(before, "fieldapp_replica_max_lag_seconds") == MAX_LAG_S
    read("replica")
    read("replica")
    with _Paused(pair):
        time.sleep(MAX_LAG_S + 0.3)  # the change waits longer than the bound
        behind = scrape()
        read("primary")
        lag_bytes = _value(behind, "fieldapp_replica_lag_bytes")
        lag_seconds = _value(behind, "fieldapp_replica_lag_seconds")
        assert lag_bytes is not None and lag_bytes > 0, behind
        assert lag_seconds is not None and lag_seconds > MAX_LAG_S, behind
        assert _value(behind, "fieldapp_replica_in_use") == 0
    after = scrape()
    assert _value(after, "fieldapp_reads_routed_total", target="replica") == replica_reads + 2
    assert _value(after, "fieldapp_reads_routed_total", target="primary") == primary_reads + 1
