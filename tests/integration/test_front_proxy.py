"""Slow clients (issue #15, item 6): behind the embedded front proxy (real nginx, as
`fieldapp up` runs it) they wait in nginx's event loop and never reach a gunicorn thread;
gunicorn on its own is taken by as many slow clients as it has threads (the control)."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fieldapp import front_proxy

REPO = Path(__file__).resolve().parents[2]
STATIC = REPO / "fieldapp" / "static"
# A tiny server, so that the control can take all of it with two slow clients.
WORKERS, THREADS = 1, 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _gunicorn(database_url: str, bind: str, instance: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": "memory://",
        "SECRET_KEY": "test",
        "FIELDAPP_INSTANCE": str(instance),
        "FIELDAPP_PROXY_HOPS": "1",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config=python:fieldapp.gunicorn_config",
            f"--workers={WORKERS}",
            f"--threads={THREADS}",
            f"--bind={bind}",
            "--log-level=warning",
            f"--chdir={REPO}",
            "fieldapp:create_app()",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(instance / "gunicorn.log").open("w"),
    )


def _get(port: int, path: str = "/healthz", timeout: float = 5.0) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def _wait_ok(port: int, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text()
        try:
            if _get(port, timeout=2) == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server did not come up:\n" + log.read_text())


def _slow_clients(port: int, count: int, bodies: bool = True) -> list[socket.socket]:
    """Clients that start a request and then stall: half in the headers, half in a report's
    body (with `bodies`; else all in the headers)."""
    clients = []
    for i in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        if i % 2 or not bodies:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        else:
            s.sendall(
                b"POST /api/v1/reports HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b'Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"id": '
            )
        clients.append(s)
    return clients


@pytest.fixture()
def instance() -> Iterator[Path]:
    # Short path: a unix socket's name must fit in sun_path (108 bytes).
    with tempfile.TemporaryDirectory(prefix="fp") as tmp:
        yield Path(tmp)


@pytest.fixture()
def proxied(database_url: str, small_city_loaded: None, instance: Path) -> Iterator[int]:
    """The app behind the embedded front proxy (header timeout 3 s); yields nginx's port."""
    binary = front_proxy.nginx_binary()
    assert binary, "nginx is missing: scripts/bootstrap.sh installs nginx-light"
    sock = instance / "gunicorn.sock"
    server = _gunicorn(database_url, f"unix:{sock}", instance)
    proxy = front_proxy.FrontProxy(
        listen_host="127.0.0.1",
        listen_port=_free_port(),
        upstream_socket=sock,
        run_dir=instance / "run",
        static_dir=STATIC,
        max_body_bytes=16 * 1024 * 1024,
        limits=front_proxy.ProxyLimits(header_timeout_s=3, body_timeout_s=3),
    )
    (instance / "run").mkdir()
    nginx = front_proxy.start(proxy, binary)
    try:
        _wait_ok(proxy.listen_port, server, instance / "gunicorn.log")
        yield proxy.listen_port
    finally:
        for child in (nginx, server):
            child.terminate()
            child.wait(timeout=30)


def test_slow_clients_wait_in_nginx_while_others_are_served(proxied: int) -> None:
    held = _slow_clients(proxied, 200)  # 100 times the server's threads
    try:
        started = time.monotonic()
        statuses = [_get(proxied) for _ in range(10)]
        assert statuses == [200] * 10
        assert time.monotonic() - started < 10
    finally:
        for s in held:
            s.close()


def test_a_client_that_stalls_in_its_headers_is_cut_off(proxied: int) -> None:
    [stalled] = _slow_clients(proxied, 2)[1:]  # the one stalled inside its headers
    stalled.settimeout(15)
    started = time.monotonic()
    try:
        # nginx drops it after 3 s: with reset_timedout_connection, a reset
        answer = stalled.recv(4096)
    except ConnectionResetError:
        answer = b""
    waited = time.monotonic() - started
    stalled.close()
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer[:80]
    assert 2 <= waited < 12, waited


def test_without_the_proxy_as_many_slow_clients_as_threads_take_gunicorn(
    database_url: str, small_city_loaded: None, instance: Path
) -> None:
    """The control: what the proxy prevents really happens without it."""
    port = _free_port()
    server = _gunicorn(database_url, f"127.0.0.1:{port}", instance)
    try:
        _wait_ok(port, server, instance / "gunicorn.log")
        # Stalled in the headers: a thread waits for them. (One stalled in a report's body
        # would be answered 401 without its body being read, freeing the thread.)
        held = _slow_clients(port, WORKERS * THREADS, bodies=False)
        time.sleep(0.5)  # each has reached a thread, blocked reading its request
        try:
            with pytest.raises(TimeoutError):
                _get(port, timeout=3)
        finally:
            for s in held:
                s.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_rendered_configuration_passes_nginx_t(instance: Path) -> None:
    binary = front_proxy.nginx_binary()
    assert binary, "nginx is missing: scripts/bootstrap.sh installs nginx-light"
    proxy = front_proxy.FrontProxy(
        listen_host="127.0.0.1",
        listen_port=_free_port(),
        upstream_socket=instance / "gunicorn.sock",
        run_dir=instance,
        static_dir=STATIC,
        max_body_bytes=16 * 1024 * 1024,
    )
    front_proxy.check(proxy, binary)  # raises with nginx's message on a bad config
    text = proxy.config_path.read_text()
    assert "client_header_timeout 10s;" in text
    assert f"client_max_body_size {16 * 1024 * 1024};" in text
    assert "proxy_request_buffering on;" in text
