"""The few statements that run on every report (the bearer-token check and intake's write) go
to the session's psycopg connection directly, on the session's transaction.

SQLAlchemy's per-statement work (cache key, execution context, bind processing, result
metadata) costs more Python than psycopg's own work for the statement; on the hottest path of
the platform that was a tenth of a request's CPU. The SQL is written with the usual `:name`
placeholders and compiled once by SQLAlchemy's own psycopg dialect, so psycopg receives the
same text as through `session.execute(text(...))` (and prepares it the same way); values are
passed through unchanged, as they are for untyped `text()` parameters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.orm import Session

_DIALECT = PGDialect_psycopg()


class DirectStatement:
    """A `text()` statement, compiled once for psycopg."""

    def __init__(self, sql: str) -> None:
        self.sql = str(text(sql).compile(dialect=_DIALECT))


def fetch_one(
    session: Session, statement: DirectStatement, params: Mapping[str, Any]
) -> tuple[Any, ...] | None:
    """The first row of `statement`, run in the session's transaction.

    A psycopg error is raised as SQLAlchemy's own execute would raise it: wrapped in the
    matching sqlalchemy.exc class (psycopg's OperationalError as sqlalchemy's, so a database
    that is restarting answers 503 like everywhere else, not 500: seen in the fault suite when
    a fast shutdown ended the connection between the pool's check and the token lookup), and a
    connection found dead invalidated, so the pool does not hand it out again."""
    connection = session.connection()
    driver: Any = connection.connection.driver_connection
    try:
        with driver.execute(statement.sql, params) as cursor:
            row: tuple[Any, ...] | None = cursor.fetchone()
    except psycopg.Error as err:
        dead = bool(driver.closed or driver.broken)
        if dead:
            connection.invalidate(err)
        raise sa_exc.DBAPIError.instance(
            statement.sql,
            dict(params),
            err,
            psycopg.Error,
            connection_invalidated=dead,
            dialect=_DIALECT,
        ) from err
    return row
