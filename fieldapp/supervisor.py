"""The embedded supervisor of `fieldapp up`: runs the web server, the worker and the scheduler
(beat, its own process: exactly one) as child processes, restarts any that dies — and says
so in the log — and stops them all once, gracefully, on Ctrl-C or SIGTERM.

Why its own: `fieldapp up` used to stop everything when any child died, and ran beat inside
the worker (`worker -B`), so a killed worker left its beat running as an orphan (two beats
after a restart) and a dead beat went unnoticed. Production uses systemd instead (deploy/).

Children run in sessions of their own: Ctrl-C in the terminal reaches only the supervisor,
which sends each child one SIGTERM (gunicorn finishes requests in flight, Celery its running
tasks), waits, and kills only what does not stop in time. The front proxy (nginx) goes first,
alone: it finishes what it holds while gunicorn still answers, then the others stop. On Linux
a child also gets SIGTERM if the supervisor itself dies (PR_SET_PDEATHSIG), so nothing is left
running behind it."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

Log = Callable[[str], None]

# A program that dies this many times within CRASH_WINDOW_S is broken, not unlucky: stop
# everything and say so, rather than restart it for ever.
MAX_RESTARTS = 5
CRASH_WINDOW_S = 60.0
PR_SET_PDEATHSIG = 1


@dataclass
class Program:
    name: str
    argv: Sequence[str]
    env: Mapping[str, str] | None = None
    stop_timeout_s: float = 30.0
    # The signal that stops it gracefully: SIGTERM for gunicorn and Celery, SIGQUIT for nginx.
    stop_signal: int = signal.SIGTERM
    # A front proxy: stopped first, and waited for, before the others get their signal, so
    # that it finishes the requests it holds while the web server behind it still answers,
    # and closes its clients' keep-alive connections itself (issue #16 item 5: stopping
    # both at once answered a request in flight with 502).
    front: bool = False
    process: subprocess.Popen[bytes] | None = None
    deaths: deque[float] = field(default_factory=deque)
    restarts: int = 0


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the parent dies (Linux; elsewhere a no-op)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


class Supervisor:
    """Start `programs`, keep them running until `stop()`; see the module docstring."""

    def __init__(
        self,
        programs: Sequence[Program],
        log: Log,
        *,
        poll_s: float = 0.5,
        restart_delay_s: float = 1.0,
    ) -> None:
        self.programs = list(programs)
        self._log = log
        self._poll_s = poll_s
        self._restart_delay_s = restart_delay_s
        self._stopping = threading.Event()
        self.failed: str | None = None

    def _start(self, program: Program) -> None:
        program.process = subprocess.Popen(
            list(program.argv),
            env=dict(program.env) if program.env is not None else None,
            start_new_session=True,  # Ctrl-C reaches the supervisor only
            preexec_fn=_die_with_parent,  # noqa: PLW1509  (only prctl, safe after fork)
        )

    def stop(self, *_args: object) -> None:
        """Ask the run loop to stop everything (safe from a signal handler)."""
        self._stopping.set()

    def run(self) -> int:
        """Run until stop() or a crash loop; returns 0, or 1 when a program kept dying."""
        for program in self.programs:
            self._start(program)
            self._log(f"{program.name}: started (pid {program.process.pid})")  # type: ignore[union-attr]
        try:
            while not self._stopping.wait(self._poll_s):
                for program in self.programs:
                    self._check(program)
                    if self.failed:
                        return 1
            return 0
        finally:
            self._stop_all()

    def _check(self, program: Program) -> None:
        process = program.process
        if process is None or process.poll() is None:
            return
        now = time.monotonic()
        program.deaths.append(now)
        while program.deaths and now - program.deaths[0] > CRASH_WINDOW_S:
            program.deaths.popleft()
        code = process.returncode
        how = f"signal {-code}" if code < 0 else f"exit code {code}"
        if len(program.deaths) > MAX_RESTARTS:
            self.failed = (
                f"{program.name} died {len(program.deaths)} times within "
                f"{CRASH_WINDOW_S:.0f} s (last: {how}); stopping everything"
            )
            self._log(self.failed)
            return
        program.restarts += 1
        self._log(f"{program.name}: died ({how}), restarting (restart {program.restarts})")
        if self._stopping.wait(self._restart_delay_s):
            return
        self._start(program)
        self._log(f"{program.name}: restarted (pid {program.process.pid})")  # type: ignore[union-attr]

    def _stop_all(self) -> None:
        """The front programs first, then the rest: one stop signal to each live child, then
        wait; SIGKILL what outlives its timeout."""
        self._stop([p for p in self.programs if p.front])
        self._stop([p for p in self.programs if not p.front])

    def _stop(self, programs: list[Program]) -> None:
        running = [p for p in programs if p.process and p.process.poll() is None]
        for program in running:
            self._log(f"{program.name}: stopping")
            _signal(program, program.stop_signal)
        for program in running:
            assert program.process is not None
            try:
                program.process.wait(timeout=program.stop_timeout_s)
            except subprocess.TimeoutExpired:
                self._log(
                    f"{program.name}: still running after {program.stop_timeout_s:.0f} s, killed"
                )
                _signal(program, signal.SIGKILL)
                program.process.wait()
            self._log(f"{program.name}: stopped")


def _signal(program: Program, signum: int) -> None:
    """Signal the child's whole session (gunicorn's and Celery's own children included only
    when the master does not pass it on: SIGKILL)."""
    assert program.process is not None
    try:
        if signum == signal.SIGKILL:
            os.killpg(program.process.pid, signum)
        else:
            program.process.send_signal(signum)
    except ProcessLookupError:
        pass


def install_signal_handlers(supervisor: Supervisor) -> None:
    """SIGTERM and SIGINT (Ctrl-C) stop the supervisor's children, once."""
    signal.signal(signal.SIGTERM, supervisor.stop)
    signal.signal(signal.SIGINT, supervisor.stop)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
