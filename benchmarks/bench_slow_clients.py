"""How many slow clients the embedded default survives while it serves everyone else
(issue #15, item 6).

A slow client opens a connection, starts its request's headers and then sends nothing more
(slowloris); each such client holds a gunicorn thread until it finishes. While N of them are
held open, a normal client makes REQUESTS sequential `GET /api/v1/categories` calls with a
5 s timeout; the figure is how many were answered and how fast. Two set-ups, same run, same gunicorn
settings (fieldapp/gunicorn_config.py, 3 processes × 6 threads):
- the embedded default of `make run`: nginx in front (fieldapp/front_proxy.py), gunicorn on a
  unix socket behind it;
- the baseline: gunicorn listening itself (as before this change), which 18 slow clients
  fill (one per thread: 3 processes × 6).
"""

from __future__ import annotations

import http.client
import os
import resource
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.common import (
    REPO,
    figure,
    free_port,
    percentile,
    start_gunicorn,
    throwaway_database,
)
from fieldapp import front_proxy

SLOW_COUNTS = [int(n) for n in os.environ.get("BENCH_SLOW_COUNTS", "0,18,100,1000,4000").split(",")]
REQUESTS = int(os.environ.get("BENCH_SLOW_REQUESTS", 30))
TIMEOUT_S = 5.0


def _get_ms(port: int) -> float | None:
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)
    try:
        conn.request("GET", "/api/v1/categories")
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            return None
    except OSError:
        return None
    finally:
        conn.close()
    return (time.perf_counter() - started) * 1000


def _hold(port: int, count: int) -> list[socket.socket]:
    held = []
    for _ in range(count):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            s.sendall(b"GET /api/v1/categories HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        except OSError:
            break  # the server (or its backlog) refused more: what is held is the figure
        held.append(s)
    return held


def _measure(label: str, port: int) -> None:
    for count in SLOW_COUNTS:
        held = _hold(port, count)
        time.sleep(0.5)
        try:
            times = [_get_ms(port) for _ in range(REQUESTS)]
        finally:
            for s in held:
                s.close()
        answered = [t for t in times if t is not None]
        figure(
            "slow_clients",
            setup=label,
            slow_clients=len(held),
            requests=REQUESTS,
            answered=len(answered),
            p50_ms=round(percentile(answered, 50), 1) if answered else None,
            p99_ms=round(percentile(answered, 99), 1) if answered else None,
            timeout_s=TIMEOUT_S,
        )
        time.sleep(1)  # let the servers drop what was closed


@contextmanager
def _served(url: str, proxied: bool) -> Iterator[int]:
    with tempfile.TemporaryDirectory(prefix="slow") as tmp:
        run = Path(tmp)
        port = free_port()
        children: list[subprocess.Popen[bytes]] = []
        if proxied:
            binary = front_proxy.nginx_binary()
            if binary is None:
                raise SystemExit("nginx is missing: run `make bench` (it installs nginx-light)")
            sock = run / "gunicorn.sock"
            env = {"FIELDAPP_PROXY_HOPS": "1", "FIELDAPP_INSTANCE": tmp}
            children.append(start_gunicorn(url, port, env, bind=f"unix:{sock}"))
            proxy = front_proxy.FrontProxy(
                listen_host="127.0.0.1",
                listen_port=port,
                upstream_socket=sock,
                run_dir=run,
                static_dir=REPO / "fieldapp" / "static",
                max_body_bytes=16 * 1024 * 1024,
            )
            children.append(front_proxy.start(proxy, binary))
        else:
            children.append(start_gunicorn(url, port, {"FIELDAPP_INSTANCE": tmp}))
        try:
            deadline = time.monotonic() + 90
            while _get_ms(port) is None:
                if time.monotonic() > deadline:
                    raise SystemExit("the server did not come up")
                time.sleep(0.3)
            yield port
        finally:
            for child in reversed(children):
                child.terminate()
                child.wait(timeout=30)


def main() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(SLOW_COUNTS) + 256
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    with throwaway_database("slow") as engine:
        url = engine.url.render_as_string(hide_password=False)
        with _served(url, proxied=True) as port:
            _measure("nginx in front of gunicorn (make run)", port)
        with _served(url, proxied=False) as port:
            _measure("gunicorn alone (baseline)", port)


if __name__ == "__main__":
    main()
