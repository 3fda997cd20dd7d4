"""Every `fieldapp` command, run as a real process against a database server that cannot be
reached, a real database that was never migrated, and one behind the code (#15 item 11):
one line saying what is wrong and what to do, a non-zero exit, never a traceback. The
commands are read from the click group (a command added later is covered without listing
it); those that start or stop services or servers are left out."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from fieldapp import localservices
from fieldapp.cli import main

REPO = Path(__file__).resolve().parents[2]
FIELDAPP = Path(sys.executable).with_name("fieldapp")
#: Commands that do not work on the database: they start or stop servers and services.
NOT_DATABASE = {"run", "shell", "up", "routes", "services up", "services down", "keys show"}
BOUNDARIES = REPO / "tests" / "fixtures" / "boundaries" / "cell_outside_village.geojson"


def _commands() -> list[list[str]]:
    """Every leaf command with valid values for its required arguments and options."""
    values = {
        "path": str(BOUNDARIES),
        "file": str(BOUNDARIES),
        "lon": "119.5",
        "lat": "35.4",
        "username": "nobody",
    }
    out: list[list[str]] = []

    def walk(group: click.Group, prefix: list[str]) -> None:
        ctx = click.Context(group)
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            if command is None or " ".join([*prefix, name]) in NOT_DATABASE:
                continue
            if isinstance(command, click.Group):
                walk(command, [*prefix, name])
                continue
            argv = [*prefix, name]
            for param in command.params:
                if isinstance(param, click.Argument) and param.required:
                    argv.append(values.get(str(param.name), "x"))
                elif isinstance(param, click.Option) and (param.required or param.prompt):
                    choices = getattr(param.type, "choices", None)
                    value = str(choices[0]) if choices else "secret-pass-1"
                    argv += [param.opts[0], value]
            out.append(argv)

    walk(main, [])
    return out


# Every command runs with an instance folder and a working directory of its own: `keys
# rotate`, `backup x` and the like must never touch the checkout's own instance/ (its key
# file is what the other tests' app reads).
SCRATCH = Path(tempfile.mkdtemp(prefix="cli-states-"))


def _run(argv: list[str], database_url: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
        "FIELDAPP_DEBUG": "",
        "FIELDAPP_INSTANCE": str(SCRATCH / "instance"),
    }
    return subprocess.run(
        [str(FIELDAPP), *argv],
        env=env,
        cwd=SCRATCH,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )


@pytest.fixture(scope="module")
def server(database_url: str) -> str:
    return make_url(database_url).set(database="postgres").render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def unmigrated(server: str) -> Iterator[str]:
    """A real, empty database: no tables (what `make test` leaves before `make run`)."""
    name = f"fieldapp_cli_empty_{os.getpid()}"
    localservices.create_database(server, name)
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        localservices.drop_database(server, name)


@pytest.fixture(scope="module")
def outdated(server: str) -> Iterator[str]:
    """A database that records an older revision than the code's."""
    name = f"fieldapp_cli_old_{os.getpid()}"
    localservices.create_database(server, name)
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE alembic_version (version_num varchar(32))"))
        connection.execute(text("INSERT INTO alembic_version VALUES ('0001')"))
    engine.dispose()
    try:
        yield url
    finally:
        localservices.drop_database(server, name)


#: For the states other than "never migrated", a few commands stand for all (each process
#: costs seconds on a loaded machine; the wrapper is one and the same for every command).
SAMPLE = {"geo validate", "users list", "demo history"}


def _check_all(url: str, hint: str, skip: set[str], only: set[str] | None = None) -> int:
    commands = [c for c in _commands() if " ".join(c[:2]) not in skip and c[0] not in skip]
    if only is not None:
        commands = [c for c in commands if " ".join(c[:2]) in only]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda argv: (argv, _run(argv, url)), commands))
    for argv, result in results:
        output = result.stdout + result.stderr
        context = (argv, result.returncode, output[-800:])
        assert result.returncode != 0, context
        assert "Traceback" not in output and 'File "' not in output, context
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("error: ") and hint in last, context
    return len(results)


def test_every_command_against_an_unreachable_server_says_start_the_services() -> None:
    url = "postgresql+psycopg://fieldapp@127.0.0.1:1/fieldapp"
    assert _check_all(url, "fieldapp services up", set(), SAMPLE | {"db upgrade"}) == 4


def test_every_command_against_an_unmigrated_database_says_upgrade(unmigrated: str) -> None:
    # `db upgrade` is the remedy itself; `db current` says "empty" and exits 0 (below).
    # `check` is the diagnosis itself: a line per problem on stdout (test_check_command.py).
    # `restore` wants exactly such a database (it refuses one that has tables).
    skip = {"db upgrade", "db current", "check", "restore"}
    n = _check_all(unmigrated, "fieldapp db upgrade", skip=skip)
    check = _run(["check"], unmigrated)
    assert check.returncode == 1 and "run: fieldapp db upgrade" in check.stdout, check
    assert n >= 11
    current = _run(["db", "current"], unmigrated)
    assert current.returncode == 0 and "fieldapp db upgrade" in current.stdout


def test_every_command_against_an_outdated_database_says_upgrade(outdated: str) -> None:
    assert _check_all(outdated, "fieldapp db upgrade", {"db upgrade"}, SAMPLE) == 3


def test_a_database_url_that_is_no_url_says_how_to_write_one() -> None:
    result = _run(["geo", "stats"], "not a url")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: DATABASE_URL is not")
