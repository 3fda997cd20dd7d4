"""More than one machine, on this machine (issue 16, part 2): a PostgreSQL primary and a
streaming replica made with `pg_basebackup -R`, a private redis broker, web nodes (gunicorn)
behind one nginx upstream, and Celery workers. Used by tests/integration/test_two_nodes.py
and benchmarks/bench_nodes.py.

Everything lives under one temporary folder (0755: the `postgres` system user, which runs
PostgreSQL when we are root, must reach it) and listens on unix sockets, except nginx on a
free 127.0.0.1 port."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fieldapp import front_proxy, localservices

REPO = Path(__file__).resolve().parent.parent
PG_PORT = localservices.PG_PORT


def _as_pg_user(argv: list[str]) -> list[str]:
    """initdb/postgres refuse to run as root: run them as the postgres system user then."""
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", localservices.PG_OS_USER, "--", *argv]


def _run_pg(argv: list[str], timeout: float = 120) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    proc = subprocess.run(
        _as_pg_user(argv), capture_output=True, text=True, timeout=timeout, env=env, cwd="/"
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {proc.stdout}\n{proc.stderr}")


def _chown_to_pg(path: Path) -> None:
    if os.geteuid() == 0:
        import pwd

        user = pwd.getpwnam(localservices.PG_OS_USER)
        os.chown(path, user.pw_uid, user.pw_gid)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Databases:
    """The primary (a localservices private cluster in `root/primary`) and its replica."""

    root: Path
    bindir: Path
    primary_url: str
    replica_data: Path
    replica_socket_dir: Path

    @property
    def replica_log(self) -> Path:
        return self.replica_data.parent / "replica.log"

    @property
    def replica_url(self) -> str:
        host = quote(str(self.replica_socket_dir), safe="/")
        return f"postgresql+psycopg://postgres@/{localservices.DB_NAME}?host={host}&port={PG_PORT}"

    def start_replica(self) -> None:
        _run_pg(
            [
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.replica_data),
                "-l",
                str(self.replica_log),
                "-w",
                "-t",
                "60",
                "-o",
                f"-k {self.replica_socket_dir}",
                "start",
            ]
        )

    def stop_replica(self, mode: str = "fast") -> None:
        _run_pg([str(self.bindir / "pg_ctl"), "-D", str(self.replica_data), "-m", mode, "stop"])


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@contextlib.contextmanager
def primary_and_replica(log_statements: bool = False) -> Iterator[Databases]:
    """A fresh primary with PostGIS and a streaming replica of it, both running; removed
    after. `log_statements`: the replica logs every statement with its application_name
    (evidence of where a read ran)."""
    root = Path(tempfile.mkdtemp(prefix="nd", dir="/tmp"))
    root.chmod(0o755)
    primary_instance = root / "primary"
    try:
        primary_url = localservices.ensure_postgres(primary_instance, progress=lambda _m: None)
        paths = localservices.service_paths(primary_instance)
        bindir = localservices.find_pg_bindir(paths)
        replica_dir = root / "replica"
        replica_dir.mkdir(mode=0o700)
        _chown_to_pg(replica_dir)
        socket_dir = replica_dir / "run"
        socket_dir.mkdir(mode=0o700)
        _chown_to_pg(socket_dir)
        data = replica_dir / "data"
        # -R: standby.signal and primary_conninfo written for us; -X stream: the WAL of the
        # copy itself comes along; -c fast: no wait for a scheduled checkpoint.
        _run_pg(
            [
                str(bindir / "pg_basebackup"),
                "-D",
                str(data),
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "-h",
                str(paths.pg_socket_dir),
                "-p",
                str(PG_PORT),
                "-U",
                localservices.PG_SUPERUSER,
            ]
        )
        with open(data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(
                "\n# --- streaming replica (tests/nodes_support.py) ---\n"
                f"unix_socket_directories = '{socket_dir}'\n"
                # Long reads (exports) are not cancelled by the primary's vacuum.
                "hot_standby_feedback = on\n"
            )
            if log_statements:
                conf.write("log_statement = 'all'\nlog_line_prefix = '%m [%a] '\n")
        dbs = Databases(root, bindir, primary_url, data, socket_dir)
        dbs.start_replica()
        try:
            yield dbs
        finally:
            with contextlib.suppress(Exception):
                dbs.stop_replica("immediate")
    finally:
        with contextlib.suppress(Exception):
            localservices.stop_redis(primary_instance, progress=lambda _m: None)
        with contextlib.suppress(Exception):
            localservices.stop_postgres(primary_instance, progress=lambda _m: None)
        shutil.rmtree(root, ignore_errors=True)
        with contextlib.suppress(Exception):
            shutil.rmtree(localservices.service_paths(primary_instance).base, ignore_errors=True)


def wait_for_replay(dbs: Databases, timeout: float = 30) -> None:
    """Until the replica has replayed everything the primary has flushed."""
    import psycopg

    with psycopg.connect(libpq(dbs.primary_url), autocommit=True) as primary:
        target = primary.execute("SELECT pg_current_wal_flush_lsn()").fetchone()
    assert target is not None
    deadline = time.monotonic() + timeout
    with psycopg.connect(libpq(dbs.replica_url), autocommit=True) as replica:
        while time.monotonic() < deadline:
            row = replica.execute(
                "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (str(target[0]),)
            ).fetchone()
            if row and row[0]:
                return
            time.sleep(0.05)
    raise AssertionError("the replica did not catch up")


def seed(database_url: str, keys_file: Path, officers: int = 2) -> dict[str, Any]:
    """Schema, the small test city, accounts (officers, a coordinator, a department, the
    city) with bearer tokens. Returns {"tokens": {...}, "officers": [(token, lon, lat)]}."""
    from datetime import UTC, datetime

    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session

    from fieldapp import create_app, crypto, migrate
    from fieldapp.models import Area, Department
    from fieldapp.services import accounts
    from grid.importer import import_boundaries
    from tests.support import PASSWORD, cell_centre, small_city

    crypto.load(None, keys_file)  # one key file for every node, written once here
    engine = create_engine(database_url)
    migrate.upgrade(engine)
    app = create_app(
        {
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": "memory://",
            "SECRET_KEY": "nodes",
            "DATA_KEYS_FILE": str(keys_file),
        }
    )
    tokens: dict[str, str] = {}
    with app.app_context(), Session(engine) as session, session.begin():
        import_boundaries(session, small_city(), source="tests.support.small_city")
        county = session.execute(select(Area.id).where(Area.code == "991101")).scalar_one()
        department = Department(
            code="991101-D01", name="测试区司法局", level="county", area_id=county
        )
        session.add(department)
        session.flush()
        specs: dict[str, dict[str, Any]] = {
            "coordinator": {"role": "coordinator", "area_code": "991101001"},
            "department": {"role": "department", "department_id": department.id},
            "city": {"role": "city", "area_code": "991100"},
        }
        cells = ["991101001001001", "991101001001002"]
        for i in range(officers):
            specs[f"officer{i}"] = {"role": "officer", "cell_codes": [cells[i % 2]]}
        for name, spec in specs.items():
            user = accounts.create_user(
                session, username=f"n_{name}", password=PASSWORD, display_name=name, **spec
            )
            tokens[name] = accounts.issue_token(session, user, "nodes", datetime.now(UTC)).token
    engine.dispose()
    places = [cell_centre(0, 0), cell_centre(1, 0)]
    return {
        "tokens": tokens,
        "officers": [(tokens[f"officer{i}"], *places[i % 2]) for i in range(officers)],
    }


@dataclass
class Platform:
    """Web nodes behind nginx and Celery workers, all on one database pair and broker."""

    root: Path
    port: int
    nodes: list[Path]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def access_log(self, node: int) -> Path:
        return self.nodes[node] / "access.log"

    def requests_per_node(self) -> list[int]:
        return [
            len(self.access_log(i).read_text().splitlines()) if self.access_log(i).exists() else 0
            for i in range(len(self.nodes))
        ]


def node_env(
    dbs: Databases, broker_url: str, keys_file: Path, instance: Path, replica: bool = True
) -> dict[str, str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PG")},
        "DATABASE_URL": dbs.primary_url,
        "CELERY_BROKER_URL": broker_url,
        "SECRET_KEY": "nodes-shared-secret",
        "FIELDAPP_INSTANCE": str(instance),
        "FIELDAPP_DATA_KEYS_FILE": str(keys_file),
        "FIELDAPP_AUTO_START_SERVICES": "0",
        "FIELDAPP_PROXY_HOPS": "1",
        "FIELDAPP_KPI_CACHE_SECONDS": "0",
    }
    if replica:
        env.update(
            {
                "FIELDAPP_REPLICA_DATABASE_URL": dbs.replica_url,
                "FIELDAPP_REPLICA_MAX_LAG_SECONDS": "1",
                "FIELDAPP_REPLICA_CHECK_SECONDS": "0.2",
            }
        )
    return env


def nginx_config(port: int, sockets: list[Path], run_dir: Path) -> str:
    """Round robin over the nodes' unix sockets, as deploy/nginx/fieldapp.conf does over
    their addresses (minus TLS)."""
    user = "user root root;\n" if os.geteuid() == 0 else ""
    servers = "\n".join(f"        server unix:{s} max_fails=3 fail_timeout=10s;" for s in sockets)
    tmp = run_dir / "tmp"
    return f"""{user}daemon off;
worker_processes 1;
pid {run_dir / "nginx.pid"};
error_log {run_dir / "nginx-error.log"} warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    client_max_body_size 16m;
    upstream fieldapp_web {{
{servers}
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            proxy_pass http://fieldapp_web;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_next_upstream error timeout http_502 http_503;
            proxy_next_upstream_tries 2;
        }}
    }}
}}
"""


def _gunicorn(env: dict[str, str], sock: Path, log_dir: Path, workers: int, threads: int) -> Any:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config=python:fieldapp.gunicorn_config",
            f"--workers={workers}",
            f"--threads={threads}",
            f"--bind=unix:{sock}",
            "--log-level=warning",
            # Stopping the test's servers need not wait for idle threads.
            "--graceful-timeout=2",
            f"--access-logfile={log_dir / 'access.log'}",
            f"--chdir={REPO}",
            "fieldapp:create_app()",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(log_dir / "gunicorn.log").open("w"),
    )


def _celery(env: dict[str, str], name: str, log_dir: Path) -> Any:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "workers.app",
            "worker",
            f"--hostname={name}@%h",
            "--concurrency=1",
            "--prefetch-multiplier=1",
            "-O",
            "fair",
            "--without-mingle",
            "--without-gossip",
            "--loglevel=INFO",
        ],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=(log_dir / "worker.log").open("w"),
    )


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any, Any]:
    """(status, JSON body or None, headers) of a GET through nginx."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        raw = response.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        return response.status, body, response.headers
    finally:
        conn.close()


def post(port: int, path: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(
            "POST",
            path,
            body=json.dumps(body),
            headers={**headers, "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else None
    finally:
        conn.close()


def _wait_up(port: int, procs: list[Any], logs: list[Path], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc, log in zip(procs, logs, strict=True):
            if proc.poll() is not None:
                raise AssertionError(f"a process died:\n{log.read_text()[-3000:]}")
        try:
            if get(port, "/healthz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError("the web nodes did not come up")


@contextlib.contextmanager
def platform(
    dbs: Databases,
    broker_url: str,
    keys_file: Path,
    *,
    web_nodes: int = 2,
    workers: int = 2,
    gunicorn_workers: int = 1,
    threads: int = 4,
    replica: bool = True,
) -> Iterator[Platform]:
    """`web_nodes` gunicorn servers behind one nginx, and `workers` Celery workers."""
    binary = front_proxy.nginx_binary()
    if binary is None:
        raise RuntimeError("nginx is missing: scripts/bootstrap.sh installs nginx-light")
    root = Path(tempfile.mkdtemp(prefix="nw", dir="/tmp"))
    nodes = [root / f"web{i}" for i in range(web_nodes)]
    run_dir = root / "nginx"
    for directory in [*nodes, run_dir, run_dir / "tmp"]:
        directory.mkdir()
    plat = Platform(root, free_port(), nodes)
    procs: list[Any] = []
    logs: list[Path] = []
    nginx: Any = None
    try:
        for node in nodes:
            env = node_env(dbs, broker_url, keys_file, node, replica)
            procs.append(_gunicorn(env, node / "gunicorn.sock", node, gunicorn_workers, threads))
            logs.append(node / "gunicorn.log")
        for i in range(workers):
            worker_dir = root / f"worker{i}"
            worker_dir.mkdir()
            env = node_env(dbs, broker_url, keys_file, worker_dir, replica)
            procs.append(_celery(env, f"w{i}", worker_dir))
            logs.append(worker_dir / "worker.log")
        config = run_dir / "nginx.conf"
        config.write_text(nginx_config(plat.port, [n / "gunicorn.sock" for n in nodes], run_dir))
        nginx = subprocess.Popen(
            [binary, "-c", str(config), "-p", str(run_dir)],
            stdout=subprocess.DEVNULL,
            stderr=(run_dir / "stderr.log").open("w"),
        )
        logs.append(run_dir / "stderr.log")
        plat.processes = procs
        # Every node up, not just one: /healthz through nginx until each access log has a line.
        deadline = time.monotonic() + 90
        while min(plat.requests_per_node()) == 0:
            _wait_up(plat.port, [*procs, nginx], logs)
            if time.monotonic() > deadline:
                raise AssertionError("not every web node came up")
        worker_logs = [root / f"worker{i}" / "worker.log" for i in range(workers)]
        while not all(" ready." in log.read_text() for log in worker_logs):
            if time.monotonic() > deadline:
                raise AssertionError("not every worker came up")
            time.sleep(0.2)
        yield plat
    finally:
        # nginx first: gunicorn then has no keep-alive connection to wait for.
        if nginx is not None:
            nginx.terminate()
            nginx.wait(timeout=20)
        # Quick stops (gunicorn SIGINT, Celery SIGQUIT): nothing here tests graceful shutdown.
        for proc in procs:
            quick = signal.SIGQUIT if "celery" in proc.args else signal.SIGINT
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(quick)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(root, ignore_errors=True)
