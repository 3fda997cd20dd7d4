"""The SQL session layer: one engine per app, one session per app context.

Sessions are plain SQLAlchemy 2 sessions (no Flask-SQLAlchemy), because the geography core
(`grid`) must stay Flask-free and share the same declarative metadata.

Read-heavy use cases (dashboards, roll-ups, KPIs, map layers, export files) take
`db.read_session`: a session on the streaming replica (REPLICA_DATABASE_URL) while its lag is
within REPLICA_MAX_LAG_SECONDS, else the primary's own `db.session`. Writes always use
`db.session`. See `ReplicaRouter` for how the lag is measured."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

from flask import Flask, current_app, g
from flask.typing import ResponseReturnValue
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

READ_SOURCE_HEADER: Final = "X-Fieldapp-Read-From"
"""Set on answers whose reads were routed (only when a replica is configured): `replica` or
`primary`, so an operator can see with curl where a dashboard was read from."""


ReadRouted = Callable[[str], None]
_read_routed: list[ReadRouted] = []


def on_read_routed(listener: ReadRouted) -> None:
    """Call `listener("replica" | "primary")` each time an app context's reads are routed
    (fieldapp.metrics counts them)."""
    _read_routed.append(listener)


class Database:
    def __init__(self) -> None:
        self._sessionmakers: dict[int, sessionmaker[Session]] = {}

    def init_app(self, app: Flask) -> None:
        url = app.config["DATABASE_URL"]
        engine = create_engine(url, pool_size=10, max_overflow=10)
        ping_when_idle(engine, app.config.get("DATABASE_PING_AFTER_IDLE_SECONDS", 1.0))
        app.extensions["fieldapp.engine"] = engine
        # Sessions are bound to one pooled connection for the whole app context (a request,
        # a task): a request that commits, then records that its outbox messages went out,
        # checks out (and pings) one connection instead of one per transaction.
        default = sessionmaker(expire_on_commit=False)
        app.extensions["fieldapp.default_sessionmaker"] = default
        app.extensions["fieldapp.sessionmaker"] = default
        app.teardown_appcontext(self._close_session)
        replica_url = app.config.get("REPLICA_DATABASE_URL")
        if replica_url:
            replica = create_engine(
                replica_url,
                pool_size=5,
                max_overflow=10,
                # A replica machine that is down must cost a request seconds, not minutes.
                connect_args={"connect_timeout": 2, "application_name": "fieldapp-reads"},
            )
            ping_when_idle(replica, app.config.get("DATABASE_PING_AFTER_IDLE_SECONDS", 1.0))
            router = ReplicaRouter(
                engine,
                replica,
                max_lag_seconds=float(app.config.get("REPLICA_MAX_LAG_SECONDS", 5)),
                check_every_seconds=float(app.config.get("REPLICA_CHECK_SECONDS", 1)),
            )
            app.extensions["fieldapp.replica_router"] = router
            app.after_request(_note_read_source)

    @property
    def engine(self) -> Engine:
        engine: Engine = current_app.extensions["fieldapp.engine"]
        return engine

    def use_sessionmaker(self, app: Flask, factory: sessionmaker[Session]) -> None:
        """Tests bind sessions to one connection inside an outer transaction."""
        app.extensions["fieldapp.sessionmaker"] = factory

    @property
    def session(self) -> Session:
        """The session of the current app context, created on first use."""
        # One look through the `g` proxy when the session exists (a report's request asks
        # for it about ten times; each proxy access costs more than the dict lookup).
        session: Session | None = g.get("db_session")
        if session is None:
            factory = current_app.extensions["fieldapp.sessionmaker"]
            if factory is current_app.extensions["fieldapp.default_sessionmaker"]:
                g.db_connection = self.engine.connect()
                session = factory(bind=g.db_connection)
            else:
                session = factory()
            g.db_session = session
        return session

    @property
    def read_session(self) -> Session:
        """The session for read-only, read-heavy work (dashboards, roll-ups, KPIs, map layers,
        export files): the replica's when one is configured and within its lag bound, else
        the primary's `session`. Decided once per app context, so one answer never mixes
        the two. Never write through it (the replica refuses, and the primary's session is
        the same object as `session`)."""
        if "db_read_session" in g:
            chosen: Session = g.db_read_session
            return chosen
        router: ReplicaRouter | None = current_app.extensions.get("fieldapp.replica_router")
        factory = current_app.extensions["fieldapp.sessionmaker"]
        # Tests that bind sessions to one rolled-back transaction read where they write.
        default = factory is current_app.extensions["fieldapp.default_sessionmaker"]
        connection = None
        if router is not None and default and router.use_replica():
            try:
                connection = router.replica.connect()
            except Exception as exc:  # noqa: BLE001 - down since the last check: the primary
                router.mark_down(f"unreachable: {type(exc).__name__}")
        if connection is not None:
            g.db_read_connection = connection
            g.db_read_session = Session(bind=connection, expire_on_commit=False)
            g.db_read_source = "replica"
        else:
            g.db_read_session = self.session
            g.db_read_source = "primary"
        for listener in _read_routed:
            listener(g.db_read_source)
        return g.db_read_session

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Commit on success, roll back on any exception: nothing is half-written."""
        session = self.session
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise

    def _close_session(self, _exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.close()
        connection = g.pop("db_connection", None)
        if connection is not None:
            connection.close()  # back to the pool; an open transaction is rolled back
        read_session = g.pop("db_read_session", None)
        read_connection = g.pop("db_read_connection", None)
        if read_connection is not None:
            if read_session is not None:
                read_session.close()
            read_connection.close()


def ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """Ping a pooled connection before use only when it sat idle longer than `idle_seconds`
    (SQLAlchemy's "pessimistic" disconnect handling, limited to idle connections).

    pool_pre_ping pings on every checkout: a round trip per request, about 4 % of a report's
    CPU in a py-spy profile of the intake benchmark. A connection back from use a moment ago
    is alive as far as anyone can know; the ones at risk have sat idle while the server
    restarted or a firewall dropped them. Should one die in use anyway, SQLAlchemy recognises
    the disconnect on its first error and invalidates every pooled connection older than it."""

    @event.listens_for(engine, "checkin")
    def note_idle_since(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < idle_seconds:
            return  # new, or in steady use
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            # The pool then discards it and checks out a fresh connection.
            raise DisconnectionError(f"pooled connection found dead: {exc}") from exc


def _note_read_source(response: Any) -> ResponseReturnValue:
    source = g.get("db_read_source")
    if source is not None:
        response.headers[READ_SOURCE_HEADER] = source
    return response


@dataclass(frozen=True)
class ReplicaLag:
    """How far the replica is behind the primary: WAL bytes not yet replayed, and an upper
    bound on the age of the oldest change it has not shown yet."""

    bytes: int
    seconds: float


def replica_lag(
    primary_flush_lsn: int,
    replay_lsn: int,
    since_last_replay_s: float | None,
    since_caught_up_s: float | None,
) -> ReplicaLag:
    """The lag from one measurement: the primary's flushed WAL position (read first), the
    replica's replayed position (read after), the age of the last transaction it replayed,
    and how long ago it was last seen caught up (None: never seen).

    Why not just `now() - pg_last_xact_replay_timestamp()`: on an idle primary that grows
    without bound although the replica holds every change. So: nothing pending means zero
    lag. With WAL pending, the oldest missing change is younger than both the last replayed
    transaction (it came after it) and the last time the replica was seen caught up."""
    pending = max(0, primary_flush_lsn - replay_lsn)
    if pending == 0:
        return ReplicaLag(0, 0.0)
    bounds = [s for s in (since_last_replay_s, since_caught_up_s) if s is not None]
    return ReplicaLag(pending, max(0.0, min(bounds)) if bounds else math.inf)


def replica_usable(lag: ReplicaLag | None, max_lag_seconds: float) -> bool:
    """Reads may go to the replica: it answered, is a standby, and is within the bound."""
    return lag is not None and lag.seconds <= max_lag_seconds


_FLUSHED_SQL: Final = "SELECT pg_current_wal_flush_lsn() - '0/0'::pg_lsn"


class ReplicaRouter:
    """Per process: whether reads go to the replica now. Measured at most every
    `check_every_seconds` by whichever request asks first (one primary and one replica
    round trip); other threads use the last decision meanwhile. A replica that cannot be
    reached is left alone for `down_retry_seconds` (default ten checks; each try may wait
    its connect timeout); a disconnect seen during a read marks it down at once."""

    def __init__(
        self,
        primary: Engine,
        replica: Engine,
        *,
        max_lag_seconds: float,
        check_every_seconds: float = 1.0,
        down_retry_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary = primary
        self.replica = replica
        self.max_lag_seconds = max_lag_seconds
        self.check_every_seconds = check_every_seconds
        # Default ten checks: a down machine costs one request its connect timeout that often.
        self.down_retry_seconds = (
            10 * check_every_seconds if down_retry_seconds is None else down_retry_seconds
        )
        self._clock = clock
        self._lock = threading.Lock()
        self._next_check = -math.inf
        self._caught_up_at: float | None = None
        self._usable = False
        self.last_lag: ReplicaLag | None = None
        self.last_error: str | None = None

        @event.listens_for(replica, "handle_error")
        def _on_error(context: Any) -> None:
            if context.is_disconnect:
                self.mark_down(f"disconnected: {context.original_exception}")

    @property
    def usable(self) -> bool:
        """Reads go to the replica now (the last decision; no measurement)."""
        return self._usable

    def use_replica(self) -> bool:
        if self._clock() >= self._next_check and self._lock.acquire(blocking=False):
            try:
                if self._clock() >= self._next_check:
                    self.check()
            finally:
                self._lock.release()
        return self._usable

    def check(self) -> ReplicaLag | None:
        """Measure now and decide; returns the lag (None: replica unusable whatever the bound)."""
        lag = self.measure()
        self.last_lag = lag
        self._usable = replica_usable(lag, self.max_lag_seconds)
        if lag is None:
            self._next_check = self._clock() + self.down_retry_seconds
        else:
            self._next_check = self._clock() + self.check_every_seconds
            if not self._usable:
                log.warning(
                    "replica behind by %.1f s (%d bytes), over %.1f s: reading from the primary",
                    lag.seconds,
                    lag.bytes,
                    self.max_lag_seconds,
                )
        return lag

    def measure(self) -> ReplicaLag | None:
        """One measurement; None (and `last_error`) when the replica is down, is not a
        standby (promoted, or the URL points at a primary), or the primary is unreachable."""
        try:
            asked_at = self._clock()
            with self.primary.connect() as conn:
                flushed = int(conn.execute(text(_FLUSHED_SQL)).scalar_one())
            with self.replica.connect() as conn:
                row: Any = conn.execute(
                    text(
                        "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn() - '0/0'::pg_lsn,"
                        " extract(epoch FROM now() - pg_last_xact_replay_timestamp())"
                    )
                ).one()
                standby, replayed, since_replay = row
        except Exception as exc:  # noqa: BLE001 - any failure means: read from the primary
            self.last_error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            log.warning("replica not usable (%s): reading from the primary", self.last_error)
            return None
        if not standby or replayed is None:
            self.last_error = "not a standby (promoted, or the URL names a primary)"
            log.warning("replica %s: reading from the primary", self.last_error)
            return None
        self.last_error = None
        caught_up_s = None if self._caught_up_at is None else self._clock() - self._caught_up_at
        lag = replica_lag(
            flushed,
            int(replayed),
            None if since_replay is None else float(since_replay),
            caught_up_s,
        )
        if lag.bytes == 0:
            # Everything flushed before `asked_at` is visible there.
            self._caught_up_at = asked_at
        return lag

    def mark_down(self, why: str) -> None:
        self._usable = False
        self.last_error = why
        self._next_check = self._clock() + self.down_retry_seconds
        log.warning("replica %s: reading from the primary", why)


db = Database()
