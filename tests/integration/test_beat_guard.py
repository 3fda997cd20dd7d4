"""Exactly one beat across machines (fieldapp.beat_guard): the second beat waits for the
first one's advisory lock and takes over when its connection closes; a holder whose
connection is cut stops itself."""

from __future__ import annotations

import threading
import time

from sqlalchemy import Engine, text

from fieldapp import beat_guard


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
