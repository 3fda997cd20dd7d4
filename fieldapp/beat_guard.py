"""Exactly one beat across machines: a PostgreSQL advisory lock held by the beat process.

Why: two beats send every periodic task twice (the relay's messages doubled, two deadline
sweeps). The embedded set-up guards its one beat with a pidfile, but a pidfile only sees its
own machine; with beat units enabled on two machines by mistake (or on purpose, as a standby)
nothing stopped the second. Now a beat, before its first tick, takes a session-level advisory
lock on the primary and keeps that connection open: a second beat waits (logging why) until
the first one's connection closes — it stopped, crashed, or its machine died — and then takes
over. So a beat enabled on each of two machines is one active beat and one warm standby.

If the holder's connection is lost (the primary restarted, the network dropped), the lock is
gone and another beat may take it: the holder notices within `check_seconds` and stops itself
(SIGTERM; systemd restarts it and it queues for the lock again). In that window both may
send a periodic task once more, which the tasks tolerate (they are idempotent; the relay's
rows are claimed)."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any, Final

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

# pg_advisory_lock's key space is shared by the whole database: a fixed, recognisable number
# ("beat" in ASCII) that nothing else in the platform uses.
BEAT_LOCK_KEY: Final = 0x62656174


def _stop_this_process() -> None:
    os.kill(os.getpid(), signal.SIGTERM)


# The lock's connection finds out within about 30 s that the primary (or the way to it) is
# gone, instead of TCP's default of many minutes: keepalive probes while it is idle, and a
# limit on unacknowledged data while it checks. (Ignored on unix sockets, which fail at once.)
_LOCK_CONNECT_ARGS: Final = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 20000,
    "application_name": "fieldapp-beat",
}


def lock_engine(engine: Engine) -> Engine:
    """An engine of its own for the lock: no pool (the connection is held for the beat's
    life), TCP keepalives so a dead network is noticed."""
    return create_engine(engine.url, poolclass=NullPool, connect_args=dict(_LOCK_CONNECT_ARGS))


def acquire(engine: Engine, *, poll_seconds: float = 5.0) -> Connection:
    """Wait until this process holds the beat lock; return the connection that holds it
    (keep it open: closing it releases the lock)."""
    waited_since: float | None = None
    while True:
        conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": BEAT_LOCK_KEY})
            if got.scalar_one():
                if waited_since is not None:
                    log.warning(
                        "beat lock taken after %.0f s: this beat is now the active one",
                        time.monotonic() - waited_since,
                    )
                return conn
            holder = conn.execute(
                text(
                    "SELECT a.client_addr, a.application_name, a.pid FROM pg_locks l"
                    " JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory'"
                    " AND l.objid = :k AND l.granted"
                ),
                {"k": BEAT_LOCK_KEY},
            ).first()
        except Exception:
            conn.close()
            raise
        conn.close()
        if waited_since is None:
            waited_since = time.monotonic()
            log.warning(
                "another beat is active (database backend %s): this one waits as a standby",
                tuple(holder) if holder else "?",
            )
        time.sleep(poll_seconds)


def watch(
    conn: Connection,
    *,
    check_seconds: float = 5.0,
    on_lost: Callable[[], None] = _stop_this_process,
) -> threading.Thread:
    """A daemon thread that checks the lock's connection every `check_seconds` and calls
    `on_lost` (default: stop this process) once it is gone."""

    def run() -> None:
        while True:
            time.sleep(check_seconds)
            try:
                conn.execute(text("SELECT 1"))
            except Exception as exc:  # noqa: BLE001 - any failure: the lock may be gone
                log.critical("beat lock lost (%s): stopping this beat", type(exc).__name__)
                on_lost()
                return

    thread = threading.Thread(target=run, name="beat-lock", daemon=True)
    thread.start()
    return thread


def install(engine: Engine) -> None:
    """Take the lock when a beat starts (Celery's beat_init, before its first tick)."""
    from celery.signals import beat_init

    def hold(**_kw: Any) -> None:
        conn = acquire(lock_engine(engine))
        log.info("beat lock %#x held: this is the one active beat", BEAT_LOCK_KEY)
        watch(conn)

    beat_init.connect(hold, weak=False)
