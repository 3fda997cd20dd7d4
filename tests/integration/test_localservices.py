"""The private PostgreSQL+PostGIS cluster and redis-server that run under an instance folder.

These start real servers (about 1-2 s per fresh cluster), so the instance folders are shared per
module; every test calls the idempotent ``ensure_*`` first and leaves the services running.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import kombu
import psycopg
import pytest
import redis

from fieldapp import localservices as ls

IS_ROOT = os.geteuid() == 0


def _libpq(url: str) -> str:
    """The SQLAlchemy URL without its ``+psycopg`` driver suffix, as psycopg wants it."""
    parts = urlsplit(url)
    return urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, ""))


def _redis_socket(url: str) -> str:
    assert url.startswith("redis+socket:///"), url
    return unquote(urlsplit(url).path)


def _teardown(instance: Path) -> None:
    paths = ls.service_paths(instance)
    ls.remove_private_data(instance, progress=lambda _msg: None)
    assert ls.postgres_status(instance) == "not initialised"
    if paths.is_fallback:
        assert not paths.base.exists(), "the fallback directory should be removed with the data"


@pytest.fixture(scope="module")
def reachable_instance() -> Iterator[Path]:
    """An instance folder the postgres system user can reach (a plain checkout under /srv…)."""
    # pytest's own tmp dirs are 0700 under /tmp/pytest-of-root, which the postgres user
    # cannot traverse, so as root build a world-traversable one by hand.
    holder = Path(tempfile.mkdtemp(prefix="fieldapp-ls-"))
    holder.chmod(0o755)
    instance = holder / "instance"
    try:
        yield instance
    finally:
        _teardown(instance)
        shutil.rmtree(holder, ignore_errors=True)


@pytest.fixture(scope="module")
def hidden_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """As root: an instance folder under a 0700 directory (like a repo under /root)."""
    if not IS_ROOT:
        pytest.skip("only root has to hand PostgreSQL to another user")
    holder = tmp_path_factory.mktemp("hidden")
    holder.chmod(0o700)
    instance = holder / "instance"
    try:
        yield instance
    finally:
        _teardown(instance)


def _exercise_postgres(instance: Path) -> ls.ServicePaths:
    """Cold start, PostGIS works, warm ensure is fast, data survives stop and start."""
    messages: list[str] = []
    url = ls.ensure_postgres(instance, progress=messages.append)
    assert url == ls.private_database_url(instance)
    assert ls.postgres_status(instance) == "running"
    paths = ls.service_paths(instance)
    assert paths.record.is_file(), "where the files live must be recorded in instance/"
    assert paths.pg_log.is_file()

    with psycopg.connect(_libpq(url)) as conn:
        assert conn.execute("SELECT postgis_version()").fetchone() is not None
        # pg_trgm must see Chinese characters as word characters (locale C.UTF-8).
        trigrams = conn.execute("SELECT show_trgm('邻里纠纷')").fetchone()
        assert trigrams is not None and trigrams[0]
        assert conn.execute("SHOW server_encoding").fetchone() == ("UTF8",)
        assert conn.execute("SHOW listen_addresses").fetchone() == ("",)
        conn.execute("CREATE TABLE IF NOT EXISTS kept (value text)")
        conn.execute("INSERT INTO kept VALUES ('survives restarts')")

    started = time.monotonic()
    assert ls.ensure_postgres(instance, progress=messages.append) == url
    assert time.monotonic() - started < 0.5, "ensure_postgres on a running cluster must be quick"

    ls.stop_postgres(instance, progress=messages.append)
    assert ls.postgres_status(instance) == "stopped"
    ls.stop_postgres(instance, progress=messages.append)  # stopping twice is fine
    assert ls.ensure_postgres(instance, progress=messages.append) == url
    with psycopg.connect(_libpq(url)) as conn:
        row = conn.execute("SELECT count(*) FROM kept WHERE value = 'survives restarts'")
        assert (row.fetchone() or (0,))[0] >= 1
    return paths


def test_url_is_deterministic_and_creates_nothing(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    url = ls.private_database_url(instance)
    assert url == ls.private_database_url(instance)
    assert url.startswith("postgresql+psycopg://postgres@/fieldapp?host=/")
    assert url.endswith(f"&port={ls.PG_PORT}")
    assert ls.private_broker_url(instance).startswith("redis+socket:///")
    assert not instance.exists()


def test_postgres_lifecycle_in_instance_folder(reachable_instance: Path) -> None:
    paths = _exercise_postgres(reachable_instance)
    assert paths.base == reachable_instance.resolve()
    assert paths.pg_data.is_relative_to(reachable_instance.resolve())
    if IS_ROOT:
        assert paths.pg_data.stat().st_uid == pwd.getpwnam("postgres").pw_uid


def test_postgres_falls_back_when_postgres_user_cannot_reach_instance(
    hidden_instance: Path,
) -> None:
    paths = _exercise_postgres(hidden_instance)
    assert paths.base.is_relative_to(ls.FALLBACK_ROOT)
    assert str(paths.base) in paths.record.read_text()
    # Logs stay next to the app even though the data lives elsewhere.
    assert paths.pg_log.parent == hidden_instance.resolve()


def test_restart_after_crash_with_reused_pid(reachable_instance: Path) -> None:
    """A crash leaves postmaster.pid behind; after a reboot its PID may belong to anything."""
    url = ls.ensure_postgres(reachable_instance, progress=lambda _msg: None)
    paths = ls.service_paths(reachable_instance)
    with psycopg.connect(_libpq(url)) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS crash (value int)")
        conn.execute("INSERT INTO crash VALUES (42)")

    pidfile = paths.pg_data / "postmaster.pid"
    os.kill(int(pidfile.read_text().split()[0]), signal.SIGKILL)
    deadline = time.monotonic() + 15
    while ls._pids_with_cwd(paths.pg_data):  # orphaned backends exit on their own
        assert time.monotonic() < deadline, "backends of the killed server did not exit"
        time.sleep(0.1)
    # Point the lock files at a live, unrelated process, as after a reboot.
    with _unrelated_process() as unrelated:
        for lock in (pidfile, paths.pg_socket_dir / f".s.PGSQL.{ls.PG_PORT}.lock"):
            lines = lock.read_text().splitlines()
            lock.write_text("\n".join([str(unrelated.pid), *lines[1:]]) + "\n")
        ls.stop_postgres(reachable_instance, progress=lambda _msg: None)
        assert unrelated.poll() is None, "stop_postgres signalled a process that is not ours"

        messages: list[str] = []
        assert ls.ensure_postgres(reachable_instance, progress=messages.append) == url
        assert any("stale" in m for m in messages), messages
    with psycopg.connect(_libpq(url)) as conn:
        assert conn.execute("SELECT value FROM crash").fetchall() == [(42,)]


@contextlib.contextmanager
def _unrelated_process() -> Iterator[subprocess.Popen[bytes]]:
    """A live process that has nothing to do with our servers, to stand in for a reused PID."""
    proc = subprocess.Popen(["sleep", "60"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def test_stale_redis_pidfile_is_not_trusted(reachable_instance: Path) -> None:
    ls.ensure_redis(reachable_instance, progress=lambda _msg: None)
    ls.stop_redis(reachable_instance, progress=lambda _msg: None)
    paths = ls.service_paths(reachable_instance)
    with _unrelated_process() as unrelated:
        paths.redis_pidfile.write_text(f"{unrelated.pid}\n")
        ls.stop_redis(reachable_instance, progress=lambda _msg: None)
        assert unrelated.poll() is None, "stop_redis signalled a process that is not ours"
        url = ls.ensure_redis(reachable_instance, progress=lambda _msg: None)
        assert redis.Redis(unix_socket_path=_redis_socket(url)).ping()


def test_create_and_drop_throwaway_database(reachable_instance: Path) -> None:
    server = ls.ensure_postgres(reachable_instance, progress=lambda _msg: None)
    _check_throwaway_database(server)


@pytest.mark.skipif(not os.environ.get("DATABASE_URL"), reason="no external DATABASE_URL set")
def test_create_and_drop_throwaway_database_on_external_server() -> None:
    _check_throwaway_database(os.environ["DATABASE_URL"])


def _check_throwaway_database(server: str) -> None:
    name = f"fieldapp_test_{uuid.uuid4().hex[:10]}"
    url = ls.create_database(server, name)
    try:
        assert urlsplit(url).path == f"/{name}"
        assert urlsplit(url).scheme == urlsplit(server).scheme
        with pytest.raises(ls.ServiceError, match="already exists"):
            ls.create_database(server, name)
        url = ls.create_database(server, name, replace=True)
        with psycopg.connect(_libpq(url)) as conn:
            assert conn.execute("SELECT postgis_version()").fetchone() is not None
            assert conn.execute("SELECT similarity('abc', 'abd')").fetchone() is not None
        # A connection left open (as a crashed test would) must not block the drop.
        idle = psycopg.connect(_libpq(url))
    finally:
        ls.drop_database(server, name)
    with pytest.raises(psycopg.OperationalError):
        idle.execute("SELECT 1")
    idle.close()
    with psycopg.connect(ls._maintenance_url(server)) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        assert found.fetchone() is None
    ls.drop_database(server, name)  # dropping a missing database is a no-op
    with pytest.raises(ls.ServiceError):
        ls.drop_database(server, "postgres")


def test_missing_postgis_names_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ls, "_pg_sharedir", lambda _bindir, _major: tmp_path / "no-share")
    instance = tmp_path / "instance"
    major = ls._major_of(ls.find_pg_bindir())
    with pytest.raises(ls.ServiceError) as excinfo:
        ls.ensure_postgres(instance, progress=lambda _msg: None)
    assert f"apt-get install -y postgresql-{major}-postgis-3" in str(excinfo.value)
    assert not (instance / "postgres").exists(), "nothing should be half-created"


def _exercise_redis(instance: Path) -> str:
    url = ls.ensure_redis(instance, progress=lambda _msg: None)
    assert url == ls.private_broker_url(instance)
    sock = _redis_socket(url)
    client = redis.Redis(unix_socket_path=sock)
    assert client.ping()
    assert redis.from_url(f"unix://{sock}").ping()
    client.set("fieldapp:kept", "yes")

    with kombu.Connection(url) as conn:
        conn.connect()
        assert conn.connected
        queue = conn.SimpleQueue("fieldapp-test")
        queue.put({"report": 1})
        message = queue.get(timeout=5)
        assert message.payload == {"report": 1}
        message.ack()
        queue.close()

    started = time.monotonic()
    assert ls.ensure_redis(instance, progress=lambda _msg: None) == url
    assert time.monotonic() - started < 0.1

    ls.stop_redis(instance, progress=lambda _msg: None)
    assert ls.redis_status(instance) == "stopped"
    assert not Path(sock).exists()
    ls.stop_redis(instance, progress=lambda _msg: None)
    assert ls.ensure_redis(instance, progress=lambda _msg: None) == url
    # Snapshot on clean shutdown: what was queued before `down` is there after `up`.
    assert redis.Redis(unix_socket_path=sock).get("fieldapp:kept") == b"yes"
    return sock


def test_redis_lifecycle(reachable_instance: Path) -> None:
    sock = _exercise_redis(reachable_instance)
    assert Path(sock).is_relative_to(reachable_instance.resolve())
    assert stat.S_IMODE(Path(sock).parent.stat().st_mode) == 0o700


def test_redis_follows_postgres_into_fallback_dir(hidden_instance: Path) -> None:
    sock = _exercise_redis(hidden_instance)
    assert Path(sock).is_relative_to(ls.FALLBACK_ROOT)


def test_cli_url_prints_exports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    instance = tmp_path / "instance"
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("CELERY_BROKER_URL", "amqp://guest@rabbit//")
    assert ls.main(["url", "--instance", str(instance)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"export DATABASE_URL='{ls.private_database_url(instance)}'",
        "export CELERY_BROKER_URL=amqp://guest@rabbit//",
    ]
    assert not instance.exists()


def test_the_private_redis_keeps_its_queue_across_a_crash(tmp_path: Path) -> None:
    """kill -9 (no chance to save a snapshot): the queued messages are back after a restart,
    from the append-only file."""
    import os
    import signal

    instance = tmp_path / "instance"
    url = ls.ensure_redis(instance, progress=lambda _msg: None)
    try:
        with kombu.Connection(url) as conn:
            queue = conn.SimpleQueue("fieldapp-crash-test")
            for n in range(3):
                queue.put({"report": n})
            queue.close()
        time.sleep(1.5)  # appendfsync everysec: what is older than a second is on disk
        pid = ls._redis_pid(ls.service_paths(instance))
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while ls.redis_status(instance) == "running" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ls.ensure_redis(instance, progress=lambda _msg: None) == url
        with kombu.Connection(url) as conn:
            queue = conn.SimpleQueue("fieldapp-crash-test")
            got = [queue.get(timeout=5).payload for _ in range(3)]
            queue.close()
        assert got == [{"report": 0}, {"report": 1}, {"report": 2}]
    finally:
        ls.stop_redis(instance, progress=lambda _msg: None)
