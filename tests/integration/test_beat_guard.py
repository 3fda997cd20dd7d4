"""Exactly one beat across machines (fieldapp.beat_guard): the second beat waits for the
first one's advisory lock and takes over when its connection closes; a holder whose
connection is cut stops itself."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from fieldapp import beat_guard

REPO = Path(__file__).resolve().parents[2]


def test_a_second_beat_waits_and_takes_over_when_the_first_goes(engine: Engine) -> None:
    first = beat_guard.acquire(engine)
    taken = threading.Event()
    holder: list[object] = []

    def second() -> None:
        holder.append(beat_guard.acquire(engine, poll_seconds=0.1))
        taken.set()

    standby = threading.Thread(target=second, daemon=True)
    standby.start()
    try:
        assert not taken.wait(1.0), "two beats held the lock at once"
        first.close()  # the active beat stopped (or its machine died: the same to PostgreSQL)
        assert taken.wait(5.0), "the standby beat did not take over"
    finally:
        standby.join(timeout=5)
        for conn in holder:
            conn.close()  # type: ignore[attr-defined]
        if not first.closed:
            first.close()


def test_a_beat_whose_lock_connection_is_cut_stops_itself(engine: Engine) -> None:
    conn = beat_guard.acquire(engine)
    lost = threading.Event()
    try:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        beat_guard.watch(conn, check_seconds=0.1, on_lost=lost.set)
        time.sleep(0.3)
        assert not lost.is_set()  # a healthy holder keeps going
        with engine.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        assert lost.wait(5.0), "the beat did not notice that its lock was gone"
    finally:
        conn.invalidate()
        conn.close()


def _beat(database_url: str, folder: Path, name: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": "memory://",
        "SECRET_KEY": "test",
        "FIELDAPP_INSTANCE": str(folder),
        "FIELDAPP_AUTO_START_SERVICES": "0",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "workers.app",
            "beat",
            "--loglevel=INFO",
            f"--schedule={folder / name}",
        ],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=(folder / f"{name}.log").open("w"),
    )


def _wait_for(log: Path, text_: str, proc: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while text_ not in log.read_text():
        assert proc.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, f"{text_!r} not in {log.name}: {log.read_text()}"
        time.sleep(0.2)


@pytest.mark.nodes
def test_two_real_beats_one_ticks_the_other_takes_over_when_it_is_killed(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    """`celery -A workers.app beat` twice, as on two machines: the second waits; killed
    (SIGKILL: no goodbye), the first's lock goes with its connection and the second ticks."""
    first = _beat(database_url, tmp_path, "one")
    second: subprocess.Popen[bytes] | None = None
    try:
        _wait_for(tmp_path / "one.log", "this is the one active beat", first)
        second = _beat(database_url, tmp_path, "two")
        _wait_for(tmp_path / "two.log", "waits as a standby", second)
        time.sleep(6)  # a standby polls every 5 s: it stays one
        assert "Sending due task" not in (tmp_path / "two.log").read_text()
        first.kill()
        first.wait(timeout=10)
        _wait_for(tmp_path / "two.log", "this beat is now the active one", second, timeout=30)
        _wait_for(tmp_path / "two.log", "Sending due task", second, timeout=30)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=20)
