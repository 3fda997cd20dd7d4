"""`fieldapp backup` then `fieldapp restore` into a fresh database, as an operator runs them
(real subprocesses, pg_dump/pg_restore, real PostgreSQL): every table comes back with the same
row count and checksum, the key files come back, the outbox work done stays done and the work
not done is sent exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, delete, select, text
from sqlalchemy.orm import Session

from fieldapp import backup, localservices
from fieldapp.models import OutboxMessage
from fieldapp.services import outbox


def _fieldapp(*args: str, database_url: str, instance: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "CELERY_BROKER_URL")}
    env |= {"DATABASE_URL": database_url, "FIELDAPP_INSTANCE": str(instance)}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "fieldapp"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


@pytest.fixture
def fresh_database(database_url: str) -> Iterator[str]:
    name = f"fieldapp_restored_{os.getpid()}"
    url = localservices.create_database(database_url, name, replace=True)
    try:
        yield url
    finally:
        localservices.drop_database(database_url, name)


@pytest.fixture
def outbox_rows(engine: Engine, people: dict) -> Iterator[dict[str, int]]:
    """A row done and a row dispatched but not done (its message in the old broker)."""
    with Session(engine) as session, session.begin():
        done = outbox.enqueue(session, "tests.backup_probe", {"which": "done"})
        undone = outbox.enqueue(session, "tests.backup_probe", {"which": "undone"})
        long_ago = datetime.now(UTC) - timedelta(hours=1)
        done.created_at = undone.created_at = long_ago
        done.dispatched_at = done.done_at = undone.dispatched_at = long_ago
        ids = {"done": done.id, "undone": undone.id}
    yield ids
    with Session(engine) as session, session.begin():
        session.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(ids.values())))


def test_backup_and_restore_into_a_fresh_database_round_trip(
    engine: Engine,
    database_url: str,
    fresh_database: str,
    outbox_rows: dict[str, int],
    tmp_path: Path,
) -> None:
    source_instance = tmp_path / "source-instance"
    source_instance.mkdir()
    (source_instance / "secret_key").write_text("k" * 64)
    (source_instance / "field_encryption_key").write_bytes(os.urandom(32))
    folder = tmp_path / "backup-1"

    made = _fieldapp("backup", str(folder), database_url=database_url, instance=source_instance)
    assert made.returncode == 0, made.stderr
    assert "backup in" in made.stdout and "secret_key" in made.stdout
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["key_files"] == ["field_encryption_key", "secret_key"]
    assert manifest["tables"]["reports"][0] >= 0 and "outbox" in manifest["tables"]
    assert manifest["tables"]["cells"][0] >= 48  # the small city is in it

    target_instance = tmp_path / "new-machine-instance"
    restored = _fieldapp(
        "restore", str(folder), database_url=fresh_database, instance=target_instance
    )
    assert restored.returncode == 0, restored.stderr
    assert "all equal to the backup" in restored.stdout

    fresh = create_engine(fresh_database)
    try:
        before = backup.table_fingerprints(engine)
        after = backup.table_fingerprints(fresh)
        assert sorted(before) == sorted(after)
        # Every table alike, but the outbox (its undone rows were handed to the relay) and the
        # relay's checkpoints of the old broker (forgotten).
        changed = {"outbox", "outbox_checkpoints"}
        assert {t: v for t, v in before.items() if t not in changed} == {
            t: v for t, v in after.items() if t not in changed
        }
        assert before["outbox"][0] == after["outbox"][0]
        with fresh.connect() as connection:
            assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        for name in ("secret_key", "field_encryption_key"):
            assert (target_instance / name).read_bytes() == (source_instance / name).read_bytes()
            assert (target_instance / name).stat().st_mode & 0o077 == 0

        # The relay of the restored installation: the undone row once, the done one never.
        sent: list[int] = []

        def send(task: str, kwargs: dict[str, Any]) -> None:
            if "outbox_id" in kwargs:
                sent.append(kwargs["outbox_id"])

        later = datetime.now(UTC) + outbox.FAST_PATH_GRACE + timedelta(seconds=1)
        with Session(fresh) as session:
            outbox.relay(session, send, now=later, limit=100_000)
            outbox.relay(session, send, now=later + timedelta(minutes=5), limit=100_000)
            undone_at_dump = set(
                session.execute(
                    select(OutboxMessage.id).where(OutboxMessage.done_at.is_(None))
                ).scalars()
            )
        assert outbox_rows["undone"] in sent and outbox_rows["done"] not in sent
        assert sorted(sent) == sorted(undone_at_dump)  # each exactly once
    finally:
        fresh.dispose()

    # Restoring again over the restored data is refused, with a reason and no traceback.
    again = _fieldapp("restore", str(folder), database_url=fresh_database, instance=target_instance)
    assert again.returncode == 1
    assert "not empty" in again.stderr


def test_backup_refuses_a_folder_in_use_and_restore_a_folder_that_is_no_backup(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    used = tmp_path / "used"
    used.mkdir()
    (used / "something").write_text("x")
    made = _fieldapp("backup", str(used), database_url=database_url, instance=tmp_path / "i")
    assert made.returncode == 1 and "is not empty" in made.stderr
    restored = _fieldapp("restore", str(used), database_url=database_url, instance=tmp_path / "i")
    assert restored.returncode == 1 and "manifest.json is missing" in restored.stderr


def test_backup_with_the_database_away_says_so_without_a_traceback(tmp_path: Path) -> None:
    made = _fieldapp(
        "backup",
        str(tmp_path / "b"),
        database_url="postgresql+psycopg://nobody@127.0.0.1:1/none",
        instance=tmp_path / "i",
    )
    assert made.returncode == 1
    assert "error: database: connection failed" in made.stderr
