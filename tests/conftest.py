"""Test fixtures: a throwaway PostGIS database (never the demo data), migrated once per run,
and per-test transactions rolled back at the end (geoalchemy2's own test layout)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from fieldapp import create_app, localservices
from fieldapp.db import db
from tests import support

REPO = Path(__file__).resolve().parent.parent
INSTANCE = Path(os.environ.get("FIELDAPP_INSTANCE") or REPO / "instance")


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh database named after this process on the configured server (DATABASE_URL) or
    on the private cluster; dropped at the end."""
    server = os.environ.get("DATABASE_URL") or localservices.ensure_postgres(
        INSTANCE, progress=lambda _m: None
    )
    name = f"fieldapp_test_{os.getpid()}"
    localservices.create_database(server, name)
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        localservices.drop_database(server, name)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    from fieldapp import migrate

    eng = create_engine(database_url)
    migrate.upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def broker_url() -> str:
    return os.environ.get("CELERY_BROKER_URL") or localservices.ensure_redis(
        INSTANCE, progress=lambda _m: None
    )


@pytest.fixture(scope="session")
def app(engine: Engine, database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Flask:
    return create_app(
        {
            "TESTING": True,
            # Keys of the tests' own (fieldapp.crypto), never the checkout's instance/ file.
            "DATA_KEYS_FILE": str(tmp_path_factory.mktemp("keys") / "data_keys.json"),
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": "memory://",
            "SECRET_KEY": "test",
            # Each test writes its own reports and reads them back at once: no KPI table
            # cached by an earlier test (the cache has its own test).
            "KPI_CACHE_SECONDS": 0,
        }
    )


@pytest.fixture(scope="session")
def small_city_loaded(engine: Engine) -> None:
    """The small synthetic city, committed once; tests build on it inside transactions."""
    from grid.importer import import_boundaries
    from tests.support import small_city

    with Session(engine) as session, session.begin():
        import_boundaries(session, small_city(), source="tests.support.small_city")


@pytest.fixture
def db_session(app: Flask, engine: Engine) -> Iterator[Session]:
    """A session whose work is rolled back after the test; the app's requests in the test use
    the same connection, so they see (and roll back with) the test's data."""
    connection = engine.connect()
    outer = connection.begin()
    factory = sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    previous = app.extensions["fieldapp.sessionmaker"]
    db.use_sessionmaker(app, factory)
    session = factory()
    try:
        yield session
    finally:
        session.close()
        db.use_sessionmaker(app, previous)
        outer.rollback()
        connection.close()


@pytest.fixture
def client(app: Flask, db_session: Session) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="session")
def people(engine: Engine, small_city_loaded: None, app: Flask) -> dict[str, dict[str, object]]:
    """Accounts in the small city, committed once: two officers in different townships,
    their coordinators, county and city staff. Each entry: user id and a bearer token."""
    from datetime import UTC, datetime

    from fieldapp.services import accounts

    specs: dict[str, dict[str, object]] = {
        "officer_a": {"role": "officer", "cell_codes": ["991101001001001", "991101001001002"]},
        "officer_b": {"role": "officer", "cell_codes": ["991101002001001"]},
        "coord_1": {"role": "coordinator", "area_code": "991101001"},
        "coord_2": {"role": "coordinator", "area_code": "991101002"},
        "county": {"role": "county", "area_code": "991101"},
        "city": {"role": "city", "area_code": "991100"},
    }
    out: dict[str, dict[str, object]] = {}
    with app.app_context(), Session(engine) as session, session.begin():
        from fieldapp.models import Area, Department

        county_id = session.execute(select(Area.id).where(Area.code == "991101")).scalar_one()
        department = Department(
            code="991101-D01", name="测试区司法局", level="county", area_id=county_id
        )
        other = Department(
            code="991101-D02", name="测试区人社局", level="county", area_id=county_id
        )
        session.add_all([department, other])
        session.flush()
        specs["dept"] = {"role": "department", "department_id": department.id}
        specs["dept_other"] = {"role": "department", "department_id": other.id}
        for username, spec in specs.items():
            user = accounts.create_user(
                session,
                username=f"t_{username}",
                password=support.PASSWORD,
                display_name=f"测试{username}",
                **spec,  # type: ignore[arg-type]
            )
            token = accounts.issue_token(session, user, "pytest", datetime.now(UTC))
            out[username] = {"id": user.id, "username": user.username, "token": token.token}
    return out
