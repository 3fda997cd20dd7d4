"""Report history generator (issue: roll-ups §6): `load_history` of 1,000,000 reports with
their case events (no check-ins) into a throwaway database holding the demo city — planning,
COPY and ANALYZE in one transaction, commit included. Figures: seconds, reports/s, rows/s
(reports + events), planning and COPY seconds, peak RSS of this process.

Baseline from the same run: a bare COPY of the same report rows (rendered beforehand, not
timed) into the emptied table — no planning, no events, plain per-row foreign-key checks —
which is what loading the reports alone costs the server. `BENCH_HISTORY_REPORTS` changes N."""

from __future__ import annotations

import os
import resource
import sys
import time
from datetime import date

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from benchmarks.common import figure, throwaway_database
from fieldapp.demo import history
from fieldapp.demo.accounts import load_demo_city

REPORTS = int(os.environ.get("BENCH_HISTORY_REPORTS", 1_000_000))


def _say(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def main() -> None:
    with throwaway_database("history") as engine:
        with Session(engine) as session, session.begin():
            load_demo_city(session, seed=1)

        start = time.perf_counter()
        with Session(engine) as session, session.begin():
            summary = history.load_history(
                session, reports=REPORTS, seed=1, checkins=False, progress=_say
            )
        seconds = time.perf_counter() - start
        peak_mb = _peak_rss_mb()  # before the baseline renders all its rows at once
        end_date = date.fromisoformat(summary["period"]["to"])

        bare_seconds, bare_rows = _bare_copy(engine, end_date)
        rows = summary["reports"] + summary["events"]
        figure(
            "history_load_1M",
            reports=summary["reports"],
            events=summary["events"],
            seconds=round(seconds, 1),
            plan_seconds=summary["plan_seconds"],
            copy_seconds=summary["copy_seconds"],
            reports_per_s=round(summary["reports"] / seconds),
            rows_per_s=round(rows / seconds),
            fast_foreign_keys=summary["fast_foreign_keys"],
            peak_rss_mb=round(peak_mb),
            baseline="bare COPY of the same report rows (no events, per-row FK checks)",
            baseline_seconds=round(bare_seconds, 1),
            baseline_reports_per_s=round(bare_rows / bare_seconds),
            ratio=round(bare_seconds / seconds, 3),
            target="1,000,000 reports with events in minutes (<= 300 s)",
        )


def _bare_copy(engine: Engine, end_date: date) -> tuple[float, int]:
    """The same report rows (same seed, same city), COPYed alone into the emptied table."""
    with Session(engine) as session:
        frame = history.read_city(session)
        plan = history.plan_history(
            frame, reports=REPORTS, end_date=end_date, seed=1, checkins=False
        )
        pieces = [data for _rows, data in history.copy_pieces(plan, "reports")]
        session.execute(text("TRUNCATE reports CASCADE"))
        session.commit()
    columns = ", ".join(history.REPORT_COLUMNS)
    with engine.connect() as connection:
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        start = time.perf_counter()
        with cursor.copy(f"COPY reports ({columns}) FROM STDIN") as copy:
            for data in pieces:
                copy.write(data)
        connection.commit()
        return time.perf_counter() - start, len(plan.reports)


if __name__ == "__main__":
    main()
