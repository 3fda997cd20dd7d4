"""reports.prev_place_at (migration 0007): the previous report at the same place (cell and
category), kept by PostgreSQL triggers whoever writes, and the repeat counts of the KPI table
built on it. Random sequences of writes (hypothesis) against a brute-force recomputation,
then two phones filing at one place at the same moment."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, delete, select, text
from sqlalchemy.orm import Session

from fieldapp import kpi
from fieldapp.models import Report, User
from fieldapp.services import rollups
from fieldapp.stats import Period, day_start
from tests.integration.stats_support import CELLS, add_report, cell_ids

pytestmark = pytest.mark.usefixtures("people")

CATEGORIES = ("neighbours", "other")
START = datetime(2033, 3, 1, tzinfo=UTC)


def brute_force_mismatches(connection: Connection, cell_ids: list[int]) -> list[Any]:
    """Reports of these cells whose stored prev_place_at differs from the definition,
    recomputed from every row (committed by other tests or not) in plain Python."""
    rows = connection.execute(
        text(
            "SELECT id, cell_id, category, reported_at, status, prev_place_at FROM reports "
            "WHERE cell_id = ANY(:cells)"
        ),
        {"cells": cell_ids},
    ).all()
    wrong = []
    for r in rows:
        expected = None
        if r.status != "merged":
            earlier = [
                o.reported_at
                for o in rows
                if o.status != "merged"
                and (o.cell_id, o.category) == (r.cell_id, r.category)
                and (o.reported_at, o.id) < (r.reported_at, r.id)
            ]
            expected = max(earlier, default=None)
        if r.prev_place_at != expected:
            wrong.append((r.id, r.reported_at, r.status, r.prev_place_at, expected))
    return wrong


place = st.tuples(st.sampled_from(["c1", "c2"]), st.sampled_from(CATEGORIES))
# Hours from START: few values, so ties (same second at the same place) happen.
hour = st.integers(min_value=0, max_value=40).map(lambda h: h * 18)
operation = st.one_of(
    st.tuples(st.just("insert"), place, hour),
    st.tuples(st.just("merge"), st.integers(0, 30)),
    st.tuples(st.just("unmerge"), st.integers(0, 30)),
    st.tuples(st.just("move"), st.integers(0, 30), place),
    st.tuples(st.just("retime"), st.integers(0, 30), hour),
    st.tuples(st.just("delete"), st.integers(0, 30)),
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=st.lists(operation, min_size=1, max_size=25))
def test_prev_place_at_follows_every_write(
    db_session: Session, people: dict[str, Any], operations: list[tuple[Any, ...]]
) -> None:
    s = db_session
    nested = s.begin_nested()
    try:
        cells = cell_ids(s, [CELLS["c1"], CELLS["c2"]])
        by_key = {k: cells[CELLS[k]] for k in ("c1", "c2")}
        officer = people["officer_a"]["id"]
        reports: list[Report] = []
        for op in operations:
            kind = op[0]
            if kind == "insert":
                (cell_key, category), hours = op[1], op[2]
                at = START + timedelta(hours=hours)
                reports.append(add_report(s, by_key[cell_key], at, officer, category=category))
            elif reports:
                report = reports[op[1] % len(reports)]
                if kind == "merge":
                    report.status = "merged"
                elif kind == "unmerge":
                    report.status = "reported"
                elif kind == "move":
                    cell_key, category = op[2]
                    report.cell_id, report.category = by_key[cell_key].id, category
                elif kind == "retime":
                    report.reported_at = START + timedelta(hours=op[2])
                else:
                    s.delete(report)
                    reports.remove(report)
            s.flush()
        cell_list = [c.id for c in by_key.values()]
        assert brute_force_mismatches(s.connection(), cell_list) == []

        # The KPI table's repeats for two periods equal the rule applied to the same reports.
        city = s.get(User, people["city"]["id"])
        within = rollups.find_area(s, "991101001")
        assert city is not None and within is not None
        periods = [
            Period(
                "range", (START + timedelta(days=10)).date(), (START + timedelta(days=31)).date()
            ),
            Period("range", START.date(), (START + timedelta(days=10)).date()),
        ]
        counted = rollups.kpi_counts(s, city, "township", within, periods, START)
        rows = s.execute(
            select(Report.cell_id, Report.category, Report.reported_at).where(
                Report.township_id == within.id, Report.status != "merged"
            )
        ).all()
        for period, counts in zip(periods, counted, strict=True):
            places = [
                (r.cell_id, r.category)
                for r in rows
                if day_start(period.start) <= r.reported_at < day_start(period.end)
            ]
            assert counts.get(within.id, {}).get("repeats", 0) == kpi.repeat_count(places)
    finally:
        nested.rollback()


def test_two_phones_filing_at_one_place_at_once_see_each_other(
    engine: Engine, people: dict[str, Any]
) -> None:
    """The later report is written first and held uncommitted; the earlier one, filed
    meanwhile, waits for the place's lock, then sees it and becomes its predecessor. Without
    the lock each would miss the other (neither sees uncommitted rows)."""
    with Session(engine) as s:
        cell = cell_ids(s, [CELLS["d1"]])[CELLS["d1"]]
    officer = people["officer_b"]["id"]
    base = datetime(2041, 5, 1, 8, tzinfo=UTC)
    ids: list[uuid.UUID] = []

    def file(session: Session, at: datetime) -> None:
        report = add_report(session, cell, at, officer, category="other")
        ids.append(report.id)
        session.flush()

    first = Session(engine)
    try:
        file(first, base + timedelta(minutes=5))
        errors: list[BaseException] = []

        def second_phone() -> None:
            try:
                with Session(engine) as s2, s2.begin():
                    file(s2, base)
            except BaseException as error:  # noqa: BLE001 (re-raised in the test's thread)
                errors.append(error)

        thread = threading.Thread(target=second_phone)
        thread.start()
        thread.join(timeout=1.0)
        assert thread.is_alive(), "the second insert should wait for the place's lock"
        first.commit()
        thread.join(timeout=30)
        assert not thread.is_alive() and errors == []
        with engine.connect() as connection:
            assert brute_force_mismatches(connection, [cell.id]) == []
            stored = dict(
                connection.execute(
                    select(Report.reported_at, Report.prev_place_at).where(Report.id.in_(ids))
                ).all()
            )
        assert stored[base + timedelta(minutes=5)] == base
    finally:
        first.close()
        with Session(engine) as s, s.begin():
            s.execute(delete(Report).where(Report.id.in_(ids)))
