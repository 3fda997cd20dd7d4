"""A province's table sizes (issue #16: size a province from figures at 10 M reports).

One throwaway database, one run, two sizes:

1. **The demo city's year** (the baseline): the demo city (4,586 officers, 56 townships) with
   the history generator's year of ~250,000 reports, their case events and check-ins.
2. **A province's volume** (default 10,000,000 reports, `BENCH_PROVINCE_REPORTS`): the same
   year's reports and case events copied in the database (INSERT … SELECT, new ids, the
   non-key indexes dropped around the copy and rebuilt after it, as a bulk load would), then
   VACUUM ANALYZE. Copy k goes `k // STACK` years back, so the newest year holds STACK = 17
   times the city's reports (80,000 officers / 4,586 ≈ 17.4 cities' worth: 4.4 M reports a
   year), the next year as many, and so on until the target: about 2.3 province-years.

Why copies in one city's geography rather than 40 years of one city or 40 new cities: what a
province's database must survive is a province's rows *in its windows* (the 30-day map layer,
the month's KPIs, the year's roll-up), not just a long table. 40 years of one city would keep
every window at one city's size and only measure a longer table; new geographies would need 16
sets of cells for no difference the queries see (they group by township / cell ids). Stacked
copies put a province's rows in every window. The catch, said in every figure: per-township
views (the coordinator's queue) then see 17 times a real township's cases a year and 40 times its
open cases (a copy's open cases stay open), a pessimistic bound;
and check-ins are not copied (their size per row is printed, the docs multiply it out).

Measured at both sizes, each figure with the 10 M / 250 k ratio: intake over HTTP (gunicorn,
wrk, 16 clients) rate and p50/p99; the roll-up (30 and 365 days), the KPI table for a month
(computed, no cache), the city dashboard page, the map layer of 30 days (per cell and
choropleth), the coordinator's queue; a CSV export of the last 30 days of cases (the worker's
code in a child process); table and index sizes; VACUUM and ANALYZE times.

Knobs: BENCH_PROVINCE_REPORTS (target, default 10,000,000), BENCH_PROVINCE_SECONDS (intake run,
default 10), BENCH_PROVINCE_REQUESTS (per query figure, default 15), BENCH_PROVINCE_EVENTS
(0: copy only reports, not their case events)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from benchmarks.common import (
    REPO,
    figure,
    free_port,
    officers_at_cells,
    percentile,
    start_gunicorn,
    throwaway_database,
    wait_ready,
)
from fieldapp.demo import accounts as demo_accounts
from fieldapp.demo import load as demo_load

TARGET = int(os.environ.get("BENCH_PROVINCE_REPORTS", 10_000_000))
INTAKE_S = float(os.environ.get("BENCH_PROVINCE_SECONDS", 10))
REQUESTS = int(os.environ.get("BENCH_PROVINCE_REQUESTS", 15))
COPY_EVENTS = os.environ.get("BENCH_PROVINCE_EVENTS", "1") != "0"
STACK = 17
"""Copies of the city's year per province-year: 80,000 officers / 4,586 ≈ 17.4."""
INTAKE_CLIENTS = 16


def _say(message: str) -> None:
    print(f"  … {message}", file=sys.stderr, flush=True)


# --- loading ---------------------------------------------------------------------------------


def _columns(conn: Any, table: str, skip: set[str]) -> list[str]:
    rows = conn.execute(
        text(
            # Generated and identity columns are PostgreSQL's to fill, not copied.
            "SELECT column_name FROM information_schema.columns WHERE table_name = :t "
            "AND is_generated = 'NEVER' AND is_identity = 'NO' "
            "AND column_default IS DISTINCT FROM ('nextval(''' || :t || '_id_seq''::regclass)') "
            "ORDER BY ordinal_position"
        ),
        {"t": table},
    )
    return [r[0] for r in rows if r[0] not in skip]


_REPORT_TIMES = {
    "occurred_at",
    "reported_at",
    "accepted_at",
    "closed_at",
    "due_at",
    "step_started_at",
    "prev_place_at",
    "key_target_date",
}


def _copy_id(column: str) -> str:
    # The copy's id of a report, computable from the event side too: md5 of (id, k) as a uuid.
    return f"md5({column}::text || '/' || k)::uuid"


def scale_up(engine: Engine, copies: int) -> dict[str, float]:
    """Copy the reports (and their case events) `copies` times in the database; copy k is
    k // STACK years earlier. Non-key indexes dropped around the INSERT and rebuilt after
    it, per-row FK triggers off (rows copied from rows that passed every check). Returns the
    seconds of each phase."""
    seconds: dict[str, float] = {}
    tables = ["reports", *(["case_events"] if COPY_EVENTS else [])]
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
        dropped: list[tuple[str, str]] = []
        for table in tables:
            for name, definition in conn.execute(
                text(
                    "SELECT i.indexname, i.indexdef FROM pg_indexes i "
                    "JOIN pg_class c ON c.relname = i.indexname "
                    "JOIN pg_index x ON x.indexrelid = c.oid "
                    "WHERE i.tablename = :t AND NOT x.indisprimary"
                ),
                {"t": table},
            ).all():
                # Unique indexes back constraints: those stay (and are checked row by row).
                constraint = conn.execute(
                    text("SELECT 1 FROM pg_constraint WHERE conname = :n"), {"n": name}
                ).first()
                if constraint is None:
                    conn.execute(text(f'DROP INDEX "{name}"'))
                    dropped.append((str(name), str(definition)))
        started = time.perf_counter()
        report_cols = _columns(conn, "reports", set())
        shift = "((k / :stack) * interval '365 days')"

        def value(c: str) -> str:
            if c == "id":
                return _copy_id("id")
            if c == "merged_into_id":
                return f"CASE WHEN merged_into_id IS NULL THEN NULL ELSE {_copy_id(c)} END"
            if c == "case_number":
                # Numbers are per county and year; a copy's own suffix keeps them apart.
                return "case_number || '-' || k"
            if c in _REPORT_TIMES:
                return f"{c} - {shift}"
            return c

        conn.execute(
            text(
                f"INSERT INTO reports ({', '.join(report_cols)}) "
                f"SELECT {', '.join(value(c) for c in report_cols)} FROM reports "
                "CROSS JOIN generate_series(1, :copies) AS k"
            ),
            {"copies": copies, "stack": STACK},
        )
        seconds["reports_insert_s"] = time.perf_counter() - started
        _say(f"reports copied {copies}× in {seconds['reports_insert_s']:.0f} s")
        if COPY_EVENTS:
            started = time.perf_counter()
            event_cols = _columns(conn, "case_events", {"id"})

            def event_value(c: str) -> str:
                if c == "report_id":
                    return _copy_id(c)
                if c == "at":
                    return f"at - {shift}"
                return c

            conn.execute(
                text(
                    f"INSERT INTO case_events ({', '.join(event_cols)}) "
                    f"SELECT {', '.join(event_value(c) for c in event_cols)} FROM case_events "
                    "CROSS JOIN generate_series(1, :copies) AS k"
                ),
                {"copies": copies, "stack": STACK},
            )
            seconds["events_insert_s"] = time.perf_counter() - started
            _say(f"case events copied in {seconds['events_insert_s']:.0f} s")
        started = time.perf_counter()
        for _name, definition in dropped:
            conn.execute(text(str(definition)))
        seconds["index_rebuild_s"] = time.perf_counter() - started
        _say(f"{len(dropped)} indexes rebuilt in {seconds['index_rebuild_s']:.0f} s")
    return seconds


def maintenance(engine: Engine) -> dict[str, float]:
    """VACUUM ANALYZE after the load (the expensive first one: every page's visibility), then a
    plain ANALYZE and a second VACUUM (nothing to do: what autovacuum costs a quiet table)."""
    out: dict[str, float] = {}
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for key, sql in (
            ("vacuum_analyze_first_s", "VACUUM ANALYZE reports, case_events, checkins"),
            ("analyze_s", "ANALYZE reports, case_events, checkins"),
            ("vacuum_again_s", "VACUUM reports, case_events, checkins"),
        ):
            started = time.perf_counter()
            conn.execute(text(sql))
            out[key] = time.perf_counter() - started
    return out


def sizes(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        out: dict[str, Any] = {}
        for table in ("reports", "case_events", "checkins", "audit_log", "outbox"):
            row = conn.execute(
                text(
                    "SELECT pg_table_size(c.oid), pg_indexes_size(c.oid), "
                    "(SELECT count(*) FROM pg_index WHERE indrelid = c.oid) "
                    "FROM pg_class c WHERE c.relname = :t AND c.relkind = 'r'"
                ),
                {"t": table},
            ).first()
            if row is None:
                continue
            rows: int = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            out[table] = {
                "rows": rows,
                "table_mb": round(row[0] / 2**20, 1),
                "indexes_mb": round(row[1] / 2**20, 1),
                "indexes": row[2],
                "bytes_per_row": round((row[0] + row[1]) / rows) if rows else None,
            }
        out["database_mb"] = round(
            conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one() / 2**20
        )
        return out


# --- measuring -------------------------------------------------------------------------------


def _timed(call: Callable[[], Any], n: int = REQUESTS) -> list[float]:
    for _ in range(2):
        call()
    out = []
    for _ in range(n):
        started = time.perf_counter()
        response = call()
        out.append((time.perf_counter() - started) * 1000)
        status = getattr(response, "status_code", 200)
        assert status == 200, (status, response.get_data(as_text=True)[:300])
    return out


def _p(times: list[float]) -> dict[str, float]:
    return {"p50_ms": round(percentile(times, 50), 1), "p99_ms": round(percentile(times, 99), 1)}


def _signed_in(app: Any, username: str, password: str) -> Any:
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token, "no login form"
    client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token.group(1)}
    )
    return client


def queries(app: Any, ctx: dict[str, Any]) -> dict[str, dict[str, float]]:
    """p50/p99 of the read side as the pages and the API call it (in-process test client:
    no HTTP, so the figures are the app's and the database's time)."""
    client = app.test_client()
    city = {"Authorization": f"Bearer {ctx['city_token']}"}
    coordinator = {"Authorization": f"Bearer {ctx['coordinator_token']}"}
    last: date = ctx["last"]
    f30 = f"from={last - timedelta(days=29)}&to={last}"
    f365 = f"from={last - timedelta(days=364)}&to={last}"
    app.config["KPI_CACHE_SECONDS"] = 0
    out = {
        "rollup_30d": _timed(
            lambda: client.get(f"/api/v1/rollups?level=township&by=category&{f30}", headers=city)
        ),
        "rollup_365d": _timed(
            lambda: client.get(f"/api/v1/rollups?level=township&by=category&{f365}", headers=city)
        ),
        "kpis_month": _timed(
            lambda: client.get(f"/api/v1/kpis?level=township&period={ctx['period']}", headers=city)
        ),
        "map_report_cells_30d": _timed(
            lambda: client.get(f"/api/v1/layers/report-cells?{f30}", headers=city)
        ),
        "map_choropleth_30d": _timed(
            lambda: client.get(f"/api/v1/layers/choropleth?level=township&{f30}", headers=city)
        ),
        "coordinator_queue": _timed(
            lambda: client.get("/api/v1/queue?per_page=50", headers=coordinator)
        ),
    }
    if "dashboard.dashboard" in app.view_functions or any(
        r.rule == "/dashboard" for r in app.url_map.iter_rules()
    ):
        page = _signed_in(app, "city", ctx["password"])
        if page.get("/dashboard").status_code == 200:
            out["city_dashboard_page"] = _timed(lambda: page.get("/dashboard"))
        else:
            _say("the dashboard page did not sign in: measured through its API calls only")
    return {k: _p(v) for k, v in out.items()}


def intake(url: str, tokens: list[Any]) -> dict[str, Any]:
    """Reports/s and latency of the intake over HTTP (gunicorn as `make run` runs it, wrk with
    16 clients: benchmarks/bench_intake.py's generator), after 3 s of warm-up."""
    from benchmarks.bench_intake import _checkpoint, _closed_loop

    port = free_port()
    server = start_gunicorn(url, port)
    try:
        wait_ready(port)
        _closed_loop(port, tokens, 3.0)
        _checkpoint(url)
        run = _closed_loop(port, tokens, INTAKE_S)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {
        "reports_per_s": round(run["rate"], 1),
        "p50_ms": round(run["p50"], 1),
        "p99_ms": round(run["p99"], 1),
        "errors": run["errors"],
    }


def export(engine: Engine, url: str, user_id: int, first: date, last: date) -> dict[str, Any]:
    """A CSV export of the city's cases of 30 days, the worker's own code in a child process
    (benchmarks/bench_exports.py's child)."""
    from fieldapp.models import ExportJob

    job_id = uuid.uuid4()
    with Session(engine) as session, session.begin():
        session.add(
            ExportJob(
                id=job_id,
                requested_by=user_id,
                kind="cases",
                format="csv",
                params={
                    "language": "zh",
                    "level": None,
                    "filters": {"from": first.isoformat(), "to": last.isoformat()},
                },
                status="queued",
                rows_done=0,
            )
        )
    with tempfile.TemporaryDirectory() as tmp:
        run = subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_exports", "export", str(job_id)],
            cwd=REPO,
            env={
                **os.environ,
                "DATABASE_URL": url,
                "CELERY_BROKER_URL": "memory://",
                "FIELDAPP_EXPORT_DIR": tmp,
            },
            check=True,
            capture_output=True,
            text=True,
        )
    result: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    assert result.get("status") == "done", result
    return {"rows": result["rows"], "seconds": round(result["seconds"], 2)}


def _guarded(name: str, call: Callable[[], Any]) -> Any:
    """One measurement; a failure is printed and recorded, not the end of a long run."""
    try:
        result = call()
    except Exception as exc:  # a benchmark of many parts: keep the others' figures
        _say(f"{name} failed: {exc!r}")
        return {"error": repr(exc)[:300]}
    _say(f"{name} measured")
    return result


def measure(engine: Engine, app: Any, ctx: dict[str, Any]) -> dict[str, Any]:
    url = engine.url.render_as_string(hide_password=False)
    out: dict[str, Any] = {
        "maintenance": _guarded("maintenance", lambda: maintenance(engine)),
        "sizes": _guarded("sizes", lambda: sizes(engine)),
    }

    def read_side() -> Any:
        with app.app_context():
            return queries(app, ctx)

    out["queries"] = _guarded("queries", read_side)
    first = ctx["last"] - timedelta(days=29)
    out["export_30d"] = _guarded(
        "export", lambda: export(engine, url, ctx["city_id"], first, ctx["last"])
    )
    out["intake"] = _guarded("intake", lambda: intake(url, ctx["tokens"]))
    return out


def _context(engine: Engine, app: Any, last: date) -> dict[str, Any]:
    from fieldapp.models import User
    from fieldapp.services import accounts

    now = datetime.now(UTC)
    with app.app_context(), Session(engine) as session, session.begin():
        city = session.execute(select(User).where(User.role == "city")).scalars().first()
        assert city is not None
        # The coordinator of the township with the most open cases: the longest queue.
        busiest: int = session.execute(
            text(
                "SELECT township_id FROM reports WHERE status NOT IN "
                "('closed', 'rejected', 'merged') GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
            )
        ).scalar_one()
        coordinator = (
            session.execute(select(User).where(User.role == "coordinator", User.area_id == busiest))
            .scalars()
            .first()
        )
        assert coordinator is not None
        officers = officers_at_cells(session, INTAKE_CLIENTS)
        month_end = last.replace(day=1) - timedelta(days=1)
        return {
            "last": last,
            "period": f"{month_end.year}-{month_end.month:02d}",
            "city_id": city.id,
            "city_username": city.username,
            "password": demo_accounts.DEMO_PASSWORD,
            "city_token": accounts.issue_token(session, city, "bench", now).token,
            "coordinator_token": accounts.issue_token(session, coordinator, "bench", now).token,
            "tokens": [
                (accounts.issue_token(session, user, "bench", now).token, point)
                for user, _cell_id, point in officers
            ],
        }


def _ratios(small: Any, big: Any) -> Any:
    """big / small for every number of the same shape (a nested dict of figures)."""
    if isinstance(small, dict) or isinstance(big, dict):
        if not (isinstance(small, dict) and isinstance(big, dict)):
            return None
        return {k: _ratios(small[k], big[k]) for k in small if k in big}
    if isinstance(small, int | float) and isinstance(big, int | float) and small:
        return round(big / small, 2)
    return None


def main() -> None:
    from fieldapp import create_app

    with throwaway_database("province") as engine:
        url = engine.url.render_as_string(hide_password=False)
        app = create_app(
            {"DATABASE_URL": url, "CELERY_BROKER_URL": "memory://", "SECRET_KEY": "bench"}
        )
        started = time.perf_counter()
        with app.app_context():
            with Session(engine) as session, session.begin():
                demo_accounts.load_demo_city(session, seed=1)
            with Session(engine) as session, session.begin():
                summary = demo_load.load_history(
                    session, seed=1, policy=app.config["DEADLINE_POLICY"], progress=_say
                )
        load_s = time.perf_counter() - started
        base_reports = int(summary["reports"])
        last = date.fromisoformat(summary["period"]["to"])
        _say(f"demo city and its year: {base_reports:,} reports in {load_s:.0f} s")
        ctx = _context(engine, app, last)
        small = measure(engine, app, ctx)
        figure(
            "province_baseline_demo_year",
            reports=base_reports,
            load_s=round(load_s, 1),
            **small,
            load_average_1m=round(os.getloadavg()[0], 2),
        )

        copies = max(0, round(TARGET / base_reports) - 1)
        _say(f"scaling up: {copies} copies ({STACK} per year) of {base_reports:,} reports")
        started = time.perf_counter()
        phases = scale_up(engine, copies)
        scale_s = time.perf_counter() - started
        big = measure(engine, app, ctx)
        reports = base_reports * (copies + 1)
        years = (copies + 1) / STACK
        figure(
            "province_scaled",
            reports=reports,
            copies=copies,
            data=(
                f"the demo year copied {copies}× in the database, {STACK} copies per year "
                f"(~{years:.1f} province-years; per-township queues see {STACK}× a real "
                f"township's cases a year, {copies + 1}× its open ones); check-ins not copied"
            ),
            scale_up_s=round(scale_s, 1),
            **{k: round(v, 1) for k, v in phases.items()},
            **big,
            ratio_to_baseline=_ratios(small, big),
            baseline=f"the same measurements at {base_reports:,} reports earlier in this run",
            load_average_1m=round(os.getloadavg()[0], 2),
        )


if __name__ == "__main__":
    main()
