"""Operators' commands: `fieldapp check` (preflight), `fieldapp backup DIR`, `fieldapp restore
DIR`. Added to the console script by fieldapp.cli."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.exc import SQLAlchemyError

from fieldapp import localservices, preflight
from fieldapp.db import db


@click.command("check")
def check() -> None:
    """Preflight: print one line for each thing wrong with this installation (configuration,
    database, migrations, PostGIS, broker, secret key, export storage) and exit 1; "all
    good" otherwise."""
    from fieldapp import create_app

    # The app is made here, not by the CLI group: a setting it cannot even parse (a
    # malformed DATABASE_URL) is one more line of the report, not a traceback.
    try:
        app = create_app()
    except Exception as exc:  # any failure to configure is what this command reports
        click.echo(f"✗ configuration: {type(exc).__name__}: {str(exc).splitlines()[0]}")
        raise SystemExit(1) from None
    with app.app_context():
        problems = _problems()
    if problems:
        for problem in problems:
            click.echo(f"✗ {problem}")
        raise SystemExit(1)
    click.echo("all good")


def _problems() -> list[str]:
    problems: list[str] = []
    config = current_app.config
    if config.get("PRIVATE_BROKER") and config["AUTO_START_SERVICES"]:
        # The embedded default: the private redis starts on demand, as the database did.
        try:
            localservices.ensure_redis(Path(current_app.instance_path), progress=lambda _m: None)
        except localservices.ServiceError as exc:
            problems.append(f"broker unreachable: {str(exc).splitlines()[0]}")
    return problems + [
        p
        for p in preflight.problems(config, db.engine)
        if not (problems and p.startswith("broker unreachable"))
    ]


def _instance() -> Path:
    return Path(current_app.instance_path)


@click.command("backup")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@with_appcontext
def backup_command(folder: Path) -> None:
    """Back up the database (reports, photos, users, outbox, export files: pg_dump custom
    format), the instance folder's key files, and a manifest of every table's row count and
    checksum into FOLDER (new or empty)."""
    from fieldapp import backup

    progress = _progress()
    try:
        result = backup.backup(
            db.engine, current_app.config["DATABASE_URL"], _instance(), folder, progress
        )
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    except SQLAlchemyError as exc:
        raise click.ClickException(_database_problem(exc)) from exc
    click.echo(
        f"backup in {result.folder}: {result.tables} tables, dump {result.dump_bytes:,} bytes, "
        f"key files {', '.join(result.key_files) or 'none'}"
    )


@click.command("restore")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@with_appcontext
def restore_command(folder: Path) -> None:
    """Restore a backup FOLDER into the database of DATABASE_URL, which must be fresh (no
    tables); check every table against the backup's manifest; hand the outbox work not done
    at backup time to the relay once; put the key files into the instance folder (a
    different key found there is set aside as NAME.before-restore)."""
    from fieldapp import backup

    progress = _progress()
    try:
        result = backup.restore(
            db.engine,
            current_app.config["DATABASE_URL"],
            _instance(),
            folder,
            progress,
        )
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    except SQLAlchemyError as exc:
        raise click.ClickException(_database_problem(exc)) from exc
    click.echo(
        f"restored {result.tables} tables, all equal to the backup; "
        f"{result.outbox_requeued} outbox rows not done will be sent once"
    )
    if result.key_files_written:
        click.echo(f"key files written: {', '.join(result.key_files_written)}")
    if result.key_files_set_aside:
        click.echo(f"different keys found here, set aside: {', '.join(result.key_files_set_aside)}")
    if os.environ.get("SECRET_KEY"):
        click.echo(
            "SECRET_KEY is set in the environment: set it to the value the backed-up "
            "installation used, on every node"
        )


def _database_problem(exc: SQLAlchemyError) -> str:
    inner = getattr(exc, "orig", None) or exc
    first = next((line for line in str(inner).splitlines() if line.strip()), type(exc).__name__)
    return f"database: {first.strip()} (fieldapp check says more)"


def _progress() -> Callable[[str], None]:
    started = time.perf_counter()

    def say(message: str) -> None:
        click.echo(f"[{time.perf_counter() - started:6.1f}s] {message}", err=True)

    return say


COMMANDS = [check, backup_command, restore_command]
