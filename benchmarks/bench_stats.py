"""Statistics figures (issue #5): through the API, as the dashboards call it (city staff,
bearer token), p50 of
- the roll-up townships × category for a 30-day window at 1,000,000 reports (target ≤ 50 ms),
  next to a plain `SELECT township_id, category, count(*) … GROUP BY` over the same rows in
  the same run;
- the KPI table of all townships for one month at 1,000,000 reports (target ≤ 200 ms),
  computed on every request (cache off) and as served (with the few-seconds KPI cache),
  next to a plain `SELECT township_id, count(*) … GROUP BY` for the month;
- the same roll-up at 10,000,000 reports, and a 365-day roll-up (a million rows in the
  window), each next to its plain GROUP BY.

The 1,000,000 reports (with cases, events and check-ins) come from the history generator
(`fieldapp.demo.history.load_history`). The 10,000,000 are NOT generated (too slow here): the
1,000,000 rows are copied nine times with INSERT … SELECT, each copy with new ids and all its
times moved back by k × 365 days (k = 1…9), i.e. ten years at the same rate; the non-key
indexes are dropped for the copy and rebuilt after it, then VACUUM ANALYZE.

Each figure carries the machine's 1-minute load average: on a shared machine the times move
with it. Knobs: BENCH_STATS_ROWS (default 1,000,000), BENCH_STATS_COPIES (default 9; 0 skips the
10 M part), BENCH_STATS_REQUESTS (default 40)."""

from __future__ import annotations

import os
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from benchmarks.common import figure, percentile, throwaway_database
from fieldapp.domain import CHINA_TZ
from fieldapp.stats import day_start

ROWS = int(os.environ.get("BENCH_STATS_ROWS", 1_000_000))
COPIES = int(os.environ.get("BENCH_STATS_COPIES", 9))
REQUESTS = int(os.environ.get("BENCH_STATS_REQUESTS", 40))

_BASELINE = text(
    "SELECT township_id, category, count(*) FROM reports "
    "WHERE reported_at >= :a AND reported_at < :b AND status <> 'merged' "
    "GROUP BY township_id, category"
)


def _say(message: str) -> None:
    print(f"  … {message}", flush=True)


def _timed(call: Any, n: int = REQUESTS) -> list[float]:
    for _ in range(3):
        call()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        response = call()
        out.append((time.perf_counter() - t) * 1000)
        status = getattr(response, "status_code", 200)
        assert status == 200, response.get_data(as_text=True)[:300]
    return out


def _baseline(engine: Engine, first: date, last: date) -> list[float]:
    params = {"a": day_start(first), "b": day_start(last + timedelta(days=1))}
    with engine.connect() as conn:
        return _timed(lambda: conn.execute(_BASELINE, params).all())


def _rollup_figure(
    name: str,
    client: Any,
    headers: dict[str, str],
    engine: Engine,
    first: date,
    last: date,
    reports: int,
    note: str,
    target: str = "figure (no target)",
) -> None:
    url = f"/api/v1/rollups?level=township&by=category&from={first}&to={last}"
    api = _timed(lambda: client.get(url, headers=headers))
    body = client.get(url, headers=headers).get_json()
    base = _baseline(engine, first, last)
    figure(
        name,
        reports=reports,
        window_days=(last - first).days + 1,
        rows_in_window=body["totals"]["total"],
        townships=len(body["rows"]),
        requests=len(api),
        p50_ms=round(percentile(api, 50), 1),
        p99_ms=round(percentile(api, 99), 1),
        baseline="plain SELECT township_id, category, count(*) … GROUP BY, same rows",
        baseline_p50_ms=round(percentile(base, 50), 1),
        ratio=round(percentile(base, 50) / percentile(api, 50), 3),
        data=note,
        target=target,
        load_average_1m=round(os.getloadavg()[0], 2),
    )


def _replicate(engine: Engine, copies: int) -> float:
    """Copy every report `copies` times, each copy k years earlier with new ids."""
    started = time.perf_counter()
    with engine.begin() as conn:
        columns = [
            r[0]
            for r in conn.execute(
                text(
                    # Generated columns (kpi_code) are computed by PostgreSQL, not copied.
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_name = 'reports' AND is_generated = 'NEVER' "
                    "ORDER BY ordinal_position"
                )
            )
        ]
        shifted = {
            "occurred_at",
            "reported_at",
            "accepted_at",
            "closed_at",
            "due_at",
            "step_started_at",
            # Shifted with its report. Exact within each copy's year; a place's first report
            # of a year keeps NULL instead of the previous year's last (no period the
            # benchmarks ask for spans two copies).
            "prev_place_at",
        }
        select_list = ", ".join(
            "gen_random_uuid()"
            if c == "id"
            else "NULL"
            if c == "merged_into_id"
            else f"{c} - k * interval '365 days'"
            if c in shifted
            else c
            for c in columns
        )
        indexes = conn.execute(
            text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'reports' "
                "AND indexname <> 'pk_reports'"
            )
        ).all()
        for name, _definition in indexes:
            conn.execute(text(f'DROP INDEX "{name}"'))
        # Benchmark data copied from rows that already passed every check: skip the
        # per-row foreign-key triggers (superuser on the private cluster).
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(
            text(
                f"INSERT INTO reports ({', '.join(columns)}) "
                f"SELECT {select_list} FROM reports "
                "CROSS JOIN generate_series(1, :copies) AS k"
            ),
            {"copies": copies},
        )
        conn.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
        for _name, definition in indexes:
            conn.execute(text(str(definition)))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE reports"))
    return time.perf_counter() - started


def main() -> None:
    from fieldapp import create_app
    from fieldapp.demo import history
    from fieldapp.demo.accounts import load_demo_city
    from fieldapp.models import User
    from fieldapp.services import accounts

    with throwaway_database("stats") as engine:
        url = engine.url.render_as_string(hide_password=False)
        app = create_app(
            {"DATABASE_URL": url, "CELERY_BROKER_URL": "memory://", "SECRET_KEY": "bench"}
        )
        now = datetime.now(UTC)
        with app.app_context():
            with Session(engine) as session, session.begin():
                load_demo_city(session, seed=1)
            started = time.perf_counter()
            with Session(engine) as session, session.begin():
                summary = history.load_history(
                    session,
                    reports=ROWS,
                    seed=1,
                    policy=app.config["DEADLINE_POLICY"],
                    progress=_say,
                )
            load_s = time.perf_counter() - started
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE reports"))
            conn.execute(text("VACUUM ANALYZE checkins"))
            reports: int = conn.execute(text("SELECT count(*) FROM reports")).scalar_one()
        _say(f"{reports:,} reports loaded in {load_s:.0f} s")

        with Session(engine) as session, session.begin():
            city = session.execute(select(User).where(User.role == "city")).scalars().first()
            assert city is not None
            token = accounts.issue_token(session, city, "bench", now).token
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}

        last = date.fromisoformat(summary["period"]["to"])
        first = last - timedelta(days=29)
        _rollup_figure(
            "stats_rollup_township_category_30d",
            client,
            headers,
            engine,
            first,
            last,
            reports,
            f"{reports:,} reports from fieldapp.demo.history.load_history ({load_s:.0f} s)",
            target="p50 <= 50 ms at 1,000,000",
        )

        today = now.astimezone(CHINA_TZ).date()
        month_end = today.replace(day=1) - timedelta(days=1)
        period = f"{month_end.year}-{month_end.month:02d}"
        kpi_url = f"/api/v1/kpis?level=township&period={period}"
        # Computed on every request (the cache off), then as served (a table computed in the
        # last KPI_CACHE_SECONDS for the same scope and period is answered from memory).
        cache_seconds = app.config["KPI_CACHE_SECONDS"]
        app.config["KPI_CACHE_SECONDS"] = 0
        kpi_ms = _timed(lambda: client.get(kpi_url, headers=headers))
        app.config["KPI_CACHE_SECONDS"] = cache_seconds
        cached_ms = _timed(lambda: client.get(kpi_url, headers=headers))
        table = client.get(kpi_url, headers=headers).get_json()
        scored = sum(1 for r in table["rows"] if r["score"] is not None)
        with engine.connect() as conn:
            month_start = month_end.replace(day=1)
            base = _timed(
                lambda: conn.execute(
                    text(
                        "SELECT township_id, count(*) FROM reports WHERE reported_at >= :a "
                        "AND reported_at < :b GROUP BY township_id"
                    ),
                    {"a": day_start(month_start), "b": day_start(month_end + timedelta(days=1))},
                ).all()
            )
        for name, times, note in (
            ("stats_kpi_table_townships_month", kpi_ms, "computed on every request (no cache)"),
            (
                "stats_kpi_table_townships_month_cached",
                cached_ms,
                f"as served: KPI_CACHE_SECONDS={cache_seconds:g} (same scope and period)",
            ),
        ):
            figure(
                name,
                reports=reports,
                period=period,
                townships=len(table["rows"]),
                scored=scored,
                requests=len(times),
                p50_ms=round(percentile(times, 50), 1),
                p99_ms=round(percentile(times, 99), 1),
                baseline="plain SELECT township_id, count(*) … GROUP BY for the month",
                baseline_p50_ms=round(percentile(base, 50), 1),
                ratio=round(percentile(base, 50) / percentile(times, 50), 3),
                mode=note,
                target="p50 <= 200 ms at 1,000,000",
                load_average_1m=round(os.getloadavg()[0], 2),
            )

        if COPIES <= 0:
            return
        _say(f"copying the reports {COPIES} times (k years earlier each)")
        copy_s = _replicate(engine, COPIES)
        with engine.connect() as conn:
            big: int = conn.execute(text("SELECT count(*) FROM reports")).scalar_one()
        note = (
            f"{big:,} reports: the {reports:,} generated ones plus {COPIES} INSERT…SELECT copies "
            f"with new ids, times shifted back k×365 days (ten years at the same rate; "
            f"copy + index rebuild + VACUUM ANALYZE {copy_s:.0f} s), not generated"
        )
        _rollup_figure(
            "stats_rollup_township_category_30d_10M",
            client,
            headers,
            engine,
            first,
            last,
            big,
            note,
        )
        _rollup_figure(
            "stats_rollup_township_category_365d_10M",
            client,
            headers,
            engine,
            last - timedelta(days=364),
            last,
            big,
            note,
        )


if __name__ == "__main__":
    main()
