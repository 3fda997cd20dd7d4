"""The SQL session layer: one engine per app, one session per app context.

Sessions are plain SQLAlchemy 2 sessions (no Flask-SQLAlchemy), because the geography core
(`grid`) must stay Flask-free and share the same declarative metadata."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker


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
        if "db_session" not in g:
            factory = current_app.extensions["fieldapp.sessionmaker"]
            if factory is current_app.extensions["fieldapp.default_sessionmaker"]:
                g.db_connection = self.engine.connect()
                g.db_session = factory(bind=g.db_connection)
            else:
                g.db_session = factory()
        session: Session = g.db_session
        return session

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


db = Database()
