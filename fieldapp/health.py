"""What operators and load balancers ask the platform: is this process ready to serve (the
database reachable, its schema current, the broker reachable)? And which errors mean "the
database is away for a moment" (a 503 with Retry-After, which the phones retry) rather than a
fault of ours (a 500)?

Each check returns None when all is well, or one line saying what is wrong; `readyz` and
`fieldapp check` print those lines as they are."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from sqlalchemy import Engine, text
from sqlalchemy import exc as sa_exc

# Seconds a client is asked to wait before trying again while the database is unreachable.
# A fast PostgreSQL restart is back in under a second; a phone retrying every 5 s neither
# hammers a recovering server nor keeps an officer waiting long.
RETRY_AFTER_SECONDS = 5

# How long a readiness probe waits for the database or broker before calling it unreachable:
# a load balancer probes every few seconds and must not pile up waiting probes.
PROBE_TIMEOUT_SECONDS = 2


def is_database_unavailable(exc: BaseException) -> bool:
    """True for errors that say the database cannot be reached or is restarting (connection
    refused or reset, server shutting down, pool exhausted), as opposed to a bug in a query.

    SQLAlchemy's OperationalError wraps psycopg's connection failures and the server's
    "terminating connection" / "the database system is starting up" (SQLSTATE class 57 and
    08); a query that is simply wrong raises ProgrammingError or DataError instead."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(
        exc,
        sa_exc.OperationalError
        | sa_exc.InterfaceError
        | sa_exc.DisconnectionError
        | sa_exc.TimeoutError,  # the pool had no connection free in time: overloaded
    )


def _first_line(exc: BaseException) -> str:
    """An error's message without SQLAlchemy's background link or the statement."""
    inner = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(inner).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def check_database(engine: Engine) -> str | None:
    """None when `SELECT 1` answers within PROBE_TIMEOUT_SECONDS."""
    try:
        with engine.connect() as connection:
            connection.execute(
                text(f"SET LOCAL statement_timeout = {PROBE_TIMEOUT_SECONDS * 1000}")
            )
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means: not reachable for us
        return f"database unreachable: {_first_line(exc)}"
    return None


@functools.cache
def migration_head() -> str:
    """The newest revision of the migrations shipped with this code."""
    from alembic.script import ScriptDirectory

    from fieldapp.migrate import MIGRATIONS

    script = ScriptDirectory(str(MIGRATIONS))
    return ",".join(sorted(script.get_heads()))


def check_migrations(engine: Engine) -> str | None:
    """None when the database is at the newest migration of this code."""
    from fieldapp.migrate import current_revision

    try:
        current = current_revision(engine)
    except Exception as exc:
        return f"migrations unknown: {_first_line(exc)}"
    head = migration_head()
    if current != head:
        return (
            f"migrations behind: database at {current or 'none'}, code at {head} "
            "(run: fieldapp db upgrade)"
        )
    return None


def check_postgis(engine: Engine) -> str | None:
    """None when the PostGIS extension is installed in the database."""
    try:
        with engine.connect() as connection:
            version = connection.execute(
                text("SELECT extversion FROM pg_extension WHERE extname = 'postgis'")
            ).scalar()
    except Exception as exc:
        return f"PostGIS unknown: {_first_line(exc)}"
    if version is None:
        return "PostGIS missing: run CREATE EXTENSION postgis in the database (as a superuser)"
    return None


def check_broker(broker_url: str) -> str | None:
    """None when the Celery broker accepts a connection within PROBE_TIMEOUT_SECONDS."""
    from kombu import Connection

    if broker_url.startswith("memory://"):
        return None
    try:
        with Connection(broker_url, connect_timeout=PROBE_TIMEOUT_SECONDS) as connection:
            connection.ensure_connection(max_retries=1, timeout=PROBE_TIMEOUT_SECONDS)
    except Exception as exc:
        return f"broker unreachable: {_first_line(exc)}"
    return None


@dataclass(frozen=True)
class Readiness:
    problems: list[str]

    @property
    def ready(self) -> bool:
        return not self.problems


def readiness(engine: Engine, broker_url: str) -> Readiness:
    """The readiness checks in order; migrations are only looked at when the database answers
    (otherwise the same outage would be reported twice)."""
    problems: list[str] = []
    database = check_database(engine)
    if database:
        problems.append(database)
    else:
        migrations = check_migrations(engine)
        if migrations:
            problems.append(migrations)
    broker = check_broker(broker_url)
    if broker:
        problems.append(broker)
    return Readiness(problems)
