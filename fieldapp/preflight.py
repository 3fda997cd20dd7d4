"""`fieldapp check`: what is wrong with this installation's configuration, one line each, before
anything is started on it (database, migrations, PostGIS, broker, secret key, export store,
and the read replica when FIELDAPP_REPLICA_DATABASE_URL is set).

Plain functions over the app's configuration, so that the command, tests and a deployment
script all ask the same questions."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from fieldapp import health
from fieldapp.db import ReplicaLag, replica_lag

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


@dataclass(frozen=True)
class ReplicaFacts:
    """What one look at the primary and the replica found (None: could not be read)."""

    standby: bool
    replica_system_id: int | None
    primary_system_id: int | None
    lag: ReplicaLag | None
    receiving: bool | None  # a WAL receiver is streaming from a primary


def replica_verdict(facts: ReplicaFacts, max_lag_seconds: float) -> str | None:
    """The one thing wrong with a reachable replica, worst first, saying what to do."""
    if not facts.standby:
        return (
            "replica is not a standby: FIELDAPP_REPLICA_DATABASE_URL names a primary "
            "(or a promoted replica), so reads would not be routed to it; point it at a "
            "streaming standby (pg_basebackup -R), or unset it"
        )
    if (
        facts.replica_system_id is not None
        and facts.primary_system_id is not None
        and facts.replica_system_id != facts.primary_system_id
    ):
        return (
            "replica replays another primary: its system identifier "
            f"{facts.replica_system_id} is not DATABASE_URL's {facts.primary_system_id}; "
            "rebuild it from this primary (pg_basebackup -R), or fix either URL"
        )
    if facts.lag is not None and facts.lag.seconds > max_lag_seconds:
        streaming = (
            "" if facts.receiving is not False else "; it is not streaming (no WAL receiver)"
        )
        return (
            f"replica behind: {facts.lag.seconds:.1f} s ({facts.lag.bytes} bytes of WAL) "
            f"over FIELDAPP_REPLICA_MAX_LAG_SECONDS={max_lag_seconds:g}, so reads go to the "
            f"primary{streaming}; check primary_conninfo, pg_stat_wal_receiver on the replica "
            "and pg_stat_replication on the primary"
        )
    return None


_SYSTEM_ID_SQL = "SELECT system_identifier FROM pg_control_system()"


def _system_id(connection: Any) -> int | None:
    """The cluster's identifier, which a physical standby shares with its primary; None where
    it cannot be read (PUBLIC may execute pg_control_system by default; a hardened server
    may have revoked it)."""
    try:
        with connection.begin_nested():
            return int(connection.execute(text(_SYSTEM_ID_SQL)).scalar_one())
    except Exception:  # noqa: BLE001 - the check is a bonus, not a requirement
        return None


def replica_problem(
    primary: Engine, replica_url: str, max_lag_seconds: float, *, recheck_after_s: float = 1.0
) -> str | None:
    """Is the replica reachable, a standby of this primary, and within the lag bound?

    A replica seen behind is looked at once more after `recheck_after_s`: on a primary idle
    for an hour, the first write makes the last replayed transaction look an hour old until
    the replica replays it a moment later."""
    replica = create_engine(
        replica_url,
        poolclass=NullPool,
        connect_args={"connect_timeout": health.PROBE_TIMEOUT_SECONDS},
    )
    try:
        facts = _replica_facts(primary, replica)
        verdict = facts if isinstance(facts, str) else replica_verdict(facts, max_lag_seconds)
        if verdict and verdict.startswith("replica behind") and recheck_after_s > 0:
            time.sleep(recheck_after_s)
            facts = _replica_facts(primary, replica)
            verdict = facts if isinstance(facts, str) else replica_verdict(facts, max_lag_seconds)
        return verdict
    finally:
        replica.dispose()


def _replica_facts(primary: Engine, replica: Engine) -> ReplicaFacts | str:
    """One look: the primary's flushed WAL position first, then the replica's replayed one
    (so the lag is never understated); a str says the replica could not be read."""
    primary_id: int | None = None
    flushed: int | None = None
    try:
        with primary.connect() as connection:
            primary_id = _system_id(connection)
            flushed = int(
                connection.execute(
                    text("SELECT pg_current_wal_flush_lsn() - '0/0'::pg_lsn")
                ).scalar_one()
            )
    except Exception:  # noqa: BLE001 - the database line says what is wrong with the primary
        pass
    try:
        with replica.connect() as connection:
            row: Any = connection.execute(
                text(
                    "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn() - '0/0'::pg_lsn,"
                    " extract(epoch FROM now() - pg_last_xact_replay_timestamp())"
                )
            ).one()
            standby, replayed, since_replay = row
            replica_id = _system_id(connection) if standby else None
            receiving = (
                bool(
                    connection.execute(
                        text("SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'")
                    ).scalar_one()
                )
                if standby
                else None
            )
    except Exception as exc:  # noqa: BLE001 - any failure means: cannot be read from
        return (
            f"replica unreachable: {health._first_line(exc)} (check "
            "FIELDAPP_REPLICA_DATABASE_URL and the replica's pg_hba.conf; meanwhile reads go "
            "to the primary)"
        )
    lag = None
    if standby and flushed is not None and replayed is not None:
        lag = replica_lag(
            flushed, int(replayed), None if since_replay is None else float(since_replay), None
        )
    return ReplicaFacts(bool(standby), replica_id, primary_id, lag, receiving)


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
    replica_url = config.get("REPLICA_DATABASE_URL")
    if replica_url:
        replica = replica_problem(
            engine, str(replica_url), float(config.get("REPLICA_MAX_LAG_SECONDS", 5))
        )
        if replica:
            found.append(replica)
    return found
