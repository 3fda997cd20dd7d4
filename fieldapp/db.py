"""The SQL session layer: one engine per app, one session per app context.

Sessions are plain SQLAlchemy 2 sessions (no Flask-SQLAlchemy), because the geography core
(`grid`) must stay Flask-free and share the same declarative metadata."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app, g
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker


class Database:
    def __init__(self) -> None:
        self._sessionmakers: dict[int, sessionmaker[Session]] = {}

    def init_app(self, app: Flask) -> None:
        url = app.config["DATABASE_URL"]
        engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
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


db = Database()
