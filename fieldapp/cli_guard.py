"""The `fieldapp` command from any state: a database that cannot be reached, one that exists
but was never migrated (or is behind the code), a broker that is down — every command then
prints one line saying what is wrong and what to do, and exits non-zero. Never a traceback.

One wrapper around every command (`GuardedGroup.invoke`), so commands added later are covered
without doing anything: a failure is recognised by its kind, and for a database failure the
database's state is looked at then, to say the right thing."""

from __future__ import annotations

import os
from typing import Any

import click
from flask.cli import FlaskGroup, ScriptInfo
from sqlalchemy import exc as sa_exc

#: Set to 1 to see the traceback of an unexpected failure (developers; never the default).
DEBUG_VARIABLE = "FIELDAPP_DEBUG"
UPGRADE = "run `fieldapp db upgrade`"
START = (
    "start the services: `fieldapp services up` (the private ones under instance/), or check "
    "DATABASE_URL"
)


def _first_line(err: BaseException) -> str:
    text = str(getattr(err, "orig", None) or err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _database_url(ctx: click.Context) -> str:
    """The database's URL without its password, as far as the configuration says."""
    try:
        app = ctx.ensure_object(ScriptInfo).load_app()
        url = app.config.get("DATABASE_URL") or ""
    except Exception:  # noqa: BLE001 - only for the message
        url = os.environ.get("DATABASE_URL", "")
    if not url:
        return "the private database"
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa_exc.ArgumentError:
        return "DATABASE_URL"


def database_state(url: str) -> tuple[str, str | None, str]:
    """("unreachable" | "unmigrated" | "outdated" | "ready", the applied revision, detail):
    connects afresh, so what it says is the state now, not when the command failed."""
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine

    from fieldapp import migrate

    engine = create_engine(url, pool_pre_ping=False)
    try:
        try:
            revision = migrate.current_revision(engine)
        except sa_exc.OperationalError as err:
            return "unreachable", None, _first_line(err)
        if revision is None:
            return "unmigrated", None, ""
        head = ScriptDirectory.from_config(migrate.alembic_config(engine)).get_current_head()
        return ("ready" if revision == head else "outdated"), revision, str(head)
    finally:
        engine.dispose()


def explain_database_failure(ctx: click.Context, err: BaseException) -> str:
    """One line: what is wrong with the database and what to do."""
    where = _database_url(ctx)
    try:
        app = ctx.ensure_object(ScriptInfo).load_app()
        state, revision, detail = database_state(app.config["DATABASE_URL"])
    except Exception as probe_err:  # noqa: BLE001 - the app itself cannot start
        state, revision, detail = "unreachable", None, _first_line(probe_err)
    if state == "unreachable":
        return f"cannot reach the database ({where}): {detail}; {START}."
    if state == "unmigrated":
        return f"the database ({where}) has no tables yet; {UPGRADE} first."
    if state == "outdated":
        return (
            f"the database ({where}) is at revision {revision}, the code needs {detail}; "
            f"{UPGRADE} first."
        )
    return f"the database refused the command: {_first_line(err)}."


def explain(ctx: click.Context, err: BaseException) -> str:
    """The one line for any failure of a command."""
    if isinstance(err, sa_exc.OperationalError | sa_exc.ProgrammingError | sa_exc.InternalError):
        return explain_database_failure(ctx, err)
    if isinstance(err, sa_exc.ArgumentError):
        return (
            f"DATABASE_URL is not a database URL ({_first_line(err)}); set it like "
            "postgresql+psycopg://user:password@host/dbname, or unset it for the private one."
        )
    if isinstance(err, sa_exc.SQLAlchemyError):
        return f"the database refused the command: {_first_line(err)}."
    module = type(err).__module__
    if module.startswith("psycopg"):
        return explain_database_failure(ctx, err)
    if module.startswith(("kombu", "redis", "amqp")) or isinstance(err, ConnectionError):
        return f"cannot reach the message broker: {_first_line(err)}; {START}."
    if isinstance(err, ModuleNotFoundError):
        return (
            f"the module {err.name} is not installed (a DATABASE_URL or broker of a kind this "
            "app does not use?); use PostgreSQL and redis/RabbitMQ URLs, or run `make setup`."
        )
    if isinstance(err, PermissionError | FileNotFoundError | IsADirectoryError):
        return f"{err.strerror}: {err.filename}."
    return (
        f"{type(err).__name__}: {_first_line(err)} (unexpected; set {DEBUG_VARIABLE}=1 to see "
        "where)."
    )


class GuardedGroup(FlaskGroup):
    """Flask's command group, with every command's failures turned into one line and exit
    status 1 (usage errors and exits pass as they are)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.UsageError, click.exceptions.Exit, click.Abort):
            raise
        except click.exceptions.ClickException as err:
            # A command's own refusal reads like every other failure: one "error:" line.
            click.echo(f"error: {err.format_message()}", err=True)
            raise click.exceptions.Exit(err.exit_code) from None
        except (SystemExit, KeyboardInterrupt, GeneratorExit):
            raise
        except Exception as err:
            if os.environ.get(DEBUG_VARIABLE) == "1":
                raise
            click.echo(f"error: {explain(ctx, err)}", err=True)
            raise click.exceptions.Exit(1) from None
