"""`fieldapp check`'s verdict on a reachable replica, from what one look found (the cases a
real replica makes costly to stage: another primary's standby, a replica far behind)."""

from __future__ import annotations

import math

from fieldapp.db import ReplicaLag
from fieldapp.preflight import ReplicaFacts, replica_verdict

HEALTHY = ReplicaFacts(
    standby=True,
    replica_system_id=7,
    primary_system_id=7,
    lag=ReplicaLag(0, 0.0),
    receiving=True,
)


def test_a_streaming_standby_of_this_primary_within_the_bound_is_fine() -> None:
    assert replica_verdict(HEALTHY, 5) is None
    near = ReplicaFacts(True, 7, 7, ReplicaLag(8192, 4.9), True)
    assert replica_verdict(near, 5) is None


def test_not_a_standby_comes_first() -> None:
    verdict = replica_verdict(ReplicaFacts(False, None, 7, None, None), 5)
    assert verdict is not None and verdict.startswith("replica is not a standby:")


def test_a_standby_of_another_primary() -> None:
    verdict = replica_verdict(ReplicaFacts(True, 8, 7, ReplicaLag(0, 0.0), True), 5)
    assert verdict is not None
    assert verdict.startswith("replica replays another primary: its system identifier 8")
    assert "pg_basebackup" in verdict


def test_identifiers_unknown_to_an_unprivileged_role_are_not_a_problem() -> None:
    assert replica_verdict(ReplicaFacts(True, None, 7, ReplicaLag(0, 0.0), True), 5) is None


def test_behind_the_bound_says_by_how_much_and_whether_it_streams() -> None:
    behind = replica_verdict(ReplicaFacts(True, 7, 7, ReplicaLag(1_048_576, 12.34), True), 5)
    assert behind is not None
    assert behind.startswith("replica behind: 12.3 s (1048576 bytes of WAL) over ")
    assert "FIELDAPP_REPLICA_MAX_LAG_SECONDS=5" in behind and "not streaming" not in behind
    stopped = replica_verdict(ReplicaFacts(True, 7, 7, ReplicaLag(16, math.inf), False), 5)
    assert stopped is not None and "not streaming (no WAL receiver)" in stopped
