"""Loading a report history into PostGIS with COPY (fieldapp.demo.history), inside the
test's transaction (rolled back): counts, cell chains, points in cells, foreign keys, case
events, check-ins, the refusal of a second load and --append. The small city has officers in
three cells only (the `people` fixture); the other cells get no reports."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from fieldapp.demo import history as H
from fieldapp.demo.accounts import ensure_department_handlers
from fieldapp.domain import CHINA_TZ

pytestmark = pytest.mark.usefixtures("small_city_loaded")

NOW = datetime(2026, 11, 10, 8, 0, tzinfo=UTC)
END = date(2026, 10, 31)
OWN_CELLS = {"991101001001001", "991101001001002", "991101002001001"}


@pytest.fixture
def session(db_session: Session) -> Session:
    """The test's session, with no reports or check-ins: rows other tests committed are
    deleted inside this test's transaction (rolled back at the end), so nothing is lost."""
    db_session.execute(text("DELETE FROM reports"))
    db_session.execute(text("DELETE FROM checkins"))
    return db_session


def _load(session: Session, lines: list[str], **overrides: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "reports": 2_000,
        "days": 60,
        "seed": 5,
        "end_date": END,
        "now": NOW,
        "clusters": [H.ClusterSpec("991101001001001", date(2026, 10, 20), 5, 4.0, 1)],
        "progress": lines.append,
        **overrides,
    }
    return H.load_history(session, **options)


def _scalar(session: Session, sql: str, **params: Any) -> Any:
    return session.execute(text(sql), params).scalar_one()


@pytest.mark.parametrize("fast_foreign_keys", [True, False])
def test_load_a_history(
    session: Session, people: dict[str, dict[str, object]], fast_foreign_keys: bool
) -> None:
    lines: list[str] = []
    summary = _load(session, lines, fast_foreign_keys=fast_foreign_keys)
    s = session
    assert 1_800 < summary["reports"] < 2_200
    superuser = _scalar(s, "SELECT current_setting('is_superuser') = 'on'")
    assert summary["fast_foreign_keys"] is (fast_foreign_keys and superuser)
    assert _scalar(s, "SHOW session_replication_role") == "origin"  # triggers back on
    assert _scalar(s, "SELECT count(*) FROM reports") == summary["reports"]
    assert _scalar(s, "SELECT count(*) FROM case_events") == summary["events"]
    assert _scalar(s, "SELECT count(*) FROM checkins") == summary["checkins"] > 0
    by_status: dict[str, int] = dict(
        s.execute(text("SELECT status, count(*) FROM reports GROUP BY 1")).all()
    )
    assert by_status == summary["by_status"]
    assert any("rows/s" in line for line in lines)
    assert any(line.startswith("done:") for line in lines)
    (cluster,) = summary["clusters"]
    assert cluster["reports"] > 0 and cluster["cells"][0] == "991101001001001"
    assert set(cluster["cells"]) <= OWN_CELLS

    # Only cells with an officer, each report by that cell's officer, the chain of the cell.
    cells: set[str] = set(
        s.execute(text("SELECT DISTINCT c.code FROM reports r JOIN cells c ON c.id = r.cell_id"))
        .scalars()
        .all()
    )
    assert cells == OWN_CELLS
    assert not _scalar(
        s,
        """SELECT count(*) FROM reports r JOIN cells c ON c.id = r.cell_id
           WHERE (r.village_id, r.township_id, r.county_id)
                 IS DISTINCT FROM (c.village_id, c.township_id, c.county_id)
              OR NOT ST_Contains(c.geom, r.geom)
              OR r.input_lon <> ST_X(r.geom) OR r.input_lat <> ST_Y(r.geom)
              OR NOT EXISTS (SELECT 1 FROM officer_cells oc
                             WHERE oc.cell_id = r.cell_id AND oc.user_id = r.officer_id)""",
    )
    # reports.prev_place_at: computed by the loader (triggers off) or by the triggers (on),
    # either way what its definition gives; merged duplicates are many here, and repeats too.
    assert not _scalar(
        s,
        """SELECT count(*) FROM reports r LEFT JOIN (
             SELECT id, lag(reported_at) OVER (
               PARTITION BY cell_id, category ORDER BY reported_at, id) AS prev
             FROM reports WHERE status <> 'merged') w ON w.id = r.id
           WHERE r.prev_place_at IS DISTINCT FROM w.prev""",
    )
    assert _scalar(s, "SELECT count(*) FROM reports WHERE prev_place_at IS NOT NULL") > 100
    # reports.case_number: given by the loader, consecutive per county and year in the order
    # received (reports stored before the load, e.g. by browser tests, keep theirs), unique.
    assert not _scalar(
        s,
        "SELECT count(*) FROM reports WHERE case_number !~ '^测试-[0-9]{4}-[0-9]{6}$'",
    )
    assert _scalar(
        s,
        """SELECT count(DISTINCT (prefix, year, number - n)) = count(DISTINCT (prefix, year))
           FROM (SELECT split_part(case_number, '-', 1) AS prefix,
                        split_part(case_number, '-', 2) AS year,
                        split_part(case_number, '-', 3)::int AS number,
                        row_number() OVER (
                          PARTITION BY split_part(case_number, '-', 1),
                                       split_part(case_number, '-', 2)
                          ORDER BY reported_at, id) AS n
                 FROM reports WHERE description LIKE '【示例】%') x""",
    )
    assert not _scalar(
        s,
        """SELECT count(*) FROM case_number_counters c WHERE c.last_number < (
             SELECT max(split_part(case_number, '-', 3)::int) FROM reports
             WHERE split_part(case_number, '-', 1) = c.prefix
               AND split_part(case_number, '-', 2)::int = c.year)""",
    )
    assert by_status.get("merged", 0) > 0
    # checkin_months: recounted by the loader (triggers off) or kept by the triggers (on);
    # months whose check-ins were all deleted (this test's set-up) keep a row of 0.
    assert not _scalar(
        s,
        """SELECT count(*) FROM (
             SELECT officer_id, date_trunc('month', day)::date AS month, count(*) AS days
             FROM checkins GROUP BY 1, 2) counted
           FULL JOIN checkin_months stored USING (officer_id, month)
           WHERE counted.days IS DISTINCT FROM nullif(stored.days, 0)""",
    )
    cells_of_a = "SELECT count(DISTINCT cell_id) FROM reports WHERE officer_id = :a"
    assert _scalar(s, cells_of_a, a=people["officer_a"]["id"]) == 2

    # Foreign keys hold (they were checked set-wise, not per row, in the fast mode).
    for sql in (
        "SELECT count(*) FROM case_events e LEFT JOIN reports r ON r.id = e.report_id "
        "WHERE r.id IS NULL",
        "SELECT count(*) FROM case_events e LEFT JOIN users u ON u.id = e.actor_id "
        "WHERE e.actor_id IS NOT NULL AND u.id IS NULL",
        "SELECT count(*) FROM reports r LEFT JOIN reports t ON t.id = r.merged_into_id "
        "WHERE r.merged_into_id IS NOT NULL AND t.id IS NULL",
        "SELECT count(*) FROM reports r LEFT JOIN departments d ON d.id = r.department_id "
        "WHERE r.department_id IS NOT NULL AND d.id IS NULL",
        "SELECT count(*) FROM checkins c LEFT JOIN users u ON u.id = c.officer_id "
        "WHERE u.id IS NULL",
    ):
        assert _scalar(s, sql) == 0, sql

    # Every case's record starts from 'reported'; the version counts its transitions.
    assert not _scalar(
        s,
        """SELECT count(*) FROM (
             SELECT DISTINCT ON (report_id) report_id, from_status FROM case_events
             ORDER BY report_id, at, id) first WHERE from_status <> 'reported'""",
    )
    assert not _scalar(
        s,
        """SELECT count(*) FROM reports r WHERE r.version <> 1 + (
             SELECT count(*) FROM case_events e
             WHERE e.report_id = r.id AND e.action <> 'merged_in')""",
    )
    # Owners act as owners, handlers as handlers.
    roles: dict[str, list[str]] = dict(
        s.execute(
            text(
                "SELECT e.action, array_agg(DISTINCT u.role) FROM case_events e "
                "JOIN users u ON u.id = e.actor_id GROUP BY e.action"
            )
        ).all()
    )
    assert set(roles["accept"]) <= {"coordinator", "county"}
    assert roles["sign_for"] == ["department"]
    assert not _scalar(
        s,
        """SELECT count(*) FROM case_events e JOIN reports r ON r.id = e.report_id
           JOIN users u ON u.id = e.actor_id
           WHERE e.action = 'accept' AND u.role = 'coordinator'
             AND u.area_id <> r.township_id""",
    )

    # Check-ins: one per officer and day, counting that officer's reports of that day.
    assert not _scalar(
        s,
        "SELECT count(*) FROM (SELECT 1 FROM checkins GROUP BY officer_id, day "
        "HAVING count(*) > 1) d",
    )
    assert not _scalar(
        s,
        """SELECT count(*) FROM checkins c
           WHERE c.count <> (SELECT count(*) FROM reports r WHERE r.officer_id = c.officer_id
                  AND (r.reported_at AT TIME ZONE 'Asia/Shanghai')::date = c.day)
              OR c.nothing_to_report <> (c.count = 0)""",
    )
    officers = _scalar(s, "SELECT count(DISTINCT officer_id) FROM checkins")
    assert officers == 2  # t_officer_a and t_officer_b


# A month before the midnight after END, China time: key cases are filed before it.
KEY_CUTOFF = datetime(2026, 11, 1, tzinfo=CHINA_TZ) - timedelta(days=30)


def test_key_backlog_cases_are_flagged_with_leader_target_and_event(session: Session) -> None:
    """About one in a hundred serious reports (red or a potential group incident) filed a
    month or more before the history's end is a key case (重点积案), with its leader, a
    target date 90 days after the report and a key_case event on its record."""
    summary = _load(session, [], reports=30_000, days=120, clusters=[])
    flagged = session.execute(
        text(
            "SELECT r.severity, r.potential_group_incident, r.status, r.key_leader, "
            "r.key_target_date - (r.reported_at AT TIME ZONE 'Asia/Shanghai')::date, "
            "r.reported_at < :cutoff, "
            "(SELECT count(*) FROM case_events e WHERE e.report_id = r.id "
            " AND e.action = 'key_case' AND e.data->'after'->>'leader' = r.key_leader) "
            "FROM reports r WHERE r.is_key_case"
        ),
        {"cutoff": KEY_CUTOFF},
    ).all()
    serious = _scalar(
        session,
        "SELECT count(*) FROM reports WHERE (severity = 'red' OR potential_group_incident) "
        "AND status NOT IN ('merged', 'rejected') AND reported_at < :cutoff",
        cutoff=KEY_CUTOFF,
    )
    assert summary["key_cases"] == len(flagged)
    assert 0.004 * serious < len(flagged) < 0.02 * serious  # about 1 %
    for severity, group, status, leader, days, old_enough, events in flagged:
        assert severity == "red" or group
        assert status not in ("merged", "rejected")
        assert leader and days == 90 and old_enough and events == 1


def test_a_second_load_is_refused_unless_appending(
    session: Session, people: dict[str, dict[str, object]]
) -> None:
    lines: list[str] = []
    first = _load(session, lines, reports=500)
    with pytest.raises(H.HistoryExists, match="--append"):
        _load(session, lines, reports=500)
    assert _scalar(session, "SELECT count(*) FROM reports") == first["reports"]

    checkins_before = _scalar(session, "SELECT sum(count) FROM checkins")
    second = _load(session, lines, reports=500, append=True)  # same seed: same rows, new ids
    total = first["reports"] + second["reports"]
    assert _scalar(session, "SELECT count(DISTINCT id) FROM reports") == total
    assert _scalar(session, "SELECT count(*) FROM case_events") == (
        first["events"] + second["events"]
    )
    # Check-ins for the same days were added to, not duplicated.
    assert not _scalar(
        session,
        "SELECT count(*) FROM (SELECT 1 FROM checkins GROUP BY officer_id, day "
        "HAVING count(*) > 1) d",
    )
    assert _scalar(session, "SELECT sum(count) FROM checkins") > checkins_before
    assert not _scalar(
        session, "SELECT count(*) FROM checkins WHERE nothing_to_report <> (count = 0)"
    )


def test_an_end_date_in_the_future_is_refused(db_session: Session) -> None:
    with pytest.raises(H.HistoryError, match="end-date"):
        H.load_history(db_session, reports=10, end_date=date(2026, 11, 10), now=NOW)


def test_department_handlers_are_created_once(db_session: Session) -> None:
    s = db_session
    s.execute(
        text(
            "INSERT INTO departments (code, name, level, area_id) "
            "SELECT '991101-D99', '测试区信访局', 'county', id FROM areas WHERE code = '991101'"
        )
    )
    handlers = ensure_department_handlers(s)
    department = _scalar(s, "SELECT id FROM departments WHERE code = '991101-D99'")
    user = s.execute(
        text("SELECT username, role, department_id, password_hash FROM users WHERE id = :id"),
        {"id": handlers[department]},
    ).one()
    assert user[:3] == ("dept_991101-D99", "department", department)
    assert user[3].startswith("$argon2")
    assert ensure_department_handlers(s) == handlers


def test_save_clusters(tmp_path: Path) -> None:
    path = tmp_path / "history_clusters.json"
    H.save_clusters(path, [{"cell": "a"}], append=False)
    H.save_clusters(path, [{"cell": "b"}], append=True)
    assert [c["cell"] for c in json.loads(path.read_text("utf-8"))] == ["a", "b"]
    H.save_clusters(path, [], append=False)
    assert path.read_text("utf-8").strip() == "[]"
