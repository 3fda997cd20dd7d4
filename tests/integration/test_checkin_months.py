"""checkin_months (migration 0007): check-in days per officer and month, kept by triggers on
checkins, and the 零报告 counts of the KPI table built on it — random writes and random
windows (hypothesis) against counting the check-ins themselves."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from fieldapp.models import Checkin
from fieldapp.services import rollups

pytestmark = pytest.mark.usefixtures("people")

FIRST_DAY = date(2034, 1, 20)
day = st.integers(min_value=0, max_value=80).map(lambda n: FIRST_DAY + timedelta(days=n))
officer = st.sampled_from(["officer_a", "officer_b"])
operation = st.one_of(
    st.tuples(st.just("check_in"), officer, day),
    st.tuples(st.just("delete"), st.integers(0, 40)),
    st.tuples(st.just("move"), st.integers(0, 40), officer, day),
)
window = st.tuples(day, st.integers(min_value=0, max_value=75)).map(
    lambda w: (w[0], w[0] + timedelta(days=w[1]))
)


def months_mismatches(connection: Connection) -> list[Any]:
    """(officer, month) whose stored total differs from counting its check-ins (all rows,
    whoever committed them)."""
    return connection.execute(
        text(
            """SELECT * FROM (
                 SELECT officer_id, date_trunc('month', day)::date AS month, count(*) AS days
                 FROM checkins GROUP BY 1, 2) counted
               FULL JOIN checkin_months stored USING (officer_id, month)
               WHERE counted.days IS DISTINCT FROM nullif(stored.days, 0)"""
        )
    ).all()


def counted_directly(
    connection: Connection, township_id: int, first: date, end: date
) -> tuple[int, int]:
    """(officers, check-in days) of a township's active officers in [first, end), counted
    from the check-ins themselves."""
    row = connection.execute(
        text(
            """SELECT count(*), coalesce(sum(
                 (SELECT count(*) FROM checkins c
                  WHERE c.officer_id = o.user_id AND c.day >= :a AND c.day < :b)), 0)
               FROM (SELECT DISTINCT oc.user_id FROM officer_cells oc
                     JOIN cells ON cells.id = oc.cell_id JOIN users u ON u.id = oc.user_id
                     WHERE cells.township_id = :t AND u.role = 'officer' AND u.active) o"""
        ),
        {"t": township_id, "a": first, "b": end},
    ).one()
    return int(row[0]), int(row[1])


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    operations=st.lists(operation, min_size=1, max_size=30),
    windows=st.lists(window, min_size=1, max_size=3),
)
def test_month_totals_and_compliance_counts_follow_every_write(
    db_session: Session,
    people: dict[str, Any],
    operations: list[tuple[Any, ...]],
    windows: list[tuple[date, date]],
) -> None:
    s = db_session
    nested = s.begin_nested()
    try:
        rows: list[Checkin] = []
        taken: set[tuple[int, date]] = set()
        for op in operations:
            if op[0] == "check_in":
                key = (people[op[1]]["id"], op[2])
                if key not in taken:  # one check-in per officer and day (unique key)
                    rows.append(Checkin(officer_id=key[0], day=key[1], nothing_to_report=True))
                    s.add(rows[-1])
                    taken.add(key)
            elif rows:
                row = rows[op[1] % len(rows)]
                if op[0] == "delete":
                    s.delete(row)
                    rows.remove(row)
                    taken.discard((row.officer_id, row.day))
                else:
                    key = (people[op[2]]["id"], op[3])
                    if key not in taken:
                        taken.discard((row.officer_id, row.day))
                        row.officer_id, row.day = key
                        taken.add(key)
            s.flush()
        assert months_mismatches(s.connection()) == []

        within = rollups.find_area(s, "991101")
        assert within is not None
        officers, per_window = rollups.checkin_counts(s, "township", within, windows)
        for township_id, n in officers.items():
            for (first, end), counts in zip(windows, per_window, strict=True):
                direct = counted_directly(s.connection(), township_id, first, end)
                assert (n, counts.get(township_id, 0)) == direct, (first, end)
    finally:
        nested.rollback()
