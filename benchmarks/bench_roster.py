"""Roster import (issue #17, benchmarks): a 5,000-person roster of the demo city as xlsx —
4,586 officers (one per cell, the demo city has 4,586 cells) and 414 coordinators and
county staff — checked and written by `fieldapp.services.roster.import_roster`, the code
behind the web page and `fieldapp users import`, in a child process so that its peak memory
is its own. Targets: <= 30 s and <= 300 MB.

Figures: seconds (wall, and the child's own CPU time, which does not move with the load of a
shared machine; the load average is printed too), per stage (read, check, write), the peak
RSS of the child (VmHWM), and the tracemalloc peak of a dry run (untimed); then the same file again
(nothing to change). Baseline from the same run, in a child the same way: a bare COPY of the
same 5,000 users into the users table (what writing the people costs with no reading,
checking, hashing or audit)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from benchmarks.common import REPO, figure, libpq_dsn, throwaway_database
from fieldapp.demo.accounts import load_demo_city
from fieldapp.models import Area, Cell

PEOPLE = int(os.environ.get("BENCH_ROSTER_PEOPLE", 5000))
TARGET_S, TARGET_MB = 30, 300


def _say(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def roster_rows(
    cells: list[str], townships: list[str], counties: list[str], people: int
) -> list[list[str]]:
    """`people` rows: an officer per cell while cells last, then coordinators and county
    staff in turn. Phones 139xxxxxxxx, distinct."""
    rows = []
    for i in range(people):
        phone = f"139{i:08d}"
        start = f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}"
        if i < len(cells):
            rows.append([f"网格员{i:05d}", phone, "网格员", cells[i], "", "", start, ""])
        elif i % 2:
            rows.append(
                [
                    f"专干{i:05d}",
                    phone,
                    "信访专干",
                    "",
                    townships[i % len(townships)],
                    "",
                    start,
                    "",
                ]
            )
        else:
            rows.append(
                [
                    f"区县{i:05d}",
                    phone,
                    "区县工作人员",
                    "",
                    counties[i % len(counties)],
                    "",
                    start,
                    "",
                ]
            )
    return rows


def write_xlsx(rows: list[list[str]], path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("花名册")
    sheet.append(
        ["姓名", "手机号", "角色", "网格编码", "区域编码", "身份证号", "到岗日期", "离岗日期"]
    )
    for row in rows:
        sheet.append(row)
    book.save(path)


def child_import(path: str, traced: bool = False) -> None:
    """In the child: the import as the CLI runs it, in one transaction. `traced`: a dry run
    under tracemalloc instead (tracemalloc slows every allocation, so it is not timed)."""
    from fieldapp import create_app
    from fieldapp.db import db
    from fieldapp.services import roster

    app = create_app()
    data = Path(path).read_bytes()
    with app.app_context():
        if traced:
            tracemalloc.start()
        start, cpu = time.perf_counter(), time.process_time()
        with db.transaction() as session:
            result = roster.import_roster(
                session, data, Path(path).name, actor_id=None, today=time_today(), dry_run=traced
            )
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        peak = tracemalloc.get_traced_memory()[1] if traced else 0
        tracemalloc.stop()
    print(
        json.dumps(
            {
                "seconds": round(seconds, 2),
                "cpu_seconds": round(cpu, 2),
                "stages": {k: round(v, 2) for k, v in result.seconds.items()},
                "changes": result.changes,
                "created": len(result.created),
                "problems": len(result.problems),
                "peak_rss_mb": round(_peak_rss_mb(), 1),
                "tracemalloc_peak_mb": round(peak / 2**20, 1),
            }
        )
    )


def time_today() -> Any:
    from fieldapp.services.hotspots import china_today

    return china_today()


def child_copy(path: str) -> None:
    """In the child: the baseline, a bare COPY of the same people into users (rolled back)."""
    import psycopg

    rows = json.loads(Path(path).read_text())
    start = time.perf_counter()
    with psycopg.connect(libpq_dsn(os.environ["DATABASE_URL"])) as conn:
        with (
            conn.cursor() as cur,
            cur.copy("COPY users (username, display_name, role, phone, active) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row((row[1] + "b", row[0], "officer", row[1], True))
        conn.rollback()
    print(
        json.dumps(
            {
                "seconds": round(time.perf_counter() - start, 3),
                "peak_rss_mb": round(_peak_rss_mb(), 1),
            }
        )
    )


def _child(mode: str, url: str, arg: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_roster", mode, arg],
        cwd=REPO,
        env={**os.environ, "DATABASE_URL": url, "CELERY_BROKER_URL": "memory://"},
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _setup(engine: Engine) -> tuple[list[str], list[str], list[str]]:
    with Session(engine) as session, session.begin():
        _say("loading the demo city")
        load_demo_city(session, seed=1)
    with Session(engine) as session:
        cells = list(session.execute(select(Cell.code).order_by(Cell.code)).scalars())
        townships = list(
            session.execute(select(Area.code).where(Area.level == "township")).scalars()
        )
        counties = list(session.execute(select(Area.code).where(Area.level == "county")).scalars())
    return cells, townships, counties


def main() -> None:
    with throwaway_database("roster") as engine, tempfile.TemporaryDirectory() as tmp:
        url = engine.url.render_as_string(hide_password=False)
        cells, townships, counties = _setup(engine)
        rows = roster_rows(cells, townships, counties, PEOPLE)
        path = Path(tmp) / "花名册.xlsx"
        write_xlsx(rows, path)
        rows_json = Path(tmp) / "rows.json"
        rows_json.write_text(json.dumps(rows, ensure_ascii=False))
        _say(f"{PEOPLE} people, {path.stat().st_size // 1024} KB xlsx")
        baseline = _child("copy", url, str(rows_json))
        traced = _child("traced", url, str(path))
        first = _child("import", url, str(path))
        again = _child("import", url, str(path))
        figure(
            "roster_import",
            people=PEOPLE,
            file_kb=path.stat().st_size // 1024,
            seconds=first["seconds"],
            cpu_seconds=first["cpu_seconds"],
            stages=first["stages"],
            created=first["created"],
            peak_rss_mb=first["peak_rss_mb"],
            dry_run_tracemalloc_peak_mb=traced["tracemalloc_peak_mb"],
            dry_run_peak_rss_mb=traced["peak_rss_mb"],
            reimport_seconds=again["seconds"],
            reimport_cpu_seconds=again["cpu_seconds"],
            reimport_stages=again["stages"],
            reimport_changes=again["changes"],
            baseline_copy_seconds=baseline["seconds"],
            baseline_peak_rss_mb=baseline["peak_rss_mb"],
            # Wall time moves with the machine's load; the import's own CPU time does not.
            load_average=round(os.getloadavg()[0], 1),
            target_seconds=TARGET_S,
            target_mb=TARGET_MB,
            ok=first["seconds"] <= TARGET_S
            and first["peak_rss_mb"] <= TARGET_MB
            and first["problems"] == 0
            and again["changes"] == 0,
        )


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] in ("import", "traced"):
        child_import(sys.argv[2], traced=sys.argv[1] == "traced")
    elif len(sys.argv) > 2 and sys.argv[1] == "copy":
        child_copy(sys.argv[2])
    else:
        main()
