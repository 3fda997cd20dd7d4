"""grid.direct runs the hottest statements on psycopg directly; its errors must still be the
ones the rest of the platform handles (fieldapp.errors, fieldapp.health): a connection the
server ended is a database that is unavailable (503), a wrong statement is a bug (500), and
the dead connection is not handed out again."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from fieldapp import health
from grid.direct import DirectStatement, fetch_one

ONE = DirectStatement("SELECT CAST(:n AS integer) + 1")


@pytest.fixture
def own_engine(database_url: str, engine: Engine) -> Engine:
    """A pool of its own, so the connection this test kills is no one else's."""
    eng = create_engine(database_url, pool_size=1, max_overflow=0)
    yield eng  # type: ignore[misc]
    eng.dispose()


def test_a_connection_the_server_ended_is_unavailable_and_not_reused(
    own_engine: Engine, engine: Engine
) -> None:
    with Session(own_engine) as session:
        pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        assert fetch_one(session, ONE, {"n": 1}) == (2,)
        with engine.begin() as admin:
            assert admin.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
        with pytest.raises(sa_exc.OperationalError) as raised:
            fetch_one(session, ONE, {"n": 1})
        assert raised.value.connection_invalidated
        assert health.is_database_unavailable(raised.value)
        session.rollback()
    with Session(own_engine) as session:  # the pool's one connection is a new one
        assert session.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
        assert fetch_one(session, ONE, {"n": 41}) == (42,)


def test_a_wrong_statement_is_a_bug_not_an_outage(own_engine: Engine) -> None:
    with Session(own_engine) as session:
        with pytest.raises(sa_exc.ProgrammingError) as raised:
            fetch_one(session, DirectStatement("SELECT no_such_column"), {})
        assert not raised.value.connection_invalidated
        assert not health.is_database_unavailable(raised.value)
