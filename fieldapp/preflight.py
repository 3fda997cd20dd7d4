"""`fieldapp check`: what is wrong with this installation's configuration, one line each, before
anything is started on it (database, migrations, PostGIS, broker, secret key, export store).

Plain functions over the app's configuration, so that the command, tests and a deployment
script all ask the same questions."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from fieldapp import health

# Secret keys that are not secrets: the examples of our own docs and tests, and common
# placeholders. Anyone who knows one can sign a session cookie for any user.
KNOWN_WEAK_SECRETS = frozenset(
    {"", "test", "dev", "secret", "changeme", "change-me", "please-change-me", "CHANGE_ME"}
)
MIN_SECRET_LENGTH = 32


def secret_key_problem(config: Mapping[str, Any], environ: Mapping[str, str]) -> str | None:
    """A deployment (DATABASE_URL set) must set SECRET_KEY, the same on every web node: the
    default, a key generated into each machine's instance folder, differs between machines,
    so a session signed by one node is refused by the next."""
    key = str(config.get("SECRET_KEY") or "")
    if key in KNOWN_WEAK_SECRETS or key.lower().startswith("change"):
        return "secret key is a placeholder: set SECRET_KEY to a long random value"
    if environ.get("DATABASE_URL") and not environ.get("SECRET_KEY"):
        return (
            "secret key missing: SECRET_KEY is not set, so each machine uses its own "
            "instance/secret_key; set the same SECRET_KEY on every node "
            '(python -c "import secrets; print(secrets.token_hex(32))")'
        )
    if len(key) < MIN_SECRET_LENGTH:
        return f"secret key too short: {len(key)} characters, use at least {MIN_SECRET_LENGTH}"
    return None


def export_storage_problem(engine: Engine, scratch_dir: Path) -> str | None:
    """Finished export files live in PostgreSQL (every node reads them); the worker writes
    them first into its scratch folder, which must be writable."""
    try:
        with engine.connect() as connection:
            table = connection.execute(text("SELECT to_regclass('export_file_chunks')")).scalar()
    except Exception:  # the database check says what is wrong with the database
        return None
    if table is None:
        return (
            "export storage not shared: table export_file_chunks missing (run: fieldapp db upgrade)"
        )
    try:
        scratch_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=scratch_dir):
            pass
    except OSError as exc:
        return f"export scratch folder not writable: {scratch_dir} ({exc.strerror or exc})"
    return None


def problems(config: Mapping[str, Any], engine: Engine) -> list[str]:
    """Every problem found, one line each, in the order an operator fixes them."""
    found: list[str] = []
    schema_ok = False
    database = health.check_database(engine)
    if database:
        found.append(database)
    else:
        schema = [p for p in (health.check_postgis(engine), health.check_migrations(engine)) if p]
        found += schema
        schema_ok = not schema
    broker = health.check_broker(str(config["CELERY_BROKER_URL"]))
    if broker:
        found.append(broker)
    secret = secret_key_problem(config, os.environ)
    if secret:
        found.append(secret)
    if schema_ok:  # otherwise a missing table only repeats "migrations behind"
        export = export_storage_problem(engine, Path(str(config["EXPORT_DIR"])))
        if export:
            found.append(export)
    return found
