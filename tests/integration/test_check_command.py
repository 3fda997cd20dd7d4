"""`fieldapp check` on each broken configuration, as operators run it: a real subprocess with
the environment of a deployment, real PostgreSQL and redis (or a port where none listens)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fieldapp import health, localservices

GOOD_KEY = "0123456789abcdef" * 4
DEAD_DATABASE = "postgresql+psycopg://nobody@127.0.0.1:1/none"
DEAD_BROKER = "redis://127.0.0.1:1/0"


def _check(tmp_path: Path, **env: str) -> tuple[int, list[str]]:
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "SECRET_KEY")
    }
    environ |= {
        "FIELDAPP_INSTANCE": str(tmp_path / "instance"),
        "FIELDAPP_AUTO_START_SERVICES": "0",
        "FIELDAPP_EXPORT_DIR": str(tmp_path / "exports"),
        **env,
    }
    done = subprocess.run(
        [str(Path(sys.executable).parent / "fieldapp"), "check"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout.splitlines()


@pytest.fixture
def bare_database(database_url: str) -> Iterator[str]:
    """A database with no PostGIS and no tables."""
    name = f"fieldapp_bare_{os.getpid()}"
    url = localservices.create_database(database_url, name, (), replace=True)
    try:
        yield url
    finally:
        localservices.drop_database(database_url, name)


def test_all_good(tmp_path: Path, database_url: str, engine: object, broker_url: str) -> None:
    code, lines = _check(
        tmp_path, DATABASE_URL=database_url, CELERY_BROKER_URL=broker_url, SECRET_KEY=GOOD_KEY
    )
    assert (code, lines) == (0, ["all good"])


def test_database_and_broker_unreachable(tmp_path: Path) -> None:
    code, lines = _check(
        tmp_path, DATABASE_URL=DEAD_DATABASE, CELERY_BROKER_URL=DEAD_BROKER, SECRET_KEY=GOOD_KEY
    )
    assert code == 1
    assert [line.split(":")[0] for line in lines] == [
        "✗ database unreachable",
        "✗ broker unreachable",
    ]
    assert "port 1" in lines[0] and "Connection refused" in lines[0]


def test_postgis_missing_and_migrations_behind(
    tmp_path: Path, bare_database: str, broker_url: str
) -> None:
    code, lines = _check(
        tmp_path, DATABASE_URL=bare_database, CELERY_BROKER_URL=broker_url, SECRET_KEY=GOOD_KEY
    )
    assert code == 1
    assert lines == [
        "✗ PostGIS missing: run CREATE EXTENSION postgis in the database (as a superuser)",
        f"✗ migrations behind: database at none, code at {health.migration_head()} "
        "(run: fieldapp db upgrade)",
    ]


@pytest.mark.parametrize(
    ("secret", "expected"),
    [
        (None, "✗ secret key missing: SECRET_KEY is not set"),
        ("changeme", "✗ secret key is a placeholder"),
        ("short-but-not-a-placeholder", "✗ secret key too short: 27 characters"),
    ],
)
def test_secret_key_missing_or_weak(
    tmp_path: Path,
    database_url: str,
    engine: object,
    broker_url: str,
    secret: str | None,
    expected: str,
) -> None:
    env = {"DATABASE_URL": database_url, "CELERY_BROKER_URL": broker_url}
    if secret is not None:
        env["SECRET_KEY"] = secret
    code, lines = _check(tmp_path, **env)
    assert code == 1
    assert len(lines) == 1 and lines[0].startswith(expected), lines


def test_export_scratch_folder_not_writable(
    tmp_path: Path, database_url: str, engine: object, broker_url: str
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, lines = _check(
        tmp_path,
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=broker_url,
        SECRET_KEY=GOOD_KEY,
        FIELDAPP_EXPORT_DIR=str(blocker / "exports"),
    )
    assert code == 1
    assert len(lines) == 1 and lines[0].startswith("✗ export scratch folder not writable:")


def test_a_setting_that_cannot_be_parsed(tmp_path: Path) -> None:
    code, lines = _check(
        tmp_path, DATABASE_URL="not a url", CELERY_BROKER_URL=DEAD_BROKER, SECRET_KEY=GOOD_KEY
    )
    assert code == 1
    assert lines == [
        "✗ configuration: ArgumentError: Could not parse SQLAlchemy URL from given URL string"
    ]


def test_replica_that_is_a_primary(
    tmp_path: Path, database_url: str, engine: object, broker_url: str
) -> None:
    code, lines = _check(
        tmp_path,
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=broker_url,
        SECRET_KEY=GOOD_KEY,
        FIELDAPP_REPLICA_DATABASE_URL=database_url,  # the primary itself: not in recovery
    )
    assert code == 1
    assert len(lines) == 1, lines
    assert lines[0].startswith("✗ replica is not a standby: FIELDAPP_REPLICA_DATABASE_URL names")


def test_replica_unreachable(
    tmp_path: Path, database_url: str, engine: object, broker_url: str
) -> None:
    code, lines = _check(
        tmp_path,
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=broker_url,
        SECRET_KEY=GOOD_KEY,
        FIELDAPP_REPLICA_DATABASE_URL=DEAD_DATABASE,
    )
    assert code == 1
    assert len(lines) == 1, lines
    assert lines[0].startswith("✗ replica unreachable: ") and "port 1" in lines[0], lines
