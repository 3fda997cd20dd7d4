"""How the KPI counts stay live: the stored per-report KPI code follows every write, and the
few-seconds cache of the KPI table answers only the same scope, area and period."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from fieldapp.models import Report, User
from fieldapp.services import rollups, stats
from fieldapp.stats import parse_period
from tests.integration.stats_support import CELLS, add_report, cell_ids

pytestmark = pytest.mark.usefixtures("people")

NOW = datetime(2033, 3, 20, tzinfo=UTC)
MARCH = parse_period("2033-03")


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    stats._KPI_CACHE.clear()
    yield
    stats._KPI_CACHE.clear()


def _counts(s: Session, city: User) -> dict[str, int]:
    within = rollups.find_area(s, "991101002")
    assert within is not None
    [counted] = rollups.kpi_counts(s, city, "township", within, [MARCH], NOW)
    return counted.get(within.id, {})


def test_the_stored_kpi_code_follows_updates(db_session: Session, people: dict[str, Any]) -> None:
    s = db_session
    city = s.get(User, people["city"]["id"])
    assert city is not None
    cell = cell_ids(s, [CELLS["d1"]])[CELLS["d1"]]
    report = add_report(
        s,
        cell,
        datetime(2033, 3, 2, tzinfo=UTC),
        people["officer_b"]["id"],
        status="reported",
        step="acceptance",
        due_at=NOW - timedelta(hours=1),
    )
    s.flush()
    got = _counts(s, city)
    # Still waiting past its acceptance deadline: late (due, not on time), not closed.
    assert (got["acceptance_due"], got["accepted_on_time"], got["closing_due"]) == (1, 0, 0)

    s.execute(
        update(Report)
        .where(Report.id == report.id)
        .values(
            status="closed",
            step=None,
            due_at=None,
            closed_on_time=True,
            outcome="resolved",
            satisfaction="satisfied",
        )
    )
    got = _counts(s, city)
    # Closed straight from "reported" on time: on time for acceptance and closing, resolved.
    assert {k: got[k] for k in ("acceptance_due", "accepted_on_time", "closing_due")} == {
        "acceptance_due": 1,
        "accepted_on_time": 1,
        "closing_due": 1,
    }
    assert (got["closed_on_time"], got["resolved"], got["closed"]) == (1, 1, 1)
    assert (got["satisfied"], got["rated"]) == (1, 1)

    s.execute(update(Report).where(Report.id == report.id).values(status="merged"))
    assert _counts(s, city) == {}


def test_the_kpi_table_cache_answers_the_same_question_only(
    db_session: Session, people: dict[str, Any]
) -> None:
    s = db_session
    city = s.get(User, people["city"]["id"])
    coordinator = s.get(User, people["coord_2"]["id"])
    assert city is not None and coordinator is not None
    cell = cell_ids(s, [CELLS["d1"]])[CELLS["d1"]]

    def reports_in(table: dict[str, Any]) -> int:
        return sum(r["kpis"]["reports_per_10k"]["numerator"] for r in table["rows"])

    def table(user: User, seconds: float, period: str = "2033-03") -> dict[str, Any]:
        return stats.kpi_table(
            s,
            user,
            level="township",
            within_code=None,
            period=parse_period(period),
            now=NOW,
            cache_seconds=seconds,
        )

    first = table(city, 60)
    add_report(s, cell, datetime(2033, 3, 3, tzinfo=UTC), people["officer_b"]["id"])
    s.flush()
    # Within its time the same question gets the same answer; without the cache, the new
    # report shows at once.
    assert table(city, 60) is first
    assert reports_in(table(city, 0)) == reports_in(first) + 1
    # Another scope, or another period, is computed afresh.
    assert reports_in(table(coordinator, 60)) == reports_in(table(coordinator, 0))
    assert table(coordinator, 60) is not first
    assert table(city, 60, "2033-02") is not first
    # Expired: computed again.
    stats._KPI_CACHE.put(stats._kpi_cache_key(s, city, "township", None, MARCH), first, -1)
    assert reports_in(table(city, 60)) == reports_in(first) + 1
