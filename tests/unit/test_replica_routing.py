"""The read-routing decision (fieldapp.db) without a database: the lag from one measurement,
the bound, and how often a router measures (tests/integration/test_two_nodes.py runs it
against a real primary and streaming replica)."""

from __future__ import annotations

import math

from sqlalchemy import create_engine

from fieldapp.db import ReplicaLag, ReplicaRouter, replica_lag, replica_usable


def test_nothing_pending_is_zero_lag_however_old_the_last_transaction() -> None:
    # An idle primary: the last replayed commit is an hour old, yet the replica has it all.
    assert replica_lag(5000, 5000, 3600.0, None) == ReplicaLag(0, 0.0)
    assert replica_lag(5000, 6000, 3600.0, 1.0) == ReplicaLag(0, 0.0)  # ahead: read later


def test_pending_wal_is_as_old_as_the_younger_of_the_two_bounds() -> None:
    assert replica_lag(9000, 5000, 3600.0, 0.8) == ReplicaLag(4000, 0.8)
    assert replica_lag(9000, 5000, 2.5, 30.0) == ReplicaLag(4000, 2.5)
    assert replica_lag(9000, 5000, 2.5, None) == ReplicaLag(4000, 2.5)
    # Never seen caught up and nothing ever replayed: unknown, so unbounded.
    assert replica_lag(9000, 5000, None, None).seconds == math.inf


def test_usable_only_when_measured_and_within_the_bound() -> None:
    assert replica_usable(ReplicaLag(0, 0.0), 5)
    assert replica_usable(ReplicaLag(10, 5.0), 5)
    assert not replica_usable(ReplicaLag(10, 5.1), 5)
    assert not replica_usable(None, 5)


class FakeRouter(ReplicaRouter):
    """Measurements from a list, on a clock the test moves."""

    def __init__(self, lags: list[ReplicaLag | None], **kw: float) -> None:
        self.now = 0.0
        engine = create_engine("postgresql+psycopg://nobody@/none?host=/nonexistent")
        super().__init__(engine, engine, clock=lambda: self.now, **kw)
        self.lags = lags
        self.measured = 0

    def measure(self) -> ReplicaLag | None:
        self.measured += 1
        return self.lags.pop(0)


def test_a_router_measures_at_most_once_per_interval() -> None:
    router = FakeRouter(
        [ReplicaLag(0, 0.0), ReplicaLag(99, 9.0)], max_lag_seconds=5, check_every_seconds=1
    )
    assert router.use_replica() and router.measured == 1
    router.now = 0.5
    assert router.use_replica() and router.measured == 1  # the last decision stands
    router.now = 1.0
    assert not router.use_replica() and router.measured == 2  # behind by 9 s > 5 s


def test_an_unreachable_replica_is_tried_again_after_ten_checks() -> None:
    router = FakeRouter([None, ReplicaLag(0, 0.0)], max_lag_seconds=5, check_every_seconds=0.5)
    assert not router.use_replica() and router.measured == 1
    router.now = 4.9
    assert not router.use_replica() and router.measured == 1  # not yet: 10 × 0.5 s
    router.now = 5.0
    assert router.use_replica() and router.measured == 2


def test_a_disconnect_during_a_read_sends_the_next_reads_to_the_primary() -> None:
    router = FakeRouter([ReplicaLag(0, 0.0)], max_lag_seconds=5, check_every_seconds=1)
    assert router.use_replica()
    router.mark_down("disconnected: server closed the connection")
    assert not router.use_replica() and router.last_error
