"""Backups that are proven: `fieldapp backup DIR` and `fieldapp restore DIR`.

A backup folder holds
- `database.dump`: pg_dump's custom format of the whole database — reports, cases, photos
  (stored in PostgreSQL), users, the outbox, and the export files (fieldapp.export_store);
- `instance/`: the key files of the instance folder (the session-signing `secret_key`, and any
  other `*key*` file such as a field-encryption key) — without them a restored database
  cannot be read or its sessions trusted;
- `manifest.json`: when, from which revision, and each table's row count and checksum as the
  dump saw them, which `restore` compares the restored tables with.

Restoring goes into a fresh database (one with no tables of ours). The outbox comes back as it
was at dump time: rows done stay done (never replayed); rows not done are handed to the relay
once (their messages were in the old broker, which the new installation does not have), and
the tasks' claim makes their work happen once."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from fieldapp import localservices

DUMP_NAME = "database.dump"
MANIFEST_NAME = "manifest.json"
KEYS_DIR = "instance"
FORMAT_VERSION = 1

Progress = Callable[[str], None]


class BackupError(Exception):
    """Something an operator can act on; the message says what."""


def _libpq(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _tool(name: str) -> Path:
    """pg_dump / pg_restore of the newest PostgreSQL installed (a newer client reads and
    writes older servers' dumps, never the reverse)."""
    try:
        return localservices.find_pg_bindir() / name
    except localservices.ServiceError as exc:
        raise BackupError(str(exc)) from exc


def our_tables(engine: Engine) -> list[str]:
    """The tables of the public schema, PostGIS's own left out."""
    with engine.connect() as connection:
        names: list[Any] = list(
            connection.execute(
                text(
                    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"
                    " AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid"
                    "                 AND d.deptype = 'e')"
                    " ORDER BY c.relname"
                )
            ).scalars()
        )
    return [str(name) for name in names]


def table_fingerprints(engine: Engine, tables: list[str] | None = None) -> dict[str, list[Any]]:
    """For each table: [row count, checksum]. The checksum adds up 64 bits of each row's md5
    (of its text form), so it needs no order and no memory beyond one number."""
    tables = tables if tables is not None else our_tables(engine)
    with engine.connect() as connection:
        # One snapshot for every table: counts agree with each other.
        connection.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        return _fingerprints_in(connection, tables)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class BackupResult:
    folder: Path
    dump_bytes: int
    tables: int
    key_files: list[str]


def backup(
    engine: Engine, database_url: str, instance: Path, folder: Path, progress: Progress
) -> BackupResult:
    """Write a backup of the database and the instance's key files into `folder` (created;
    must be empty if it exists)."""
    from fieldapp.migrate import current_revision

    if current_revision(engine) is None:
        # An unmigrated database holds nothing of the platform's: a "backup" of it would
        # only mislead the one who later needs to restore it.
        raise BackupError(
            "the database has no platform tables (not migrated): nothing to back up; "
            "run `fieldapp db upgrade` first if this is the right database"
        )
    if folder.exists() and any(folder.iterdir()):
        raise BackupError(f"{folder} is not empty: give a new folder for each backup")
    folder.mkdir(parents=True, exist_ok=True)
    dump = folder / DUMP_NAME
    # The checksums and the dump each see one snapshot; writes in between (the platform keeps
    # running) would make them differ, so the dump uses a snapshot exported by the very
    # transaction that computes the checksums.
    with engine.connect() as connection:
        connection.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
        snapshot = str(connection.execute(text("SELECT pg_export_snapshot()")).scalar_one())
        progress("checksums of every table ...")
        tables = _fingerprints_in(connection, our_tables(engine))
        progress(f"pg_dump (custom format) into {dump} ...")
        proc = subprocess.run(
            [
                _tool("pg_dump"),
                "--format=custom",
                f"--snapshot={snapshot}",
                "--no-owner",
                f"--file={dump}",
                f"--dbname={_libpq(database_url)}",
            ],
            capture_output=True,
            text=True,
        )
        connection.rollback()
    if proc.returncode != 0:
        raise BackupError(f"pg_dump failed: {proc.stderr.strip()}")
    keys_dir = folder / KEYS_DIR
    keys_dir.mkdir()
    key_files: list[str] = []
    for path in sorted(instance.glob("*key*")):
        if path.is_file():
            shutil.copy2(path, keys_dir / path.name)
            (keys_dir / path.name).chmod(0o600)
            key_files.append(path.name)
    manifest = {
        "format": FORMAT_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "revision": current_revision(engine),
        "dump": {"file": DUMP_NAME, "bytes": dump.stat().st_size, "sha256": _sha256(dump)},
        "key_files": key_files,
        "tables": tables,
    }
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    folder.chmod(0o700)  # the keys and personal data are in it
    return BackupResult(folder, dump.stat().st_size, len(tables), key_files)


def _fingerprints_in(connection: Any, tables: list[str]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for table in tables:
        quoted = '"' + table.replace('"', '""') + '"'
        count, checksum = connection.execute(
            text(
                "SELECT count(*), coalesce(sum(('x' || substr(md5(t::text), 1, 16))"
                f"::bit(64)::bigint::numeric), 0)::text FROM {quoted} AS t"
            )
        ).one()
        out[table] = [int(count), str(checksum)]
    return out


@dataclass(frozen=True)
class RestoreResult:
    tables: int
    outbox_requeued: int
    key_files_written: list[str]
    key_files_set_aside: list[str]


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST_NAME
    if not path.is_file():
        raise BackupError(f"{folder} is not a backup folder: {MANIFEST_NAME} is missing")
    manifest: dict[str, Any] = json.loads(path.read_text())
    if manifest.get("format") != FORMAT_VERSION:
        raise BackupError(f"unknown backup format {manifest.get('format')!r} in {path}")
    return manifest


def restore(
    engine: Engine,
    database_url: str,
    instance: Path,
    folder: Path,
    progress: Progress,
) -> RestoreResult:
    """Restore a backup folder into the (fresh) database of `database_url`, check every
    table against the manifest, hand the outbox rows not done to the relay once, and put the
    key files into the instance folder."""
    manifest = read_manifest(folder)
    dump = folder / DUMP_NAME
    if not dump.is_file() or _sha256(dump) != manifest["dump"]["sha256"]:
        raise BackupError(f"{dump} is missing or not the file the manifest describes")
    present = our_tables(engine)
    if present:
        raise BackupError(
            f"the database is not empty ({len(present)} tables, e.g. {present[0]}): restore "
            "into a fresh database (createdb, then point DATABASE_URL at it)"
        )
    progress(f"pg_restore from {dump} ...")
    proc = subprocess.run(
        [
            _tool("pg_restore"),
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            f"--dbname={_libpq(database_url)}",
            dump,
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise BackupError(f"pg_restore failed: {proc.stderr.strip()}")
    progress("comparing every table with the manifest ...")
    expected: dict[str, list[Any]] = manifest["tables"]
    restored = table_fingerprints(engine, sorted(expected))
    differing = sorted(t for t in expected if restored.get(t) != expected[t])
    if differing:
        raise BackupError(
            "restored tables differ from the backup: "
            + ", ".join(f"{t} {restored.get(t)} != {expected[t]}" for t in differing)
        )
    requeued = _requeue_undone_outbox(engine)
    written, set_aside = _restore_keys(folder / KEYS_DIR, instance)
    return RestoreResult(len(expected), requeued, written, set_aside)


def _requeue_undone_outbox(engine: Engine) -> int:
    """Rows not done at dump time had their messages in the old broker: mark them for the
    relay to send once (fieldapp.services.outbox.relay sends rows never handed over with
    attempts > 0 after its grace). Old checkpoints describe the old broker: forgotten."""
    with engine.begin() as connection:
        count = connection.execute(
            text(
                "UPDATE outbox SET dispatched_at = NULL, attempts = attempts + 1,"
                " last_error = 'restored from a backup: sent again once'"
                " WHERE done_at IS NULL"
            )
        ).rowcount
        connection.execute(text("DELETE FROM outbox_checkpoints"))
    return int(count or 0)


def _restore_keys(source: Path, instance: Path) -> tuple[list[str], list[str]]:
    """Put the backup's key files into the instance folder. A different key already there
    (a new machine's first command generates a secret_key) is kept beside it as
    `<name>.before-restore`; the restored data needs the backup's."""
    written: list[str] = []
    set_aside: list[str] = []
    if not source.is_dir():
        return written, set_aside
    instance.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.iterdir()):
        target = instance / path.name
        if target.exists() and target.read_bytes() != path.read_bytes():
            aside = target.with_name(f"{target.name}.before-restore")
            shutil.copy2(target, aside)
            set_aside.append(aside.name)
        shutil.copy2(path, target)
        os.chmod(target, 0o600)
        written.append(path.name)
    return written, set_aside
