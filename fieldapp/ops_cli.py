"""Operators' commands: `fieldapp check` (preflight), `fieldapp backup DIR`, `fieldapp restore
DIR`. Added to the console script by fieldapp.cli."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from fieldapp import localservices, preflight
from fieldapp.db import db


@click.command("check")
@with_appcontext
def check() -> None:
    """Preflight: print one line for each thing wrong with this installation (database,
    migrations, PostGIS, broker, secret key, export storage) and exit 1; "all good"
    otherwise."""
    problems: list[str] = []
    config = current_app.config
    if config.get("PRIVATE_BROKER") and config["AUTO_START_SERVICES"]:
        # The embedded default: the private redis starts on demand, as the database did.
        try:
            localservices.ensure_redis(Path(current_app.instance_path), progress=lambda _m: None)
        except localservices.ServiceError as exc:
            problems.append(f"broker unreachable: {str(exc).splitlines()[0]}")
    problems += [
        p
        for p in preflight.problems(config, db.engine)
        if not (problems and p.startswith("broker unreachable"))
    ]
    if problems:
        for problem in problems:
            click.echo(f"✗ {problem}")
        raise SystemExit(1)
    click.echo("all good")


COMMANDS = [check]
