"""`fieldapp up` (`make run`) end to end, as its users run it, on a database of its own and the real
private redis: it serves through nginx, restarts a killed web server and a killed beat
(saying so), runs exactly one beat, and stops everything on SIGTERM without a traceback or an
orphan (issue #16, items 2, 3 and 5)."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from fieldapp import localservices
from tests.faults.stack import alive, children_of

FIELDAPP = Path(sys.executable).parent / "fieldapp"


def _wait(what: str, check: Callable[[], bool], log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"waited {timeout} s for {what}:\n{log.read_text()}"
        time.sleep(0.3)


def _healthy(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
        conn.request("GET", "/healthz")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


def _one(children: dict[int, str], marker: str) -> int:
    [pid] = [p for p, cmd in children.items() if marker in cmd]
    return pid


@pytest.fixture()
def own_database(database_url: str) -> Iterator[str]:
    name = f"fieldapp_up_{os.getpid()}"
    server = make_url(database_url).render_as_string(hide_password=False)
    url = localservices.create_database(server, name, replace=True)
    try:
        yield url
    finally:
        localservices.drop_database(server, name)


def test_up_restarts_what_dies_and_stops_cleanly(
    own_database: str, broker_url: str, tmp_path: Path
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "up.log"
    env = {
        **os.environ,
        "DATABASE_URL": own_database,
        # A redis database of its own: nothing of this test reaches another test's worker.
        "CELERY_BROKER_URL": f"{broker_url}?virtual_host=7",
        "SECRET_KEY": "test",
        "FIELDAPP_INSTANCE": str(tmp_path),
    }
    with log.open("w") as out:
        up = subprocess.Popen(
            [str(FIELDAPP), "up", "--no-history", f"--port={port}"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    seen: set[int] = set()
    try:
        _wait("the first answer", lambda: _healthy(port), log, timeout=240)
        children = children_of(up.pid)
        seen |= set(children)
        assert sum("nginx" in c for c in children.values()) == 1, children
        beat = _one(children, " beat ")
        web = _one(children, "gunicorn")

        os.kill(web, signal.SIGKILL)
        _wait("the web server's restart", lambda: "web: restarted" in log.read_text(), log)
        _wait("answers again", lambda: _healthy(port), log)
        assert "web: died (signal 9)" in log.read_text()

        os.kill(beat, signal.SIGKILL)
        _wait("beat's restart", lambda: "beat: restarted" in log.read_text(), log)

        def new_beat() -> bool:
            beats = [p for p, c in children_of(up.pid).items() if " beat " in c]
            return len(beats) == 1 and beats[0] != beat and alive(beats[0])

        _wait("one new beat", new_beat, log)
        seen |= set(children_of(up.pid))
    finally:
        up.send_signal(signal.SIGTERM)
        try:
            code = up.wait(timeout=90)
        except subprocess.TimeoutExpired:
            up.kill()
            raise
    text = log.read_text()
    assert code == 0, text
    assert "Traceback" not in text, text
    assert "stopped" in text
    assert not [p for p in seen if alive(p)], "children outlived fieldapp up"
