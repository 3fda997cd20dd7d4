"""/readyz, and what every request gets while the database is unreachable: a real PostgreSQL
made unreachable (a port where no server listens, and connections terminated by the server
with pg_terminate_backend), never a mock."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from flask import Flask
from sqlalchemy.engine import make_url

from fieldapp import create_app, localservices
from tests import support

DEAD_DATABASE = "postgresql+psycopg://nobody@127.0.0.1:1/none"


def _app(database_url: str, broker_url: str = "memory://", **extra: Any) -> Flask:
    return create_app(
        {"DATABASE_URL": database_url, "CELERY_BROKER_URL": broker_url, "SECRET_KEY": "t", **extra}
    )


@pytest.fixture
def dead_app() -> Flask:
    return _app(DEAD_DATABASE)


def test_readyz_is_ready_on_a_migrated_database_and_a_live_broker(
    database_url: str, engine: Any, broker_url: str
) -> None:
    response = _app(database_url, broker_url).test_client().get("/readyz")
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"status": "ready"}


def test_readyz_names_an_unreachable_database_and_broker(dead_app: Flask) -> None:
    app = _app(DEAD_DATABASE, "redis://127.0.0.1:1/0")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    problems = response.get_json()["problems"]
    assert len(problems) == 2, problems
    assert problems[0].startswith("database unreachable:")
    assert problems[1].startswith("broker unreachable:")
    # Liveness stays up: a database outage must not get every web process restarted.
    assert app.test_client().get("/healthz").status_code == 200


@pytest.fixture
def unmigrated_database(database_url: str) -> Iterator[str]:
    """A database with PostGIS and no tables, on the tests' server."""
    name = f"fieldapp_unmigrated_{os.getpid()}"
    url = localservices.create_database(database_url, name, replace=True)
    try:
        yield url
    finally:
        localservices.drop_database(database_url, name)


def test_readyz_says_migrations_are_behind(unmigrated_database: str) -> None:
    response = _app(unmigrated_database).test_client().get("/readyz")
    assert response.status_code == 503
    [problem] = response.get_json()["problems"]
    assert problem.startswith("migrations behind: database at none, code at 0")
    assert "fieldapp db upgrade" in problem


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/v1/reports", {"id": str(uuid.uuid4())}),
        ("post", "/api/v1/auth/token", {"username": "a", "password": "b", "device": "d"}),
        ("get", "/api/v1/categories", None),
        ("get", "/api/v1/reports", None),
    ],
)
def test_api_answers_503_with_retry_after_while_the_database_is_unreachable(
    dead_app: Flask, method: str, path: str, body: dict[str, str] | None
) -> None:
    response = getattr(dead_app.test_client(), method)(
        path,
        json=body,
        headers={"Authorization": "Bearer whatever", "Accept-Language": "en"},
    )
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.headers["Retry-After"] == "5"
    error = response.get_json()["error"]
    assert error["code"] == "unavailable"
    assert "database unreachable" in error["message"]  # English, as asked


def test_api_503_speaks_chinese_by_default(dead_app: Flask) -> None:
    response = dead_app.test_client().get("/api/v1/categories")
    assert response.status_code == 503
    assert "数据库" in response.get_json()["error"]["message"]


def test_pages_get_a_503_page_while_the_database_is_unreachable(dead_app: Flask) -> None:
    response = dead_app.test_client().get("/?lang=en")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "<h1>Briefly unavailable</h1>" in page
    assert "Try again" in page


def test_one_500_body_in_the_request_language(app: Flask) -> None:
    # A route that fails for a reason of our own (not the database): the API's one 500 body,
    # in English when the client asks for it, in Chinese by default; no traceback shown.
    failing = _app(app.config["DATABASE_URL"])

    @failing.get("/api/v1/_boom")
    def boom() -> str:
        raise RuntimeError("a bug")

    @failing.get("/_boom")
    def boom_page() -> str:
        raise RuntimeError("a bug")

    client = failing.test_client()
    english = client.get("/api/v1/_boom", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert english.status_code == 500
    assert english.get_json() == {
        "error": {
            "code": "internal_error",
            "message": "Something went wrong on the server; the request changed nothing. "
            "Try again.",
        }
    }
    chinese = client.get("/api/v1/_boom")
    assert chinese.status_code == 500
    assert chinese.get_json()["error"]["code"] == "internal_error"
    assert "服务器" in chinese.get_json()["error"]["message"]
    page = client.get("/_boom")
    assert page.status_code == 500
    assert page.mimetype == "text/html"
    assert "a bug" not in page.get_data(as_text=True)


def test_a_connection_terminated_by_the_server_gives_503_then_recovers(
    database_url: str, people: dict[str, dict[str, object]]
) -> None:
    # The app's own engine (not the tests' transaction), its pooled connections never pinged:
    # the server ends them (as a restart does), and the next request meets a dead connection.
    tag = f"ops_outage_{uuid.uuid4().hex[:8]}"
    url = make_url(database_url).update_query_dict({"application_name": tag})
    app = _app(url.render_as_string(hide_password=False), DATABASE_PING_AFTER_IDLE_SECONDS=3600.0)
    client = app.test_client()
    headers = {**support.auth(people, "officer_a"), "Accept-Language": "en"}
    assert client.get("/api/v1/categories", headers=headers).status_code == 200

    libpq = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(libpq, autocommit=True) as conn:
        ended = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = %s",
            (tag,),
        ).fetchone()[0]  # type: ignore[index]
    assert ended >= 1

    during = client.get("/api/v1/categories", headers=headers)
    assert during.status_code == 503, during.get_data(as_text=True)
    assert during.headers["Retry-After"] == "5"
    assert during.get_json()["error"]["code"] == "unavailable"
    # The dead connection was discarded: the next request is served again.
    assert client.get("/api/v1/categories", headers=headers).status_code == 200
