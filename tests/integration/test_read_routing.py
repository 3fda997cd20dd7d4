"""Read routing in the app (fieldapp.db.read_session) when the configured replica cannot be
used: unreachable, or not a standby at all. The answers are the same, read from the primary,
and say so; with no replica configured nothing changes. (The real replica, lagging and
stopped: tests/integration/test_two_nodes.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from fieldapp import create_app
from fieldapp.db import READ_SOURCE_HEADER
from tests.support import auth

NOWHERE = "postgresql+psycopg://postgres@/fieldapp?host=/nonexistent&port=5432"


def _app(database_url: str, replica: str, tmp_path: Path) -> Flask:
    return create_app(
        {
            "TESTING": True,
            "DATA_KEYS_FILE": str(tmp_path / "data_keys.json"),
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": "memory://",
            "SECRET_KEY": "test",
            "KPI_CACHE_SECONDS": 0,
            "REPLICA_DATABASE_URL": replica,
        }
    )


@pytest.mark.parametrize("replica", ["nowhere", "a primary"])
def test_an_unusable_replica_leaves_the_reads_on_the_primary(
    database_url: str, people: dict, tmp_path: Path, app: Flask, replica: str
) -> None:
    routed = _app(database_url, NOWHERE if replica == "nowhere" else database_url, tmp_path)
    client = routed.test_client()
    for path in ("/api/v1/rollups?level=county", "/api/v1/layers/choropleth?level=township"):
        r = client.get(path, headers=auth(people, "city"))
        assert r.status_code == 200, r.get_json()
        assert r.headers[READ_SOURCE_HEADER] == "primary"
        # The same figures as the app without a replica.
        plain = app.test_client().get(path, headers=auth(people, "city"))
        assert READ_SOURCE_HEADER not in plain.headers
        assert r.get_json() == plain.get_json()
    router = routed.extensions["fieldapp.replica_router"]
    assert router.last_error
    # Writes are not routed: no header on an answer that read nothing through read_session.
    assert READ_SOURCE_HEADER not in client.get("/healthz").headers
