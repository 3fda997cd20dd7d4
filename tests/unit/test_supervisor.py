"""The embedded supervisor with real child processes (small Python programs): a child that
dies is restarted and the log says so; a crash loop stops everything; stopping sends one
SIGTERM, waits, and kills only what ignores it; no child outlives the supervisor."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from fieldapp.supervisor import Program, Supervisor, pid_alive

SLEEPER = "import time\nwhile True: time.sleep(0.1)"
STUBBORN = (
    "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "while True: time.sleep(0.1)"
)


def _program(name: str, code: str, **kw: float) -> Program:
    return Program(name, [sys.executable, "-c", code], **kw)  # type: ignore[arg-type]


def _wait_for(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def _run_in_thread(supervisor: Supervisor) -> tuple[threading.Thread, list[int]]:
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(supervisor.run()), daemon=True)
    thread.start()
    _wait_for(lambda: all(p.process is not None for p in supervisor.programs))
    return thread, result


def test_a_dead_child_is_restarted_and_the_log_says_so() -> None:
    log: list[str] = []
    web, beat = _program("web", SLEEPER), _program("beat", SLEEPER)
    supervisor = Supervisor([web, beat], log.append, poll_s=0.05, restart_delay_s=0.05)
    thread, result = _run_in_thread(supervisor)
    first = beat.process.pid  # type: ignore[union-attr]
    os.kill(first, signal.SIGKILL)
    _wait_for(lambda: beat.restarts == 1 and beat.process.pid != first)  # type: ignore[union-attr]
    assert pid_alive(beat.process.pid)  # type: ignore[union-attr]
    assert "beat: died (signal 9), restarting (restart 1)" in log
    assert web.restarts == 0
    supervisor.stop()
    thread.join(timeout=30)
    assert result == [0]
    assert not pid_alive(web.process.pid) and not pid_alive(beat.process.pid)  # type: ignore[union-attr]
    assert log[-4:] == ["web: stopping", "beat: stopping", "web: stopped", "beat: stopped"]


def test_a_crash_loop_stops_everything() -> None:
    log: list[str] = []
    crashing = _program("worker", "import sys; sys.exit(3)")
    web = _program("web", SLEEPER)
    supervisor = Supervisor([web, crashing], log.append, poll_s=0.02, restart_delay_s=0.01)
    assert supervisor.run() == 1
    assert supervisor.failed is not None and "worker died 6 times" in supervisor.failed
    assert "exit code 3" in supervisor.failed
    assert not pid_alive(web.process.pid)  # type: ignore[union-attr]


def test_a_child_ignoring_sigterm_is_killed_after_its_timeout() -> None:
    log: list[str] = []
    stubborn = _program("web", STUBBORN, stop_timeout_s=0.5)
    supervisor = Supervisor([stubborn], log.append, poll_s=0.02)
    thread, _result = _run_in_thread(supervisor)
    time.sleep(0.3)  # let it install its handler
    started = time.monotonic()
    supervisor.stop()
    thread.join(timeout=30)
    assert 0.4 < time.monotonic() - started < 10
    assert "web: still running after 0 s, killed" in log or any("killed" in m for m in log)
    assert not pid_alive(stubborn.process.pid)  # type: ignore[union-attr]


def test_children_stop_when_the_supervisor_is_killed(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    code = (
        "import sys, time\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})\n"
        "from fieldapp.supervisor import Program, Supervisor\n"
        f"child = Program('web', [sys.executable, '-c', {SLEEPER!r}])\n"
        "s = Supervisor([child], lambda m: None, poll_s=0.05)\n"
        "import threading\n"
        "threading.Thread(target=s.run, daemon=True).start()\n"
        "while child.process is None: time.sleep(0.01)\n"
        f"open({str(pidfile)!r}, 'w').write(str(child.process.pid))\n"
        "time.sleep(60)\n"
    )

    parent = subprocess.Popen([sys.executable, "-c", code])
    try:
        _wait_for(lambda: pidfile.exists() and pidfile.read_text().strip() != "")
        child = int(pidfile.read_text())
        assert pid_alive(child)
        parent.kill()  # kill -9: no chance to stop its children
        parent.wait()
        _wait_for(lambda: not _running(child))
    finally:
        if parent.poll() is None:
            parent.kill()


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting for a parent that is gone."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def test_the_front_program_is_stopped_and_gone_before_the_others_get_their_signal(
    tmp_path: Path,
) -> None:
    # The front (nginx) takes a moment to drain; the web server behind it must still be
    # answering until it has finished (issue #16 item 5: both at once gave a 502).
    gone = tmp_path / "front-gone"
    seen = tmp_path / "web-saw"
    front_code = (
        "import signal, sys, time, pathlib\n"
        "def stop(*_):\n"
        "    time.sleep(0.5)\n"
        f"    pathlib.Path({str(gone)!r}).write_text('x')\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        "while True: time.sleep(0.05)\n"
    )
    web_code = (
        "import signal, sys, time, pathlib\n"
        "def stop(*_):\n"
        f"    pathlib.Path({str(seen)!r}).write_text(\n"
        f"        'after' if pathlib.Path({str(gone)!r}).exists() else 'before')\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        "while True: time.sleep(0.05)\n"
    )
    log: list[str] = []
    front = Program("nginx", [sys.executable, "-c", front_code], front=True)
    web = _program("web", web_code)
    # Listed after the web server: the order of the list does not decide, the flag does.
    supervisor = Supervisor([web, front], log.append, poll_s=0.02)
    thread, result = _run_in_thread(supervisor)
    time.sleep(0.5)  # let both install their handlers
    supervisor.stop()
    thread.join(timeout=30)
    assert result == [0]
    assert seen.read_text() == "after"
    assert log[-4:] == ["nginx: stopping", "nginx: stopped", "web: stopping", "web: stopped"]
