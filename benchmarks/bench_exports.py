"""Exports (issue #5 item 5): the case list of 1,000,000 reports exported as CSV and as xlsx
by the worker's own code (`workers.tasks.run_export`, run in a child process so its peak
memory is that process's alone). Figures: seconds, rows/s, file size and the child's peak
RSS (VmHWM of its own address space, read by the child at the end). Target: peak RSS <= 300 MB.

Data: the demo city and `load_history` of N reports (COPY, with their cases) in a throwaway
database. Baseline from the same run, in a child process the same way: the bare time to
stream the same rows out of PostgreSQL with the same server-side cursor (the same SELECT,
`yield_per`) and discard them — what the export costs before any file is written.
`BENCH_EXPORT_ROWS` changes N (default 1,000,000)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from benchmarks.common import REPO, figure, throwaway_database
from fieldapp.demo import history
from fieldapp.demo.accounts import load_demo_city

ROWS = int(os.environ.get("BENCH_EXPORT_ROWS", 1_000_000))
TARGET_MB = 300


def _say(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def _child_env(url: str, export_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": url,
        "CELERY_BROKER_URL": "memory://",
        "FIELDAPP_EXPORT_DIR": str(export_dir),
    }


def _child(mode: str, url: str, export_dir: Path, arg: str) -> dict[str, Any]:
    """Run `mode` in a fresh interpreter; it prints one JSON line with its figures."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_exports", mode, arg],
        cwd=REPO,
        env=_child_env(url, export_dir),
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _peak_rss_mb() -> float:
    """This process's own peak RSS: VmHWM of its address space. (ru_maxrss is no good in a
    child: Linux carries the parent's high-water mark over the fork and exec.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("no VmHWM in /proc/self/status")


def child_export(job_id: str) -> None:
    """In the child: what the worker runs for one export (claim, stream, write, rename)."""
    from fieldapp import create_app
    from workers.tasks import run_export

    app = create_app()
    start = time.perf_counter()
    with app.app_context():
        result = run_export(job_id)  # the task's own body, synchronously
    seconds = time.perf_counter() - start
    print(json.dumps({**result, "seconds": seconds, "peak_rss_mb": _peak_rss_mb()}))


def child_baseline(user_id: str) -> None:
    """In the child: the same SELECT through the same server-side cursor, rows discarded."""
    from fieldapp import create_app
    from fieldapp.db import db
    from fieldapp.models import User
    from fieldapp.services.export_sources import YIELD_PER, ExportParams, case_select

    app = create_app()
    with app.app_context():
        session = db.session
        user = session.get(User, int(user_id))
        assert user is not None
        params = ExportParams(kind="cases", format="csv")
        start = time.perf_counter()
        n = 0
        stmt = case_select(session, user, params).execution_options(yield_per=YIELD_PER)
        for _row in session.execute(stmt):
            n += 1
        seconds = time.perf_counter() - start
    print(json.dumps({"rows": n, "seconds": seconds, "peak_rss_mb": _peak_rss_mb()}))


def _queue(engine: Engine, user_id: int, fmt: str) -> str:
    from fieldapp.models import ExportJob

    job_id = uuid.uuid4()
    with Session(engine) as session, session.begin():
        job = ExportJob(
            id=job_id,
            requested_by=user_id,
            kind="cases",
            format=fmt,
            params={"language": "zh", "level": None, "filters": {}},
            status="queued",
            rows_done=0,
        )
        session.add(job)
    return str(job_id)


def main() -> None:
    from fieldapp.models import Area, User

    with throwaway_database("exports") as engine, tempfile.TemporaryDirectory() as tmp:
        export_dir = Path(tmp)
        url = engine.url.render_as_string(hide_password=False)
        start = time.perf_counter()
        with Session(engine) as session, session.begin():
            load_demo_city(session, seed=1)
            history.load_history(session, reports=ROWS, seed=1, checkins=False, progress=_say)
            city_id = session.execute(select(Area.id).where(Area.level == "city")).scalar_one()
            user = User(username="bench_city", display_name="市级", role="city", area_id=city_id)
            session.add(user)
            session.flush()
            user_id = user.id
        _say(f"loaded {ROWS:,} reports in {time.perf_counter() - start:.0f} s")

        baseline = _child("baseline", url, export_dir, str(user_id))
        _say(f"baseline: {baseline}")
        for fmt in ("csv", "xlsx"):
            job_id = _queue(engine, user_id, fmt)
            result = _child("export", url, export_dir, job_id)
            _say(f"{fmt}: {result}")
            assert result.get("status") == "done", result
            size = (export_dir / f"{job_id}.{fmt}").stat().st_size
            seconds = result["seconds"]
            figure(
                f"export_cases_{fmt}_{ROWS // 1000}k",
                rows=result["rows"],
                seconds=round(seconds, 1),
                rows_per_s=round(result["rows"] / seconds),
                file_mb=round(size / 2**20, 1),
                peak_rss_mb=round(result["peak_rss_mb"]),
                baseline="the same SELECT through the same server-side cursor, rows discarded "
                "(child process)",
                baseline_seconds=round(baseline["seconds"], 1),
                baseline_rows_per_s=round(baseline["rows"] / baseline["seconds"]),
                baseline_peak_rss_mb=round(baseline["peak_rss_mb"]),
                ratio=round(baseline["seconds"] / seconds, 3),
                target=f"peak RSS <= {TARGET_MB} MB",
                met=result["peak_rss_mb"] <= TARGET_MB,
            )
            (export_dir / f"{job_id}.{fmt}").unlink()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "export":
        child_export(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "baseline":
        child_baseline(sys.argv[2])
    else:
        main()
