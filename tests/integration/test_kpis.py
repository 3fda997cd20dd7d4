"""The KPI table (考评) on a small hand-checked fixture: two townships, March 2031 against
February 2031, every number worked out below. Then the SQL counts against the per-report rules
of `fieldapp.kpi` on random cases (hypothesis)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update
from sqlalchemy.orm import Session

from fieldapp import kpi
from fieldapp.domain import CHINA_TZ
from fieldapp.models import Area, User
from fieldapp.services import rollups, stats
from fieldapp.stats import parse_period
from tests.integration.stats_support import CELLS, add_checkins, add_report, cell_ids
from tests.support import auth

pytestmark = pytest.mark.usefixtures("people")

NOW = datetime(2031, 4, 10, 12, tzinfo=CHINA_TZ)


def cn(month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(2031, month, day, hour, minute, tzinfo=CHINA_TZ)


@pytest.fixture
def fixture(db_session: Session, people: dict[str, Any]) -> dict[str, Any]:
    s = db_session
    officer_a, officer_b = people["officer_a"]["id"], people["officer_b"]["id"]
    # Only our two officers count for check-ins (others may exist from other tests).
    s.execute(
        update(User)
        .where(User.role == "officer", User.id.not_in([officer_a, officer_b]))
        .values(active=False)
    )
    s.execute(update(Area).where(Area.code == "991101001").values(population=20_000))
    cells = cell_ids(s, list(CELLS.values()))
    c1, c2, d1 = (cells[CELLS[k]] for k in ("c1", "c2", "d1"))
    on_time = {"accepted_at": cn(2, 1), "accepted_on_time": True}

    # --- township 1, February (the previous period) ---
    p1 = add_report(
        s,
        c1,
        cn(2, 20),
        officer_a,
        status="closed",
        **on_time,
        closed_on_time=True,
        outcome="resolved",
    )
    add_report(
        s,
        c2,
        cn(2, 25),
        officer_a,
        category="housing_land",
        status="closed",
        **on_time,
        closed_on_time=True,
        outcome="escalated",
    )
    # --- township 1, March ---
    # r1: all on time, resolved, 满意 (February's p1 at the same place is another period).
    add_report(
        s,
        c1,
        cn(3, 2),
        officer_a,
        status="closed",
        **on_time,
        closed_on_time=True,
        outcome="resolved",
        satisfaction="satisfied",
    )
    # r2: repeat (r1: same cell and category, same period); closed late, stabilised, 不满意.
    add_report(
        s,
        c1,
        cn(3, 10),
        officer_a,
        status="closed",
        **on_time,
        closed_on_time=False,
        outcome="stabilised",
        satisfaction="dissatisfied",
    )
    # r3: still waiting for acceptance, deadline 16 March passed: late for acceptance.
    add_report(
        s,
        c2,
        cn(3, 15),
        officer_a,
        category="housing_land",
        status="reported",
        step="acceptance",
        due_at=cn(3, 16),
    )
    # r4: repeat (r3); accepted late, handling overdue since 4 April: late.
    add_report(
        s,
        c2,
        cn(3, 20),
        officer_a,
        category="housing_land",
        status="in_progress",
        accepted_at=cn(3, 22),
        accepted_on_time=False,
        step="handling",
        due_at=cn(4, 4),
    )
    # r5: resolved on site straight from the report, on time, 基本满意.
    add_report(
        s,
        c2,
        cn(3, 25),
        officer_a,
        category="marriage_family",
        status="closed",
        closed_on_time=True,
        outcome="resolved",
        satisfaction="basically_satisfied",
    )
    # r6: merged into r1: counted nowhere, and not an earlier report at the place either.
    add_report(s, c1, cn(3, 28), officer_a, status="merged", merged_into_id=p1.id)
    # r7: 23:30 on 31 March Beijing time (15:30 UTC) is still March; repeat (r3, r4);
    # accepted on time, handling due 15 April: pending for closing.
    add_report(
        s,
        c2,
        cn(3, 31, 23, 30),
        officer_a,
        category="housing_land",
        status="accepted",
        **on_time,
        step="handling",
        due_at=cn(4, 15),
    )
    # r8: 00:30 on 1 April Beijing time (31 March 16:30 UTC) is April: not in March.
    add_report(s, c1, cn(4, 1, 0, 30), officer_a, status="reported", due_at=cn(4, 2))
    # r9: rejected: a report, but no acceptance or closing result.
    add_report(
        s, c1, cn(3, 5), officer_a, category="wages_labour", status="rejected", closed_at=cn(3, 6)
    )
    # --- township 2, March only ---
    add_report(
        s,
        d1,
        cn(3, 5),
        officer_b,
        status="closed",
        **on_time,
        closed_on_time=True,
        outcome="resolved",
        satisfaction="satisfied",
    )

    def days(month: int, n: int) -> list[date]:
        return [date(2031, month, 1) + timedelta(days=i) for i in range(n)]

    add_checkins(s, officer_a, days(2, 28) + days(3, 25))  # Feb 28/28, March 25/31
    add_checkins(s, officer_b, days(2, 14) + days(3, 31))  # Feb 14/28, March 31/31
    s.flush()
    return {"city": s.get(User, people["city"]["id"])}


def _row(table: dict[str, Any], code: str) -> dict[str, Any]:
    return next(r for r in table["rows"] if r["code"] == code)


def test_the_kpi_table_matches_the_hand_computed_numbers(
    app: Flask, db_session: Session, fixture: dict[str, Any]
) -> None:
    with app.test_request_context():
        table = stats.kpi_table(
            db_session,
            fixture["city"],
            level="township",
            within_code="991101",
            period=parse_period("2031-03"),
            now=NOW,
        )
    assert table["period"] == {
        "label": "2031-03",
        "kind": "month",
        "from": "2031-03-01",
        "to": "2031-03-31",
    }
    assert table["previous_period"]["label"] == "2031-02"
    t1, t2 = _row(table, "991101001"), _row(table, "991101002")
    k = t1["kpis"]
    # Reports in March, merged r6 and April's r8 left out: r1 r2 r3 r4 r5 r7 r9 = 7.
    # Acceptance: on time r1 r2 r5 r7 = 4; late r3 (overdue) r4 (late) = 2 → 4/6.
    assert k["acceptance_on_time"] == {"value": 0.6667, "numerator": 4, "denominator": 6}
    # Closing: on time r1 r5 = 2; late r2 (closed late) r4 (overdue) = 2 → 2/4.
    assert k["closed_on_time"] == {"value": 0.5, "numerator": 2, "denominator": 4}
    # Resolution: resolved r1 r5 = 2 of closed r1 r2 r5 = 3.
    assert k["resolution"] == {"value": 0.6667, "numerator": 2, "denominator": 3}
    # Satisfaction: 满意 r1 + 基本满意 r5 = 2 of rated r1 r2 r5 = 3.
    assert k["satisfaction"] == {"value": 0.6667, "numerator": 2, "denominator": 3}
    # Check-ins: 25 of 1 officer × 31 days.
    assert k["checkin_compliance"] == {"value": 0.8065, "numerator": 25, "denominator": 31}
    # Repeats: (c1, neighbours) r1 r2 → 1; (c2, housing_land) r3 r4 r7 → 2; others 0 → 3/7.
    assert k["repeat_place"] == {"value": 0.4286, "numerator": 3, "denominator": 7}
    # 7 reports / 20,000 residents × 10,000 = 3.5.
    assert k["reports_per_10k"] == {"value": 3.5, "numerator": 7, "denominator": 20000}
    # Score: .2×4/6 + .2×.5 + .2×2/3 + .15×2/3 + .15×25/31 + .1×(1 − 3/7)
    #      = .13333 + .1 + .13333 + .1 + .12097 + .05714 = .64478 → 64.48
    assert t1["score"] == 64.48
    # February: acceptance 2/2, closing 2/2, resolution 1/2 (escalated is not resolved),
    # satisfaction none rated (left out), check-ins 28/28, repeats 0/2:
    # (.2 + .2 + .1 + .15 + .1) / (.2 + .2 + .2 + .15 + .1) = .75 / .85 → 88.24
    assert t1["previous"]["score"] == 88.24
    assert t1["previous"]["kpis"]["satisfaction"]["value"] is None
    # Township 2: March all perfect → 100; February no report, only check-ins 14/28: no
    # data (无数据), no score and no rank, rather than 50 from the check-ins alone (issue #14).
    assert t2["score"] == 100.0 and t2["previous"]["score"] is None
    assert t2["previous"]["kpis"]["checkin_compliance"]["value"] == 0.5  # still shown
    assert t2["kpis"]["reports_per_10k"]["value"] is None  # no population known
    # Ranks: March T2 1st, T1 2nd; February T1 1st, T2 unranked.
    assert (t2["rank"], t1["rank"]) == (1, 2)
    assert (t1["previous"]["rank"], t2["previous"]["rank"]) == (1, None)
    assert t1["delta"]["rank_change"] == -1 and t2["delta"]["rank_change"] is None
    # 64.4777 − 88.2353 = −23.76; acceptance 0.6667 − 1 = −0.3333.
    assert t1["delta"]["score"] == -23.76
    assert t1["delta"]["kpis"]["acceptance_on_time"] == -0.3333
    assert [r["code"] for r in table["rows"]] == ["991101002", "991101001"]


def test_kpis_through_the_api(client: FlaskClient, people: dict[str, Any]) -> None:
    r = client.get("/api/v1/kpis?period=2031-03&level=county", headers=auth(people, "city"))
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["level"] == "county" and {row["code"] for row in body["rows"]} >= {"991101"}
    assert {k["key"] for k in body["kpis"]} == {k.key for k in kpi.KPIS}
    # A coordinator's table is their township only.
    r = client.get("/api/v1/kpis?period=2031-Q1", headers=auth(people, "coord_1"))
    assert [row["code"] for row in r.get_json()["rows"]] == ["991101001"]
    custom = client.get("/api/v1/kpis?from=2031-03-01&to=2031-03-10", headers=auth(people, "city"))
    assert custom.get_json()["previous_period"]["from"] == "2031-02-19"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("", "period"),
        ("period=2031-13", "period"),
        ("period=2031-03&level=village", "level"),
        ("period=2031-03&within=nope", "within"),
        ("from=2031-03-10&to=2031-03-01", "to"),
        ("from=yesterday&to=2031-03-01", "from"),
    ],
)
def test_bad_kpi_parameters_are_400_with_the_field(
    client: FlaskClient, people: dict[str, Any], query: str, field: str
) -> None:
    r = client.get(f"/api/v1/kpis?{query}", headers=auth(people, "city"))
    assert r.status_code == 400
    assert field in r.get_json()["error"]["fields"]


def test_officers_get_no_kpis_and_coordinators_not_other_townships(
    client: FlaskClient, people: dict[str, Any]
) -> None:
    r = client.get("/api/v1/kpis?period=2031-03", headers=auth(people, "officer_a"))
    assert r.status_code == 403
    r = client.get("/api/v1/kpis?period=2031-03&within=991101002", headers=auth(people, "coord_1"))
    assert r.status_code == 403 and r.get_json()["error"]["fields"]["within"]


# --- the SQL against the per-report rules --------------------------------------------------

STATUSES = [
    "reported",
    "accepted",
    "in_progress",
    "closing_requested",
    "closed",
    "rejected",
    "merged",
]
case_strategy = st.fixed_dictionaries(
    {
        "status": st.sampled_from(STATUSES),
        "accepted": st.booleans(),
        "accepted_on_time": st.booleans(),
        "closed_on_time": st.sampled_from([True, False, None]),
        "due_offset_h": st.one_of(st.none(), st.integers(-72, 72)),
        "step": st.sampled_from([None, "acceptance", "handling"]),
        "outcome": st.sampled_from([None, "resolved", "stabilised", "escalated"]),
        "satisfaction": st.sampled_from([None, "satisfied", "basically_satisfied", "dissatisfied"]),
    }
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(cases=st.lists(case_strategy, min_size=1, max_size=12))
def test_sql_counts_follow_the_per_report_rules(
    db_session: Session, people: dict[str, Any], cases: list[dict[str, Any]]
) -> None:
    s = db_session
    nested = s.begin_nested()
    try:
        city = s.get(User, people["city"]["id"])
        assert city is not None
        cell = cell_ids(s, [CELLS["d1"]])[CELLS["d1"]]
        now = datetime(2032, 6, 20, tzinfo=UTC)
        expected = {
            "accepted_on_time": 0,
            "acceptance_due": 0,
            "closed_on_time": 0,
            "closing_due": 0,
        }
        for i, c in enumerate(cases):
            due = (
                now + timedelta(hours=c["due_offset_h"]) if c["due_offset_h"] is not None else None
            )
            accepted_at = now - timedelta(days=1) if c["accepted"] else None
            add_report(
                s,
                cell,
                datetime(2032, 6, 1, tzinfo=UTC) + timedelta(hours=i),
                people["officer_b"]["id"],
                category="other",
                status=c["status"],
                accepted_at=accepted_at,
                accepted_on_time=c["accepted_on_time"] if c["accepted"] else None,
                closed_on_time=c["closed_on_time"],
                due_at=due,
                step=c["step"],
                outcome=c["outcome"],
                satisfaction=c["satisfaction"],
            )
            a = kpi.acceptance_result(
                c["status"],
                accepted_at,
                c["accepted_on_time"] if c["accepted"] else None,
                c["closed_on_time"],
                due,
                now,
            )
            b = kpi.closing_result(c["status"], c["step"], c["closed_on_time"], due, now)
            expected["accepted_on_time"] += a == "on_time"
            expected["acceptance_due"] += a is not None
            expected["closed_on_time"] += b == "on_time"
            expected["closing_due"] += b is not None
        s.flush()
        within = rollups.find_area(s, "991101002")
        [counted] = rollups.kpi_counts(s, city, "township", within, [parse_period("2032-06")], now)
        got = counted.get(within.id if within else 0, {})
        assert {k: got.get(k, 0) for k in expected} == expected
    finally:
        nested.rollback()
