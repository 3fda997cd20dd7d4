"""Triage figures (issue: case workflow):
- the triage queue (API and page) for a township with 5,000 open cases: server time p50/p99
  (target p50 ≤ 150 ms), next to a plain SELECT of one page of the same cases;
- the deadline sweep over 1,000,000 cases (target ≤ 10 s per sweep), the number of cases it
  touched (only those whose light changed), and a second sweep right after (touches nothing),
  next to a sequential scan of the same table.

Cases are made with one set-based INSERT … SELECT (fast and independent of the history
generator), spread over the demo city's cells."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from benchmarks.common import figure, percentile, throwaway_database

TOTAL_CASES = int(os.environ.get("BENCH_TRIAGE_CASES", 1_000_000))
QUEUE_CASES = 5_000
REQUESTS = 60

# Reports spread over every cell; due times around "now" so that the sweep has real work: a
# few percent turn yellow or red at the sweep time. Closed ones have no due time.
_MAKE_CASES = text(
    """
    INSERT INTO reports (id, officer_id, cell_id, village_id, township_id, county_id, geom,
        input_lon, input_lat, input_crs, outside_own_cells, occurred_at, reported_at, category,
        severity, people_involved, potential_group_incident, title, description, status,
        version, body_hash, owner_level, owner_area_id, step, step_started_at, due_at,
        notified_light, extension_days_granted, is_key_case)
    SELECT gen_random_uuid(), oc.user_id, c.id, c.village_id, c.township_id, c.county_id,
        ST_PointOnSurface(c.geom), 119.5, 35.4, 'wgs84', false,
        :now - (g % 365) * interval '1 day', :now - (g % 365) * interval '1 day',
        (ARRAY['neighbours','marriage_family','housing_land','wages_labour'])[1 + g % 4],
        (ARRAY['yellow','yellow','orange','red'])[1 + g % 4], 1 + g % 6, g % 6 >= 4,
        '示例案件 ' || g, '基准测试生成。',
        CASE WHEN g % 20 = 0 THEN 'in_progress' ELSE 'closed' END, 1, 'x', 'township',
        c.township_id,
        CASE WHEN g % 20 = 0 THEN 'handling' END,
        CASE WHEN g % 20 = 0 THEN :now - interval '10 days' END,
        CASE WHEN g % 20 = 0 THEN :now + ((g % 400) - 100) * interval '1 hour' END,
        'green', 0, false
    FROM generate_series(1, :n) AS g
    JOIN cells c ON c.id = 1 + (g % :cells)
    JOIN officer_cells oc ON oc.cell_id = c.id
    """
)


def main() -> None:
    from fieldapp import create_app
    from fieldapp.deadlines import DeadlinePolicy
    from fieldapp.demo.accounts import load_demo_city
    from fieldapp.models import User
    from fieldapp.services import accounts, sweep

    with throwaway_database("triage") as engine:
        url = engine.url.render_as_string(hide_password=False)
        app = create_app(
            {"DATABASE_URL": url, "CELERY_BROKER_URL": "memory://", "SECRET_KEY": "bench"}
        )
        now = datetime.now(UTC)
        with app.app_context(), Session(engine) as session, session.begin():
            load_demo_city(session, seed=1)
        with engine.begin() as conn:
            cells: int = conn.execute(text("SELECT count(*) FROM cells")).scalar_one()
            started = time.perf_counter()
            conn.execute(_MAKE_CASES, {"now": now, "n": TOTAL_CASES, "cells": cells})
            made_s = time.perf_counter() - started
        # One township gets 5,000 open cases of its own.
        with engine.begin() as conn:
            township: int = conn.execute(
                text("SELECT a.id FROM areas a WHERE a.level = 'township' ORDER BY a.code LIMIT 1")
            ).scalar_one()
            conn.execute(
                text(
                    "UPDATE reports SET status = 'reported', step = 'acceptance', "
                    "step_started_at = :now, due_at = :now + interval '1 day' "
                    "WHERE id IN (SELECT id FROM reports WHERE township_id = :t LIMIT :k)"
                ),
                {"now": now, "t": township, "k": QUEUE_CASES},
            )
            conn.execute(text("ANALYZE reports"))
            open_in_township: int = conn.execute(
                text("SELECT count(*) FROM reports WHERE township_id = :t AND status <> 'closed'"),
                {"t": township},
            ).scalar_one()

        with app.app_context(), Session(engine) as session, session.begin():
            coordinator = session.execute(
                select(User).where(User.role == "coordinator", User.area_id == township)
            ).scalar_one()
            token = accounts.issue_token(session, coordinator, "bench", now).token
            username = coordinator.username
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        api_ms = _timed(lambda: client.get("/api/v1/queue?per_page=50", headers=headers))
        baseline_ms = _timed_sql(engine, township)
        figure(
            "triage_queue_api",
            open_cases=open_in_township,
            requests=REQUESTS,
            p50_ms=round(percentile(api_ms, 50), 1),
            p99_ms=round(percentile(api_ms, 99), 1),
            baseline="plain SELECT of one page of the same open cases",
            baseline_p50_ms=round(percentile(baseline_ms, 50), 2),
            ratio=round(percentile(baseline_ms, 50) / percentile(api_ms, 50), 3),
            target="p50 <= 150 ms",
        )
        page_ms = _page_times(app, username)
        if page_ms:
            figure(
                "triage_queue_page",
                open_cases=open_in_township,
                requests=len(page_ms),
                p50_ms=round(percentile(page_ms, 50), 1),
                p99_ms=round(percentile(page_ms, 99), 1),
                target="p50 <= 150 ms",
            )

        policy = DeadlinePolicy(escalate_overdue_red=False)
        sweep_at = now + timedelta(hours=1)
        with app.app_context(), Session(engine) as session:
            started = time.perf_counter()
            first = sweep.sweep(session, now=sweep_at, policy=policy)
            session.commit()
            first_s = time.perf_counter() - started
            started = time.perf_counter()
            second = sweep.sweep(session, now=sweep_at, policy=policy)
            session.commit()
            second_s = time.perf_counter() - started
        with engine.connect() as conn:
            started = time.perf_counter()
            conn.execute(text("SELECT count(*) FROM reports WHERE notified_light = 'zzz'"))
            scan_s = time.perf_counter() - started
        figure(
            "deadline_sweep",
            cases=TOTAL_CASES,
            setup_seconds=round(made_s, 1),
            first_sweep_seconds=round(first_s, 2),
            touched=first.turned_red + first.turned_yellow,
            notified=first.notified,
            second_sweep_seconds=round(second_s, 3),
            second_touched=second.turned_red + second.turned_yellow,
            baseline="sequential scan of all cases",
            baseline_seconds=round(scan_s, 2),
            ratio=round(scan_s / first_s, 3),
            target="<= 10 s per sweep",
        )


def _timed(call: Any) -> list[float]:
    for _ in range(5):
        call()
    out = []
    for _ in range(REQUESTS):
        t = time.perf_counter()
        response = call()
        out.append((time.perf_counter() - t) * 1000)
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return out


def _timed_sql(engine: Any, township: int) -> list[float]:
    sql = text(
        "SELECT * FROM reports WHERE owner_area_id = :t AND status <> 'closed' "
        "ORDER BY due_at LIMIT 50"
    )
    out = []
    with engine.connect() as conn:
        for _ in range(REQUESTS):
            t = time.perf_counter()
            conn.execute(sql, {"t": township}).all()
            out.append((time.perf_counter() - t) * 1000)
    return out


def _page_times(app: Any, username: str) -> list[float]:
    """The coordinator's queue page, if the web UI is installed (signed in via the form)."""
    if "triage.index" not in app.view_functions:
        return []
    import re

    from fieldapp.demo.accounts import DEMO_PASSWORD

    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    client.post(
        "/login",
        data={"username": username, "password": DEMO_PASSWORD, "csrf_token": token.group(1)},
    )
    return _timed(lambda: client.get("/triage/"))


if __name__ == "__main__":
    main()
