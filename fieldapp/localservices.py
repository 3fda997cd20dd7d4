"""Private PostgreSQL+PostGIS and Redis for a checkout that has no external services configured.

With no ``DATABASE_URL`` the project runs its own PostgreSQL cluster, and with no
``CELERY_BROKER_URL`` its own ``redis-server``, both under the Flask instance folder, so a fresh
machine needs nothing but the Debian packages (``scripts/bootstrap.sh``) and one command::

    python -m fieldapp.localservices up      # start (initialising on first use)
    eval "$(python -m fieldapp.localservices url)"
    python -m fieldapp.localservices down

Both servers listen on unix sockets only, so nothing is exposed on the network and nothing
clashes with a system PostgreSQL or Redis on the usual ports.

Running as root: ``initdb`` and ``postgres`` refuse to run as root, so they run as the
``postgres`` system user (``runuser``) on a directory that user owns. When that user cannot
reach the instance folder (a repo under ``/root`` for instance), or when a socket path would be
too long for ``sun_path``, the service files live in a fallback directory instead
(``/var/lib/fieldapp/<hash>`` as root, ``~/.local/state/fieldapp/<hash>`` otherwise) and
``instance/localservices.json`` records where. Logs always stay in the instance folder.

This module is stdlib only at import time (psycopg is imported lazily by the two
database-creation helpers) so config code can call it before anything else exists.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

__all__ = [
    "DB_NAME",
    "ServiceError",
    "ServicePaths",
    "create_database",
    "default_instance_dir",
    "drop_database",
    "ensure_postgres",
    "ensure_redis",
    "find_pg_bindir",
    "main",
    "postgres_status",
    "private_broker_url",
    "private_database_url",
    "redis_status",
    "remove_private_data",
    "service_paths",
    "stop_postgres",
    "stop_redis",
]

Progress = Callable[[str], None]

DB_NAME = "fieldapp"
PG_SUPERUSER = "postgres"
#: Only the socket file name depends on it (listen_addresses is empty), and the socket
#: directory is private, so the standard port cannot clash with a system cluster.
PG_PORT = 5432
PG_EXTENSIONS = ("postgis", "pg_trgm")
PG_OS_USER = "postgres"
RECORD_NAME = "localservices.json"
FALLBACK_ROOT = Path("/var/lib/fieldapp")
#: Linux sun_path holds 108 bytes including the NUL; keep a margin.
SOCKET_PATH_MAX = 100
PG_START_TIMEOUT_S = 60
REDIS_START_TIMEOUT_S = 15


class ServiceError(Exception):
    """A private service could not be set up; the message says what to do about it."""


# --------------------------------------------------------------------------- paths


@dataclass(frozen=True)
class ServicePaths:
    """Where the private services of one instance folder keep their files."""

    instance: Path
    base: Path

    @property
    def record(self) -> Path:
        return self.instance / RECORD_NAME

    @property
    def pg_dir(self) -> Path:
        return self.base / "postgres"

    @property
    def pg_data(self) -> Path:
        return self.pg_dir / "data"

    @property
    def pg_socket_dir(self) -> Path:
        return self.pg_dir / "run"

    @property
    def pg_log(self) -> Path:
        return self.instance / "postgres.log"

    @property
    def redis_dir(self) -> Path:
        return self.base / "redis"

    @property
    def redis_socket(self) -> Path:
        return self.redis_dir / "redis.sock"

    @property
    def redis_pidfile(self) -> Path:
        return self.redis_dir / "redis.pid"

    @property
    def redis_log(self) -> Path:
        return self.instance / "redis.log"

    @property
    def is_fallback(self) -> bool:
        return self.base != self.instance


def default_instance_dir() -> Path:
    """``$FIELDAPP_INSTANCE`` (as create_app uses it), else Flask's default for a checkout."""
    configured = os.environ.get("FIELDAPP_INSTANCE")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parent.parent / "instance"


def _is_root() -> bool:
    return os.geteuid() == 0


def _short_hash(path: Path) -> str:
    return hashlib.sha256(str(path).encode()).hexdigest()[:12]


def _fallback_base(instance: Path) -> Path:
    if _is_root():
        return FALLBACK_ROOT / _short_hash(instance)
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return state / "fieldapp" / _short_hash(instance)


def _can_traverse(path: Path, uid: int, gids: set[int]) -> bool:
    """Whether ``uid`` can reach ``path`` through every existing directory above and at it.

    Plain mode bits only (ACLs are rare here and would only make us use the fallback when it
    was not needed). Directories that do not exist yet will be created 0755 by us.
    """
    for directory in [path, *path.parents]:
        try:
            st = directory.stat()
        except FileNotFoundError:
            continue
        if st.st_uid == uid:
            bit = stat.S_IXUSR
        elif st.st_gid in gids:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return False
    return True


def _pg_os_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(PG_OS_USER)
    except KeyError:
        raise ServiceError(
            f"Running as root needs the '{PG_OS_USER}' system user to run PostgreSQL "
            "(initdb and postgres refuse to run as root). Install the server package, which "
            "creates it: apt-get install -y postgresql"
        ) from None


def _user_gids(user: pwd.struct_passwd) -> set[int]:
    return set(os.getgrouplist(user.pw_name, user.pw_gid))


def _choose_base(instance: Path) -> tuple[Path, str]:
    """Decide where service files live; returns the directory and why (for the record)."""
    if _is_root():
        try:
            user = _pg_os_user()
        except ServiceError:
            user = None
        if user is not None and not _can_traverse(instance, user.pw_uid, _user_gids(user)):
            return _fallback_base(instance), f"{PG_OS_USER} user cannot reach {instance}"
    probe = ServicePaths(instance, instance)
    longest = max(
        len(str(probe.pg_socket_dir / f".s.PGSQL.{PG_PORT}.lock")), len(str(probe.redis_socket))
    )
    if longest > SOCKET_PATH_MAX:
        return _fallback_base(instance), "socket paths under the instance folder are too long"
    return instance, "instance folder"


def service_paths(instance_dir: Path | str) -> ServicePaths:
    """Paths of the private services for ``instance_dir``; deterministic, creates nothing.

    The choice of base directory is read back from the record once one was written, so it
    stays put even if permissions change later.
    """
    instance = Path(instance_dir).expanduser().resolve()
    record = instance / RECORD_NAME
    with contextlib.suppress(FileNotFoundError, ValueError, KeyError, TypeError):
        recorded = json.loads(record.read_text())["base"]
        return ServicePaths(instance, instance if recorded == "." else Path(recorded))
    base, _why = _choose_base(instance)
    return ServicePaths(instance, base)


def _make_dirs(path: Path, mode: int) -> None:
    """Create ``path`` and missing parents with an explicit mode (the umask could hide it)."""
    missing = [p for p in [path, *path.parents] if not p.exists()]
    for directory in reversed(missing):
        directory.mkdir(exist_ok=True)
        directory.chmod(mode)


def _prepare_base(paths: ServicePaths) -> None:
    """Create the instance and base folders and record where the service files live."""
    _make_dirs(paths.instance, 0o755)
    if not paths.record.exists():
        base, why = _choose_base(paths.instance)
        if base != paths.base:  # pragma: no cover - only if permissions changed meanwhile
            raise ServiceError(f"service directory changed under us: {paths.base} vs {base}")
        payload = {
            "base": "." if base == paths.instance else str(base),
            "reason": why,
            "written_by": "fieldapp.localservices",
        }
        tmp = paths.record.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload, indent=2) + "\n")
        tmp.replace(paths.record)
    # 0755: the postgres user must be able to traverse it to reach its own subdirectory.
    _make_dirs(paths.base, 0o755)


@contextlib.contextmanager
def _locked(paths: ServicePaths) -> Iterator[None]:
    """Serialise starts and stops: the app, a worker and parallel tests may race to start."""
    _make_dirs(paths.instance, 0o755)
    with open(paths.instance / "localservices.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- processes


def _clean_env() -> dict[str, str]:
    """Our environment minus PG* variables, which would redirect psql/pg_ctl elsewhere."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


def _run(
    argv: Sequence[str | Path], *, check: bool = False, timeout: float = 120, **kw: Any
) -> subprocess.CompletedProcess[str]:
    kw.setdefault("stdin", subprocess.DEVNULL)
    if "stdout" not in kw and "stderr" not in kw:
        kw["capture_output"] = True
    try:
        # cwd "/": a cwd the postgres user cannot read makes initdb/pg_ctl fail oddly.
        proc = subprocess.run(
            [str(a) for a in argv],
            text=True,
            timeout=timeout,
            env=kw.pop("env", _clean_env()),
            cwd=kw.pop("cwd", "/"),
            check=False,
            **kw,
        )
    except FileNotFoundError as exc:
        raise ServiceError(f"command not found: {argv[0]}") from exc
    if check and proc.returncode != 0:
        output = "\n".join(s for s in (proc.stdout, proc.stderr) if s).strip()
        raise ServiceError(f"{shlex.join(map(str, argv))} failed ({proc.returncode}):\n{output}")
    return proc


def _as_pg_user(argv: Sequence[str | Path]) -> list[str | Path]:
    """Prefix a command so it runs as the postgres system user when we are root."""
    if not _is_root():
        return list(argv)
    _pg_os_user()
    runuser = shutil.which("runuser")
    if runuser is None:
        raise ServiceError("runuser (util-linux) is needed to run PostgreSQL as root")
    return [runuser, "-u", PG_OS_USER, "--", *argv]


def _proc_state(pid: int) -> str | None:
    """The kernel's state letter of ``pid``, or None when there is no such process.

    Zombies count as gone: in containers whose PID 1 does not reap, a stopped daemon can
    linger as a zombie forever.
    """
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError:
        return "?"
    state = text.rpartition(")")[2].split()[0]
    return None if state in ("Z", "X") else state


def _pid_alive(pid: int) -> bool:
    if not Path("/proc/self/stat").exists():  # pragma: no cover - non-Linux
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return _proc_state(pid) is not None


def _runs_in(pid: int, directory: Path) -> bool:
    """Whether live process ``pid`` has ``directory`` as its working directory.

    postgres runs in its data dir and redis-server in its --dir, so this tells our server from
    an unrelated process that got the PID of a pidfile left by a crash (signalling that one
    would be a disaster, e.g. the system's own redis). Unreadable means not ours.
    """
    try:
        return os.readlink(f"/proc/{pid}/cwd") == str(directory.resolve()) and _pid_alive(pid)
    except OSError:
        return False


def _pids_with_cwd(directory: Path) -> list[int]:
    """Live processes whose working directory is ``directory``.

    Every PostgreSQL process (postmaster and its children) runs with cwd = the data dir, so
    this finds a live postmaster and also orphaned backends that still hold shared memory.
    """
    target = str(directory.resolve())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "cwd") == target and _pid_alive(int(entry.name)):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _read_pid(pidfile: Path) -> int | None:
    try:
        first = pidfile.read_text().splitlines()[0].strip()
        return int(first)
    except (OSError, IndexError, ValueError):
        return None


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --------------------------------------------------------------------------- PostgreSQL


def _major_of(bindir: Path) -> int | None:
    proc = _run([bindir / "postgres", "-V"], timeout=10)
    match = re.search(r"\b(\d+)(?:\.\d+)?", proc.stdout)
    return int(match.group(1)) if proc.returncode == 0 and match else None


def _is_server_bindir(bindir: Path) -> bool:
    return all((bindir / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres", "psql"))


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", path.parent.name)) or (0,)


def find_pg_bindir(paths: ServicePaths | None = None) -> Path:
    """The PostgreSQL server bin directory to use.

    Order: ``$FIELDAPP_PG_BINDIR``; Debian's bin dir of the version an existing cluster was
    made with (a cluster only opens with its own major); ``pg_config --bindir``; the newest
    ``/usr/lib/postgresql/*/bin``; wherever ``initdb`` is on PATH.
    """
    override = os.environ.get("FIELDAPP_PG_BINDIR")
    if override:
        if not _is_server_bindir(Path(override)):
            raise ServiceError(f"FIELDAPP_PG_BINDIR={override} has no initdb/pg_ctl/postgres")
        return Path(override)
    wanted: int | None = None
    if paths is not None:
        with contextlib.suppress(OSError, ValueError):
            wanted = int((paths.pg_data / "PG_VERSION").read_text().strip())
        if wanted is not None:
            debian = Path(f"/usr/lib/postgresql/{wanted}/bin")
            if _is_server_bindir(debian):
                return debian
    candidates: list[Path] = []
    if shutil.which("pg_config"):
        proc = _run(["pg_config", "--bindir"], timeout=10)
        if proc.returncode == 0 and proc.stdout.strip():
            candidates.append(Path(proc.stdout.strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).parent)
    servers = [c for c in dict.fromkeys(candidates) if _is_server_bindir(c)]
    if wanted is not None:
        servers = [c for c in servers if _major_of(c) == wanted]
        if not servers:
            raise ServiceError(
                f"The private cluster in {paths.pg_data if paths else '?'} was created by "
                f"PostgreSQL {wanted}, which is not installed. Install it "
                f"(apt-get install -y postgresql-{wanted} postgresql-{wanted}-postgis-3) or "
                "remove that directory to start afresh."
            )
    if not servers:
        raise ServiceError(
            "PostgreSQL server binaries not found. Run as root: "
            "apt-get install -y postgresql postgresql-15-postgis-3 (or scripts/bootstrap.sh)"
        )
    return servers[0]


def private_database_url(instance_dir: Path | str) -> str:
    """SQLAlchemy URL of the private cluster (unix socket only); computed, starts nothing."""
    paths = service_paths(instance_dir)
    host = quote(str(paths.pg_socket_dir), safe="/")
    return f"postgresql+psycopg://{PG_SUPERUSER}@/{DB_NAME}?host={host}&port={PG_PORT}"


def _psql(
    bindir: Path, paths: ServicePaths, dbname: str, sql: str, *, check: bool = False
) -> subprocess.CompletedProcess[str]:
    # -X: ignore ~/.psqlrc; -w: never prompt (trust auth; a prompt would mean misconfiguration).
    argv: list[str | Path] = [
        bindir / "psql",
        "-X",
        "-w",
        "-q",
        "-t",
        "-A",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        paths.pg_socket_dir,
        "-p",
        str(PG_PORT),
        "-U",
        PG_SUPERUSER,
        "-d",
        dbname,
        "-c",
        sql,
    ]
    return _run(argv, check=check, timeout=120)


def _pg_isready(bindir: Path, paths: ServicePaths) -> int:
    """pg_isready's code: 0 accepting, 1 rejecting (starting up), 2 no response."""
    if not (paths.pg_socket_dir / f".s.PGSQL.{PG_PORT}").exists():
        return 2
    # -U/-d: without them the probe logs "role root does not exist" on every call.
    argv: list[str | Path] = [
        bindir / "pg_isready",
        "-q",
        "-h",
        paths.pg_socket_dir,
        "-p",
        str(PG_PORT),
        "-U",
        PG_SUPERUSER,
        "-d",
        "postgres",
    ]
    return _run(argv, timeout=15).returncode


def _extensions_present(bindir: Path, paths: ServicePaths) -> bool:
    names = ",".join(f"'{e}'" for e in PG_EXTENSIONS)
    proc = _psql(
        bindir, paths, DB_NAME, f"SELECT count(*) FROM pg_extension WHERE extname IN ({names})"
    )
    return proc.returncode == 0 and proc.stdout.strip() == str(len(PG_EXTENSIONS))


def _pg_sharedir(bindir: Path, major: int | None) -> Path | None:
    if (bindir / "pg_config").is_file():
        proc = _run([bindir / "pg_config", "--sharedir"], timeout=10)
        if proc.returncode == 0 and proc.stdout.strip():
            return Path(proc.stdout.strip())
    return Path(f"/usr/share/postgresql/{major}") if major else None


def _postgis_missing_error(major: int | None) -> ServiceError:
    package = f"postgresql-{major}-postgis-3" if major else "postgresql-<major>-postgis-3"
    return ServiceError(
        f"PostGIS is not installed for PostgreSQL {major or '(unknown version)'}. "
        f"Run as root: apt-get install -y {package}  (or: sudo scripts/bootstrap.sh)"
    )


def _require_postgis(bindir: Path) -> None:
    major = _major_of(bindir)
    sharedir = _pg_sharedir(bindir, major)
    if sharedir is None or not (sharedir / "extension" / "postgis.control").is_file():
        raise _postgis_missing_error(major)


def _initdb_locale() -> str:
    """C.UTF-8 when the system has it, else C.

    The ctype locale decides which characters pg_trgm treats as word characters: under plain
    C every Chinese character is ignored, so similarity search on report titles would not work.
    Collation stays bytewise either way, which is fast and stable across glibc upgrades.
    """
    proc = _run(["locale", "-a"], timeout=10)
    available = {line.strip().lower() for line in proc.stdout.splitlines()}
    return "C.UTF-8" if {"c.utf8", "c.utf-8"} & available else "C"


def _chown_tree_to_pg(path: Path) -> None:
    user = _pg_os_user()
    for root, dirs, files in os.walk(path):
        for name in [root, *(os.path.join(root, d) for d in dirs)]:
            os.chown(name, user.pw_uid, user.pw_gid)
        for name in files:
            os.chown(os.path.join(root, name), user.pw_uid, user.pw_gid)


def _prepare_pg_dirs(paths: ServicePaths) -> None:
    _prepare_base(paths)
    # 0700 on both: with trust auth whoever reaches the socket is superuser, so only the
    # owning user (and root) may.
    _make_dirs(paths.pg_dir, 0o700)
    _make_dirs(paths.pg_socket_dir, 0o700)
    if _is_root():
        user = _pg_os_user()
        owners = {paths.pg_dir.stat().st_uid, paths.pg_socket_dir.stat().st_uid}
        if owners != {user.pw_uid}:
            try:
                _chown_tree_to_pg(paths.pg_dir)
            except OSError as exc:  # e.g. NFS with root_squash, vboxsf
                raise ServiceError(
                    f"cannot hand {paths.pg_dir} to the {PG_OS_USER} user ({exc}); put the "
                    "instance folder on a local filesystem or set DATABASE_URL"
                ) from exc
    # The log is opened by us and handed to pg_ctl as stdout, so the postgres user needs no
    # access to the instance folder (it may not even be able to reach it).
    paths.pg_log.touch(exist_ok=True)


def _initdb(bindir: Path, paths: ServicePaths, progress: Progress) -> None:
    data = paths.pg_data
    if data.exists() and any(data.iterdir()):
        raise ServiceError(
            f"{data} exists but holds no complete cluster (no PG_VERSION); "
            "remove it to let a new cluster be created"
        )
    locale = _initdb_locale()
    progress(f"postgres: creating a new cluster in {data} (UTF8, locale {locale}) ...")
    argv: list[str | Path] = [
        bindir / "initdb",
        "-D",
        data,
        "-U",
        PG_SUPERUSER,
        "--encoding=UTF8",
        f"--locale={locale}",
        "--auth-local=trust",
        "--auth-host=reject",
    ]
    _run(_as_pg_user(argv), check=True, timeout=300)
    socket_dir = str(paths.pg_socket_dir).replace("'", "''")
    settings = (
        "\n# --- fieldapp private cluster (fieldapp.localservices) ---\n"
        "# Unix socket only: nothing on TCP to secure or to clash with a system server.\n"
        "listen_addresses = ''\n"
        f"port = {PG_PORT}\n"
        f"unix_socket_directories = '{socket_dir}'\n"
        "# trust auth on the socket: only the owner (and root) may connect.\n"
        "unix_socket_permissions = 0700\n"
    )
    # Appending as root keeps the file owned by postgres.
    with open(data / "postgresql.conf", "a", encoding="utf-8") as conf:
        conf.write(settings)


def _clear_stale_pidfiles(paths: ServicePaths, progress: Progress) -> None:
    """Remove lock files a crashed server left behind, if no process of it is alive.

    PostgreSQL already ignores a lock file whose PID is dead, but after a reboot or container
    restart the PID is often reused by an unrelated process and the server then refuses to
    start. We only remove the files when no process at all runs in the data directory, which
    also protects against starting next to orphaned backends that still use shared memory.
    """
    pidfile = paths.pg_data / "postmaster.pid"
    socket_lock = paths.pg_socket_dir / f".s.PGSQL.{PG_PORT}.lock"
    if not pidfile.exists() and not socket_lock.exists():
        return
    deadline = time.monotonic() + 10
    while live := _pids_with_cwd(paths.pg_data):
        pid = _read_pid(pidfile)
        if pid in live or time.monotonic() > deadline:
            raise ServiceError(
                f"PostgreSQL processes {live} still run in {paths.pg_data} but the server does "
                f"not answer on {paths.pg_socket_dir}. Stop them, e.g.: "
                f"{shlex.join(map(str, _as_pg_user(['pg_ctl', '-D', paths.pg_data, 'stop'])))}"
            )
        time.sleep(0.2)  # orphaned backends of a killed postmaster exit on their own
    progress(f"postgres: removing stale lock files left by a crash ({pidfile.name})")
    for path in (pidfile, socket_lock, paths.pg_socket_dir / f".s.PGSQL.{PG_PORT}"):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _pg_start(bindir: Path, paths: ServicePaths, progress: Progress) -> None:
    _clear_stale_pidfiles(paths, progress)
    progress(f"postgres: starting (log: {paths.pg_log}) ...")
    argv: list[str | Path] = [
        bindir / "pg_ctl",
        "-D",
        paths.pg_data,
        "-w",
        "-t",
        str(PG_START_TIMEOUT_S),
        # -k again on the command line: follows the socket dir if the folder was moved.
        "-o",
        f"-k {shlex.quote(str(paths.pg_socket_dir))}",
        "start",
    ]
    with open(paths.pg_log, "ab") as log:
        proc = subprocess.run(
            [str(a) for a in _as_pg_user(argv)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_clean_env(),
            cwd="/",
            timeout=PG_START_TIMEOUT_S + 30,
            check=False,
        )
    if proc.returncode != 0 or _pg_isready(bindir, paths) != 0:
        raise ServiceError(
            f"PostgreSQL did not start (pg_ctl exit {proc.returncode}). "
            f"Last lines of {paths.pg_log}:\n{_tail(paths.pg_log)}"
        )


def _provision(bindir: Path, paths: ServicePaths, progress: Progress) -> None:
    exists = _psql(
        bindir,
        paths,
        "postgres",
        f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'",
        check=True,
    )
    if exists.stdout.strip() != "1":
        progress(f"postgres: creating database {DB_NAME}")
        _psql(bindir, paths, "postgres", f'CREATE DATABASE "{DB_NAME}"', check=True)
    progress(f"postgres: enabling extensions {', '.join(PG_EXTENSIONS)}")
    sql = "; ".join(f'CREATE EXTENSION IF NOT EXISTS "{e}"' for e in PG_EXTENSIONS)
    proc = _psql(bindir, paths, DB_NAME, sql)
    if proc.returncode != 0:
        if "postgis" in proc.stderr and "control file" in proc.stderr:
            raise _postgis_missing_error(_major_of(bindir))
        raise ServiceError(f"could not create extensions in {DB_NAME}: {proc.stderr.strip()}")


def ensure_postgres(instance_dir: Path | str, progress: Progress = print) -> str:
    """Make sure the private cluster is initialised, running and provisioned; return its URL.

    Idempotent; when the server already runs with the database in place this is a single
    ``psql`` round trip. Raises :class:`ServiceError` with the command to run when something
    is missing (e.g. the PostGIS package).
    """
    started = time.monotonic()
    paths = service_paths(instance_dir)
    url = private_database_url(paths.instance)
    bindir = find_pg_bindir(paths)
    if (paths.pg_data / "PG_VERSION").exists() and _extensions_present(bindir, paths):
        return url
    with _locked(paths):
        if (paths.pg_data / "PG_VERSION").exists() and _extensions_present(bindir, paths):
            return url  # another process finished the job while we waited for the lock
        _require_postgis(bindir)
        _prepare_pg_dirs(paths)
        if not (paths.pg_data / "PG_VERSION").exists():
            _initdb(bindir, paths, progress)
        state = _pg_isready(bindir, paths)
        deadline = time.monotonic() + PG_START_TIMEOUT_S
        while state == 1 and time.monotonic() < deadline:  # starting up or shutting down
            time.sleep(0.2)
            state = _pg_isready(bindir, paths)
        if state != 0:
            _pg_start(bindir, paths, progress)
        _provision(bindir, paths, progress)
    where = paths.base if paths.is_fallback else paths.instance
    progress(f"postgres: ready in {time.monotonic() - started:.1f} s (files in {where})")
    return url


def postgres_status(instance_dir: Path | str) -> str:
    """``running``, ``stopped`` or ``not initialised``."""
    paths = service_paths(instance_dir)
    if not (paths.pg_data / "PG_VERSION").exists():
        return "not initialised"
    return "running" if _pg_isready(find_pg_bindir(paths), paths) == 0 else "stopped"


def stop_postgres(instance_dir: Path | str, progress: Progress = print) -> None:
    """Fast shutdown (rolls back open transactions, checkpoints, exits); no-op if stopped."""
    paths = service_paths(instance_dir)
    pidfile = paths.pg_data / "postmaster.pid"
    if not (paths.pg_data / "PG_VERSION").exists() or not pidfile.exists():
        return
    pid = _read_pid(pidfile)
    if pid is None or not _runs_in(pid, paths.pg_data):
        return  # stale (pg_ctl would signal whatever has that PID now); next start cleans up
    progress("postgres: stopping ...")
    bindir = find_pg_bindir(paths)
    argv: list[str | Path] = [
        bindir / "pg_ctl",
        "-D",
        paths.pg_data,
        "-m",
        "fast",
        "-w",
        "-t",
        "60",
        "stop",
    ]
    with _locked(paths):
        _run(_as_pg_user(argv), check=True, timeout=90)


# --------------------------------------------------------------------------- throwaway DBs


def _maintenance_url(url: str) -> str:
    """libpq URI of the ``postgres`` maintenance database on the server of a SQLAlchemy URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in ("postgresql", "postgres"):
        raise ServiceError(f"not a PostgreSQL URL: {parts.scheme}://...")
    return urlunsplit(("postgresql", parts.netloc, "/postgres", parts.query, ""))


def _url_with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(name, safe=""), parts.query, ""))


def _libpq_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, ""))


_PROTECTED_DBS = frozenset({"postgres", "template0", "template1"})


def create_database(
    url_of_server: str,
    name: str,
    template_extensions: Sequence[str] = PG_EXTENSIONS,
    *,
    replace: bool = False,
) -> str:
    """Create database ``name`` on the server of ``url_of_server`` with the given extensions.

    Works against the private cluster and any external server (the role needs CREATEDB, and
    superuser for PostGIS, which is not a trusted extension). With ``replace`` an existing
    database of that name is dropped first (a test run that crashed leaves one behind).
    Returns the SQLAlchemy URL of the new database.
    """
    import psycopg
    from psycopg import sql

    if name in _PROTECTED_DBS:
        raise ServiceError(f"refusing to create over the system database {name!r}")
    maintenance = _maintenance_url(url_of_server)
    with psycopg.connect(maintenance, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if found and not replace:
            raise ServiceError(f"database {name!r} already exists (pass replace=True)")
    if found:
        drop_database(url_of_server, name)
    with psycopg.connect(maintenance, autocommit=True) as conn:
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.errors.InsufficientPrivilege as exc:
            raise ServiceError(f"the role in the URL may not create databases: {exc}") from exc
    new_url = _url_with_db(url_of_server, name)
    with psycopg.connect(_libpq_url(new_url), autocommit=True) as conn:
        for extension in template_extensions:
            try:
                conn.execute(
                    sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(extension))
                )
            except psycopg.errors.UndefinedFile as exc:
                raise ServiceError(
                    f"extension {extension} is not installed on that server: {exc}"
                ) from exc
            except psycopg.errors.InsufficientPrivilege as exc:
                raise ServiceError(
                    f"creating extension {extension} needs a superuser (or install it in "
                    f"template1 once): {exc}"
                ) from exc
    return new_url


def drop_database(url_of_server: str, name: str) -> None:
    """Drop database ``name`` if it exists, first terminating every other connection to it."""
    import psycopg
    from psycopg import sql

    if name in _PROTECTED_DBS:
        raise ServiceError(f"refusing to drop the system database {name!r}")
    maintenance = _maintenance_url(url_of_server)
    with psycopg.connect(maintenance, autocommit=True) as conn:
        # Terminating explicitly (not just WITH (FORCE)) also works before PostgreSQL 13.
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        force = sql.SQL(" WITH (FORCE)") if conn.info.server_version >= 130000 else sql.SQL("")
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}{}").format(sql.Identifier(name), force))


# --------------------------------------------------------------------------- Redis


def private_broker_url(instance_dir: Path | str) -> str:
    """Celery/kombu broker URL of the private redis-server (unix socket, db 0).

    kombu's redis transport reads ``redis+socket:///abs/path`` as a unix socket (see
    ``Channel._connparams`` in kombu/transport/redis.py); the redis package itself wants
    ``unix:///abs/path`` for the same socket.
    """
    return "redis+socket://" + quote(str(service_paths(instance_dir).redis_socket), safe="/")


def _redis_ping(sock: Path, timeout: float = 1.0) -> bool:
    """PING over the socket with plain stdlib; False while loading or when nobody listens."""
    if not sock.exists():
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect(str(sock))
            conn.sendall(b"PING\r\n")
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _redis_pid(paths: ServicePaths) -> int | None:
    """PID from the pidfile if that process is alive and is our redis-server."""
    pid = _read_pid(paths.redis_pidfile)
    return pid if pid is not None and _runs_in(pid, paths.redis_dir) else None


def ensure_redis(instance_dir: Path | str, progress: Progress = print) -> str:
    """Make sure the private redis-server runs; return its broker URL. Idempotent."""
    started = time.monotonic()
    paths = service_paths(instance_dir)
    url = private_broker_url(paths.instance)
    if _redis_ping(paths.redis_socket):
        return url
    server = shutil.which("redis-server")
    if server is None:
        raise ServiceError(
            "redis-server is not installed. Run as root: apt-get install -y redis-server "
            "(or set CELERY_BROKER_URL to an existing broker)"
        )
    # Waiting inside the lock: a racing process must not start a second daemon before ours
    # has written its pidfile.
    with _locked(paths):
        _start_redis(server, paths, progress)
        deadline = time.monotonic() + REDIS_START_TIMEOUT_S
        while not _redis_ping(paths.redis_socket):
            if time.monotonic() > deadline:
                raise ServiceError(
                    f"redis-server does not answer on {paths.redis_socket}. "
                    f"Last lines of {paths.redis_log}:\n{_tail(paths.redis_log)}"
                )
            time.sleep(0.05)
    progress(f"redis: ready in {time.monotonic() - started:.1f} s ({paths.redis_socket})")
    return url


def _start_redis(server: str, paths: ServicePaths, progress: Progress) -> None:
    """Launch the daemon unless one for this socket is already alive (then just wait for it)."""
    _prepare_base(paths)
    # Holds the socket and dump file; 0700 because the socket has no password.
    _make_dirs(paths.redis_dir, 0o700)
    if _redis_pid(paths) is None:
        progress(f"redis: starting (log: {paths.redis_log}) ...")
        argv: list[str | Path] = [
            server,
            "--port",
            "0",  # no TCP at all
            "--unixsocket",
            paths.redis_socket,
            "--unixsocketperm",
            "700",
            "--daemonize",
            "yes",
            "--pidfile",
            paths.redis_pidfile,
            "--logfile",
            paths.redis_log,
            "--dir",
            paths.redis_dir,
            # Broker durability: an append-only file written every second, so a crash (kill
            # -9, power loss) loses at most the last second of queued messages instead of
            # the whole queue; the outbox relay re-sends what was lost even so
            # (fieldapp.services.outbox.relay). No periodic snapshots; one on clean shutdown.
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--shutdown-on-sigterm",
            "save",
            "--dbfilename",
            "dump.rdb",
            "--always-show-logo",
            "no",
        ]
        # The daemon child re-opens its stdio on /dev/null, so capturing cannot hang.
        proc = _run(argv, timeout=30)
        if proc.returncode != 0:
            raise ServiceError(
                f"redis-server did not start: {(proc.stderr or proc.stdout).strip()}\n"
                f"{_tail(paths.redis_log)}"
            )


def redis_status(instance_dir: Path | str) -> str:
    """``running`` or ``stopped``."""
    return "running" if _redis_ping(service_paths(instance_dir).redis_socket) else "stopped"


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def stop_redis(instance_dir: Path | str, progress: Progress = print) -> None:
    """SIGTERM the private redis-server (it snapshots, then exits) and wait; no-op if stopped."""
    paths = service_paths(instance_dir)
    pid = _redis_pid(paths)
    if pid is None:
        return
    progress("redis: stopping ...")
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not _wait_gone(pid, 30):
        raise ServiceError(f"redis-server (PID {pid}) did not stop within 30 s")


# --------------------------------------------------------------------------- housekeeping


def remove_private_data(instance_dir: Path | str, progress: Progress = print) -> None:
    """Stop both services and delete their files and the record (logs stay). Destructive."""
    paths = service_paths(instance_dir)
    stop_redis(paths.instance, progress)
    stop_postgres(paths.instance, progress)
    for directory in (paths.pg_dir, paths.redis_dir):
        shutil.rmtree(directory, ignore_errors=True)
    if paths.is_fallback:
        with contextlib.suppress(OSError):
            paths.base.rmdir()  # only if empty: never delete what we did not create
    with contextlib.suppress(FileNotFoundError):
        paths.record.unlink()


# --------------------------------------------------------------------------- CLI


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _effective_urls(instance: Path) -> dict[str, tuple[str, bool]]:
    """Variable -> (URL, is_private). An URL set in the environment wins."""
    database = os.environ.get("DATABASE_URL")
    broker = os.environ.get("CELERY_BROKER_URL")
    return {
        "DATABASE_URL": (database, False) if database else (private_database_url(instance), True),
        "CELERY_BROKER_URL": (broker, False) if broker else (private_broker_url(instance), True),
    }


@contextlib.contextmanager
def _service_errors() -> Iterator[None]:
    try:
        yield
    except ServiceError as exc:
        _stderr(f"error: {exc}")
        raise SystemExit(1) from None


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m fieldapp.localservices up|down|status|url [--instance DIR]``."""
    parser = argparse.ArgumentParser(
        prog="python -m fieldapp.localservices",
        description="Private PostgreSQL+PostGIS and Redis for this checkout. A DATABASE_URL or "
        "CELERY_BROKER_URL in the environment means that service is external and not started.",
    )
    parser.add_argument("command", choices=("up", "down", "status", "url"))
    parser.add_argument(
        "--instance",
        type=Path,
        default=default_instance_dir(),
        help="instance folder (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    instance: Path = args.instance.expanduser().resolve()
    urls = _effective_urls(instance)
    with _service_errors():
        if args.command == "up":
            started = time.monotonic()
            if urls["DATABASE_URL"][1]:
                ensure_postgres(instance, _stderr)
            else:
                _stderr("postgres: DATABASE_URL is set; not starting the private cluster")
            if urls["CELERY_BROKER_URL"][1]:
                ensure_redis(instance, _stderr)
            else:
                _stderr("redis: CELERY_BROKER_URL is set; not starting the private redis")
            _stderr(f"services up in {time.monotonic() - started:.1f} s")
        elif args.command == "down":
            stop_redis(instance, _stderr)
            stop_postgres(instance, _stderr)
            _stderr("private services stopped")
        elif args.command == "status":
            pg, rd = postgres_status(instance), redis_status(instance)
            paths = service_paths(instance)
            print(f"postgres: {pg}  ({paths.pg_data})")
            print(f"redis:    {rd}  ({paths.redis_socket})")
            for var, (url, private) in urls.items():
                print(f"{var}={url}{'' if private else '  (from the environment)'}")
            return 0 if pg == rd == "running" else 3
        else:
            for var, (url, _private) in urls.items():
                print(f"export {var}={shlex.quote(url)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
