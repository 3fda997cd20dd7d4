"""The liveness probe answers without signing in and without touching the database."""

from __future__ import annotations

from flask.testing import FlaskClient


def test_healthz_answers_ok_without_a_session(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_healthz_needs_no_database() -> None:
    # An app pointed at a server that does not exist still reports itself alive.
    from fieldapp import create_app

    dead = create_app(
        {
            "DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",
            "CELERY_BROKER_URL": "memory://",
            "SECRET_KEY": "test",
        }
    )
    response = dead.test_client().get("/healthz")
    assert response.status_code == 200
