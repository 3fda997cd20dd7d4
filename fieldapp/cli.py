"""The `fieldapp` console script: a Flask CLI group with every operational command."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from fieldapp import create_app, front_proxy, localservices
from fieldapp.cli_guard import GuardedGroup
from fieldapp.db import db


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2))


class Progress:
    """Step lines with elapsed time, so long commands show they are alive."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    def __call__(self, message: str) -> None:
        click.echo(f"[{time.perf_counter() - self.started:6.1f}s] {message}", err=True)


# --- db ------------------------------------------------------------------------------------

db_cli = AppGroup("db", help="Database schema.")


@db_cli.command("upgrade")
@with_appcontext
def db_upgrade() -> None:
    """Apply every migration (creates the PostGIS extension and all tables)."""
    from fieldapp import migrate

    migrate.upgrade(db.engine)
    click.echo(f"database at revision {migrate.current_revision(db.engine)}")


@db_cli.command("current")
@with_appcontext
def db_current() -> None:
    """Print the applied migration revision."""
    from fieldapp import migrate

    click.echo(migrate.current_revision(db.engine) or "empty (run: fieldapp db upgrade)")


# --- geo -----------------------------------------------------------------------------------

geo_cli = AppGroup("geo", help="Geography: boundaries, the demo city, locating points.")


def _read_or_exit(path: str, progress: Progress) -> list[Any]:
    from grid.boundary_io import BoundaryFileError, read_boundaries

    progress(f"reading {path}")
    try:
        features, problems = read_boundaries(Path(path))
    except BoundaryFileError as err:
        raise click.ClickException(str(err)) from None
    except OSError as err:
        raise click.ClickException(f"cannot read {path}: {err.strerror}") from None
    if problems:
        _print_problems(problems)
        raise click.exceptions.Exit(1)
    return features


def _print_problems(problems: list[Any]) -> None:
    for problem in problems:
        click.echo(str(problem), err=True)
    click.echo(
        f"{len(problems)} problem(s); nothing was written. Fix the file (or try --repair for "
        "invalid geometry and slivers) and run the command again.",
        err=True,
    )


@geo_cli.command("validate")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def geo_validate(path: str) -> None:
    """Check a boundary file (GeoJSON or Shapefile) without writing anything."""
    from grid import queries
    from grid.validation import validate

    progress = Progress()
    features = _read_or_exit(path, progress)
    progress(f"validating {len(features):,} features")
    known = frozenset(queries.area_ids_by_code(db.session))
    problems = validate(features, known_codes=known)
    if problems:
        _print_problems(problems)
        raise click.exceptions.Exit(1)
    click.echo(f"ok: {len(features):,} features, no problems")


@geo_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--repair", is_flag=True, help="Make invalid geometry valid and snap slivers.")
@with_appcontext
def geo_import(path: str, repair: bool) -> None:
    """Validate and import a boundary file in one transaction (all or nothing)."""
    from grid.importer import BoundaryProblems, import_boundaries
    from grid.validation import repair as repair_features

    progress = Progress()
    features = _read_or_exit(path, progress)
    if repair:
        features, changes = repair_features(features)
        for change in changes:
            click.echo(f"repaired: {change}", err=True)
    try:
        with db.transaction() as session:
            summary = import_boundaries(session, features, source=path, progress=progress)
    except BoundaryProblems as err:
        _print_problems(err.problems)
        raise click.exceptions.Exit(1) from None
    _echo_json(summary.as_dict())


@geo_cli.command("demo")
@click.option("--seed", default=1, show_default=True, help="Seed of the synthetic geometry.")
@click.option("--if-empty", is_flag=True, help="Do nothing when cells are already loaded.")
@with_appcontext
def geo_demo(seed: int, if_empty: bool) -> None:
    """Build the demo Rizhao (real names and codes, synthetic villages and cells) and load it."""
    from fieldapp.demo.accounts import load_demo_city
    from grid import queries

    if if_empty and queries.level_counts(db.session)["cells"]:
        click.echo("demo city: boundaries already loaded, nothing to do")
        return
    progress = Progress()
    with db.transaction() as session:
        result = load_demo_city(session, seed=seed, progress=progress)
    progress("done")
    _echo_json(result)


#: What to do on an empty database (the tables there, no areas in them).
NO_GEOGRAPHY = (
    "no geography loaded yet; load the demo city (`fieldapp geo demo`) or boundaries "
    "(`fieldapp geo import FILE`) first"
)


@geo_cli.command("locate")
@click.argument("lon", type=float)
@click.argument("lat", type=float)
@with_appcontext
def geo_locate(lon: float, lat: float) -> None:
    """Print the cell and chain of a WGS-84 point, as GET /api/v1/locate answers."""
    from fieldapp.services.locating import locate_point
    from grid import queries

    if not any(queries.level_counts(db.session).values()):
        raise click.ClickException(NO_GEOGRAPHY)
    _echo_json(locate_point(db.session, lon, lat))


@geo_cli.command("stats")
@with_appcontext
def geo_stats() -> None:
    """Counts per level as JSON."""
    from grid import queries

    _echo_json(queries.level_counts(db.session))


# --- services and running ------------------------------------------------------------------

services_cli = AppGroup("services", help="The private PostgreSQL and redis under instance/.")


@services_cli.command("up")
@with_appcontext
def services_up() -> None:
    """Start the private services that no URL overrides (idempotent)."""
    click.echo(f"database: {current_app.config['DATABASE_URL']}")
    click.echo(f"broker:   {_ensure_broker()}")


@services_cli.command("down")
def services_down() -> None:
    """Stop the private PostgreSQL and redis cleanly."""
    instance = _instance_path()
    localservices.stop_redis(instance)
    localservices.stop_postgres(instance)
    click.echo("private services stopped")


def _instance_path() -> Path:
    return Path(
        os.environ.get("FIELDAPP_INSTANCE") or Path(__file__).resolve().parent.parent / "instance"
    )


def _ensure_broker() -> str:
    url: str = current_app.config["CELERY_BROKER_URL"]
    if current_app.config.get("PRIVATE_BROKER"):
        url = localservices.ensure_redis(Path(current_app.instance_path), progress=click.echo)
    return url


@click.command("up")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@click.option("--seed", default=1, show_default=True, help="Seed of the demo city.")
@click.option(
    "--with-history/--no-history",
    default=True,
    show_default=True,
    help="On an empty database, also load a year of demo reports with an injected cluster "
    "and compute the hotspot alerts, so the maps and queues have something to show.",
)
@with_appcontext
def up(host: str, port: int, seed: int, with_history: bool) -> None:
    """Everything `make run` does: services, migrations, the demo city when the database is
    empty, then nginx in front of gunicorn, a Celery worker and exactly one beat, each
    restarted if it dies (fieldapp.supervisor). Ctrl-C or SIGTERM stops them all gracefully."""
    from fieldapp import migrate
    from fieldapp.demo.accounts import load_demo_city
    from grid import queries

    progress = Progress()
    progress(f"database {current_app.config['DATABASE_URL']}")
    broker = _ensure_broker()
    progress(f"broker {broker}")
    migrate.upgrade(db.engine)
    progress("migrations applied")
    if not queries.level_counts(db.session)["cells"]:
        progress("empty database: loading the demo city (takes about a minute, once)")
        with db.transaction() as session:
            load_demo_city(session, seed=seed, progress=progress)
    if with_history:
        _demo_history_once(seed, progress)
    db.session.close()
    env = {
        **os.environ,
        "DATABASE_URL": current_app.config["DATABASE_URL"],
        "CELERY_BROKER_URL": broker,
        "FIELDAPP_INSTANCE": current_app.instance_path,
    }
    _supervise(host, port, env, Path(current_app.instance_path), progress)


def _supervise(host: str, port: int, env: dict[str, str], instance: Path, say: Progress) -> None:
    """Web server, worker and beat (its own process: exactly one) under the embedded
    supervisor (fieldapp.supervisor): what dies is restarted, and the log says so."""
    from fieldapp.supervisor import Program, Supervisor, install_signal_handlers

    python = sys.executable
    run_dir = instance / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    bind, proxy = _front_proxy(host, port, instance, say)
    if proxy is not None:
        env = {**env, "FIELDAPP_PROXY_HOPS": "1"}  # one trusted hop: the address nginx saw
    celery = [python, "-m", "celery", "-A", "workers.app"]
    programs = []
    if proxy is not None:
        binary = front_proxy.nginx_binary()
        assert binary is not None
        front_proxy.check(proxy, binary)
        # SIGQUIT: nginx stops accepting, finishes what it is sending, then exits.
        programs.append(
            Program(
                "nginx",
                front_proxy.command(proxy, binary),
                env,
                stop_signal=signal.SIGQUIT,
                front=True,  # stopped first: it drains while gunicorn still answers
            )
        )
    programs += [
        Program(
            "web",
            [
                python,
                "-m",
                "gunicorn",
                "--config=python:fieldapp.gunicorn_config",
                f"--bind={bind}",
                "--access-logfile=-",
                "fieldapp:create_app()",
            ],
            env,
        ),
        Program(
            "worker",
            [*celery, "worker", "--loglevel=INFO", "--concurrency=2", "--without-mingle"],
            env,
            stop_timeout_s=60.0,
        ),
        # Exactly one beat, in a process of its own; its pidfile refuses a second one.
        Program(
            "beat",
            [
                *celery,
                "beat",
                "--loglevel=INFO",
                "--schedule",
                str(instance / "celerybeat-schedule"),
                f"--pidfile={run_dir / 'celerybeat.pid'}",
            ],
            env,
            stop_timeout_s=10.0,
        ),
    ]
    supervisor = Supervisor(programs, say)
    install_signal_handlers(supervisor)
    say(f"serving on http://{host}:{port}  (Ctrl-C stops everything)")
    if supervisor.run() != 0:
        raise click.ClickException(supervisor.failed or "a process kept dying")
    say("stopped")


def _front_proxy(
    host: str, port: int, instance: Path, say: Progress
) -> tuple[str, front_proxy.FrontProxy | None]:
    """Where gunicorn binds, and the nginx in front of it (None when nginx is missing: then
    gunicorn listens itself, and a few slow clients can hold all of its threads)."""
    if front_proxy.nginx_binary() is None:
        say(
            "warning: nginx is not installed, so gunicorn serves directly and slow clients can "
            "hold its threads; run scripts/bootstrap.sh (it installs nginx-light)"
        )
        return f"{host}:{port}", None
    run_dir = instance / "run"
    sock = run_dir / "gunicorn.sock"
    proxy = front_proxy.FrontProxy(
        listen_host=host,
        listen_port=port,
        upstream_socket=sock,
        run_dir=run_dir,
        static_dir=Path(current_app.static_folder or ""),
        max_body_bytes=int(current_app.config["MAX_CONTENT_LENGTH"]),
    )
    say(f"nginx buffers requests in front of gunicorn ({sock})")
    return f"unix:{sock}", proxy


# Where `make run` injects the demo's early-warning cluster: a 日照街道 community cell, the
# last 8 days, about 6 extra reports a day over it and its 8 nearest cells.
DEMO_CLUSTER_CELL = "371102004020005"


def _demo_history_once(seed: int, progress: Progress) -> None:
    """Load the demo history and compute hotspot alerts when there are no reports yet."""
    from datetime import timedelta

    from sqlalchemy import func, select

    from fieldapp.demo import history
    from fieldapp.models import Report
    from fieldapp.services import hotspots

    if db.session.execute(select(func.count()).select_from(Report)).scalar_one():
        return
    start = hotspots.china_today() - timedelta(days=8)
    cluster = history.parse_cluster(f"{DEMO_CLUSTER_CELL}:{start.isoformat()}:8:6:8")
    progress("empty database: loading a year of demo reports (about half a minute, once)")
    with db.transaction() as session:
        summary = history.load_history(
            session,
            seed=seed,
            clusters=[cluster],
            policy=current_app.config["DEADLINE_POLICY"],
            group_threshold=current_app.config["GROUP_INCIDENT_THRESHOLD"],
            progress=progress,
        )
    history.save_clusters(
        Path(current_app.instance_path) / "history_clusters.json", summary["clusters"], append=False
    )
    progress("computing hotspot alerts")
    with db.transaction() as session:
        result = hotspots.recompute(
            session,
            today=hotspots.china_today(),
            settings=hotspots.settings_from_config(current_app.config),
        )
    progress(f"hotspot alerts: {len(result.as_dict().get('created', []))} new")


# GuardedGroup: any command failing (database unreachable or unmigrated, broker down) prints
# one line with what to do instead of a traceback (fieldapp/cli_guard.py).
main = GuardedGroup(create_app=create_app, add_default_commands=True, help=__doc__)
main.add_command(db_cli)
main.add_command(geo_cli)
main.add_command(services_cli)
main.add_command(up)


# --- users -----------------------------------------------------------------------------------

users_cli = AppGroup("users", help="Accounts: create, set passwords, list, revoke tokens.")


def _user_or_exit(username: str) -> Any:
    from sqlalchemy import select

    from fieldapp.models import User

    user = db.session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        raise click.ClickException(f"no user {username!r} (see: fieldapp users list)")
    return user


@users_cli.command("create")
@click.argument("username")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["officer", "coordinator", "county", "city", "department", "admin"]),
)
@click.option("--name", "display_name", required=True, help="The name shown in the UI.")
@click.option("--area", "area_code", help="Area code (township for coordinators …).")
@click.option("--cell", "cell_codes", multiple=True, help="A cell code (officers; repeatable).")
@click.password_option(help="Asked for when not given.")
@with_appcontext
def users_create(
    username: str,
    role: str,
    display_name: str,
    area_code: str | None,
    cell_codes: tuple[str, ...],
    password: str,
) -> None:
    """Create an account."""
    from fieldapp.services import accounts
    from fieldapp.services.errors import InvalidInput

    try:
        with db.transaction() as session:
            user = accounts.create_user(
                session,
                username=username,
                password=password,
                role=role,
                display_name=display_name,
                area_code=area_code,
                cell_codes=cell_codes,
            )
    except InvalidInput as err:
        details = "; ".join(f"{k}: {v}" for k, v in err.fields.items())
        raise click.ClickException(f"{err.message} {details}") from None
    click.echo(f"created {user.role} {user.username} (id {user.id})")


@users_cli.command("passwd")
@click.argument("username")
@click.password_option(help="Asked for when not given.")
@with_appcontext
def users_passwd(username: str, password: str) -> None:
    """Set a password (revokes the user's device tokens)."""
    from fieldapp.services import accounts
    from fieldapp.services.errors import InvalidInput

    try:
        with db.transaction() as session:
            accounts.set_password(session, _user_or_exit(username), password, actor_id=None)
    except InvalidInput as err:
        raise click.ClickException(err.message) from None
    click.echo(f"password set for {username}; their devices must sign in again")


@users_cli.command("list")
@click.option("--role", help="Only this role.")
@click.option("--limit", default=50, show_default=True)
@with_appcontext
def users_list(role: str | None, limit: int) -> None:
    """List accounts (username, role, name, area)."""
    from sqlalchemy import select

    from fieldapp.models import Area, User

    stmt = select(User.username, User.role, User.display_name, Area.code, User.active).outerjoin(
        Area, Area.id == User.area_id
    )
    if role:
        stmt = stmt.where(User.role == role)
    rows = db.session.execute(stmt.order_by(User.username).limit(limit)).all()
    for row in rows:
        state = "" if row[4] else "  (inactive)"
        click.echo(f"{row[0]:<20} {row[1]:<12} {row[2]}  {row[3] or ''}{state}")
    if not rows:
        click.echo("no accounts yet; create one: fieldapp users create --help", err=True)


@users_cli.command("revoke-tokens")
@click.argument("username")
@with_appcontext
def users_revoke_tokens(username: str) -> None:
    """Sign a user out of every device (a lost phone)."""
    from fieldapp.services import accounts

    with db.transaction() as session:
        count = accounts.revoke_all_tokens(session, _user_or_exit(username), actor_id=None)
    click.echo(f"revoked {count} token(s) of {username}")


@users_cli.command("deactivate")
@click.argument("username")
@with_appcontext
def users_deactivate(username: str) -> None:
    """Disable an account and its tokens (someone who left)."""
    from fieldapp.services import accounts, audit

    with db.transaction() as session:
        user = _user_or_exit(username)
        user.active = False
        accounts.revoke_all_tokens(session, user, actor_id=None)
        audit.record(
            session, actor_id=None, action="user.deactivate", object_type="user", object_id=user.id
        )
    click.echo(f"{username} deactivated")


@users_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Check the file and show what would change.")
@click.option(
    "--passwords-out",
    type=click.Path(dir_okay=False, writable=True),
    help="Where to write the new accounts' one-time passwords (xlsx; default "
    "roster-passwords-<time>.xlsx here).",
)
@with_appcontext
def users_import(file: str, dry_run: bool, passwords_out: str | None) -> None:
    """Import the roster spreadsheet (xlsx or CSV; template: /admin/roster/template.xlsx):
    all or nothing; people missing from it are deactivated."""
    import os
    from datetime import datetime
    from pathlib import Path

    from fieldapp.roster_file import RosterFileError, passwords_xlsx
    from fieldapp.services import roster
    from fieldapp.services.hotspots import china_today

    data = Path(file).read_bytes()
    stages = {"read": "reading", "check": "checking codes", "write": "writing"}

    def progress(stage: str, done: int, total: int) -> None:
        of = f"/{total}" if total else ""
        click.echo(f"  {stages.get(stage, stage)}: {done}{of} rows", err=True)

    try:
        with db.transaction() as session:
            result = roster.import_roster(
                session,
                data,
                Path(file).name,
                actor_id=None,
                today=china_today(),
                dry_run=dry_run,
                progress=progress,
            )
            if result.problems:
                session.rollback()
    except RosterFileError as err:
        raise click.ClickException(f"cannot read {file}: {err}") from None
    if result.problems:
        for p in result.problems:
            where = f"row {p.row}" if p.row else "file"
            value = f" [{p.value}]" if p.value else ""
            click.echo(f"{where}, {p.column}: {roster.describe(p)}{value}")
        raise click.ClickException(
            f"{len(result.problems)} problem(s) in {result.rows} rows; nothing was imported"
        )
    verb = "would be" if dry_run else "were"
    click.echo(
        f"{result.rows} rows: {result.changes} change(s) {verb} made — "
        f"{len(result.created)} new, {len(result.updated)} updated, "
        f"{len(result.deactivated)} deactivated, {len(result.reactivated)} reactivated, "
        f"{result.unchanged} unchanged"
    )
    for change in result.deactivated:
        click.echo(f"deactivated {change.username} {change.name}")
        for report_id, title in change.open_cases:
            click.echo(f"  open case to reassign: {report_id} {title}")
    fresh = result.new_passwords
    if fresh and not dry_run:
        out = passwords_out or f"roster-passwords-{datetime.now():%Y%m%d-%H%M%S}.xlsx"
        descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(
                passwords_xlsx(
                    (a.username, a.name, a.role, a.place, a.password or "") for a in fresh
                )
            )
        click.echo(f"one-time passwords of {len(fresh)} new account(s) written to {out}")


main.add_command(users_cli)


# --- demo ------------------------------------------------------------------------------------

demo_cli = AppGroup("demo", help="Demo data on top of the city: a history of reports.")


@demo_cli.command("history")
@click.option(
    "--reports",
    "n_reports",
    default=250_000,
    show_default=True,
    help="About this many reports (Poisson), besides the clusters' extra ones.",
)
@click.option("--days", default=365, show_default=True, help="Days of history.")
@click.option("--seed", default=1, show_default=True, help="The same seed gives the same rows.")
@click.option(
    "--end-date",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="The last day (default: yesterday, China time).",
)
@click.option(
    "--cluster",
    "--clusters",
    "clusters",
    multiple=True,
    metavar="SPEC",
    help="CELLCODE:START:DAYS:EXTRA_PER_DAY[:RADIUS_CELLS[:CATEGORY]], repeatable: about "
    "EXTRA_PER_DAY more reports a day in the cell and its RADIUS_CELLS nearest cells "
    "(default 6) for DAYS days from START.",
)
@click.option(
    "--cluster-category",
    default="wages_labour",
    show_default=True,
    help="The category of clusters that name none.",
)
@click.option("--no-checkins", is_flag=True, help="Skip the daily check-ins (零报告).")
@click.option("--append", is_flag=True, help="Add to existing reports (new ids).")
@with_appcontext
def demo_history(
    n_reports: int,
    days: int,
    seed: int,
    end_date: Any,
    clusters: tuple[str, ...],
    cluster_category: str,
    no_checkins: bool,
    append: bool,
) -> None:
    """Generate a plausible history of reports, their cases and check-ins, and load it with
    COPY in one transaction (for demos and benchmarks). Refuses when reports exist, unless
    --append. The injected clusters are written to instance/history_clusters.json."""
    from fieldapp.demo import history

    try:
        specs = [history.parse_cluster(spec, cluster_category) for spec in clusters]
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--cluster") from None
    progress = Progress()
    try:
        with db.transaction() as session:
            summary = history.load_history(
                session,
                reports=n_reports,
                days=days,
                seed=seed,
                end_date=end_date.date() if end_date else None,
                clusters=specs,
                append=append,
                checkins=not no_checkins,
                policy=current_app.config["DEADLINE_POLICY"],
                group_threshold=current_app.config["GROUP_INCIDENT_THRESHOLD"],
                progress=progress,
            )
    except history.HistoryError as err:
        raise click.ClickException(str(err)) from None
    progress("committed")
    path = history.save_clusters(
        Path(current_app.instance_path) / "history_clusters.json",
        summary["clusters"],
        append=append,
    )
    progress(f"clusters: {path}")
    _echo_json(summary)


main.add_command(demo_cli)


from fieldapp.keys_cli import keys_cli  # noqa: E402  (kept apart: issue #15)

main.add_command(keys_cli)
# --- operations (fieldapp.ops_cli: check, backup, restore) ---------------------------------

from fieldapp.ops_cli import COMMANDS as _OPS_COMMANDS  # noqa: E402

for _command in _OPS_COMMANDS:
    main.add_command(_command)
