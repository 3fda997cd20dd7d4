"""Pooled connections that died while idle (a server restart, a dropped socket) are replaced
before use: fieldapp.db pings a connection that sat idle longer than the configured time."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from fieldapp import create_app


def _pool_engine(database_url: str, ping_after_idle: float) -> Engine:
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": "memory://",
            "SECRET_KEY": "test",
            "DATABASE_PING_AFTER_IDLE_SECONDS": ping_after_idle,
        }
    )
    engine: Engine = app.extensions["fieldapp.engine"]
    return engine


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _kill(engine: Engine, pid: int) -> None:
    with engine.connect() as connection:
        assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
        connection.commit()


def test_an_idle_connection_killed_by_the_server_is_replaced_before_use(
    engine: Engine, database_url: str
) -> None:
    pooled = _pool_engine(database_url, ping_after_idle=0.1)
    try:
        first = _backend_pid(pooled)  # the pool now holds this one connection
        _kill(engine, first)
        time.sleep(0.3)
        assert _backend_pid(pooled) != first  # pinged, found dead, replaced: no error
    finally:
        pooled.dispose()


def test_a_connection_in_steady_use_is_not_pinged(engine: Engine, database_url: str) -> None:
    """The other side of the bargain: within the idle time there is no ping, so a connection
    killed a moment after use fails its next statement (and SQLAlchemy then invalidates it)."""
    pooled = _pool_engine(database_url, ping_after_idle=60)
    try:
        first = _backend_pid(pooled)
        _kill(engine, first)
        time.sleep(0.3)
        with pytest.raises(OperationalError) as failed:
            _backend_pid(pooled)
        assert failed.value.connection_invalidated
        assert _backend_pid(pooled) != first  # and the pool recovers on the next checkout
    finally:
        pooled.dispose()
