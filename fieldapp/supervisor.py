"""The embedded default's process supervisor (`fieldapp up`, `make run`): starts the web
server, the Celery worker, exactly one beat and the front proxy, restarts whichever dies, and
stops them all gracefully, each signalled once.

Production runs the same processes under systemd (deploy/); this is for a machine where
`make run` is all there is. Issue #16: before it, one dead process stopped everything, beat
ran inside the worker (`-B`, orphaned when the worker was killed, silently gone when it died),
Ctrl-C reached every child twice (the terminal's SIGINT to the process group, then ours) and a
slow stop ended in a traceback.

How:
- Each child runs in a session of its own, so the terminal's Ctrl-C reaches only us and we
  forward one signal; and with PR_SET_PDEATHSIG, so that if we are killed outright the kernel
  stops the children too (no orphaned beat left to double the schedule).
- A child that exits while we are not stopping is restarted after a back-off
  (:func:`restart_delay`); one that keeps dying (:data:`GIVE_UP_AFTER` restarts within
  :data:`GIVE_UP_WINDOW_S`) stops everything with its name and exit code.
- Stop: each child gets its own graceful signal once (gunicorn and Celery finish what they
  are doing on SIGTERM; nginx on SIGQUIT), then up to ``stop_timeout_s``; whatever is still
  running is killed and named, never a traceback.
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

GIVE_UP_AFTER = 5
GIVE_UP_WINDOW_S = 60.0
_PR_SET_PDEATHSIG = 1


def restart_delay(recent_restarts: int) -> float:
    """Seconds to wait before the next restart of a child that has been restarted
    `recent_restarts` times within the window: 1, 2, 4, 8, then 15 s at most, so a crash
    loop does not spin while a transient fault (database restarting) is given time."""
    return float(min(15, 2 ** max(0, recent_restarts)))


def should_give_up(restart_times: Sequence[float], now: float) -> bool:
    """Too many restarts within the window: something is wrong that a restart won't fix."""
    recent = [t for t in restart_times if now - t <= GIVE_UP_WINDOW_S]
    return len(recent) >= GIVE_UP_AFTER


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the supervisor dies (Linux prctl)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:  # not glibc Linux: the children outlive a killed supervisor
        pass


@dataclass
class Child:
    """One supervised process: a name people read in the log, its command and environment,
    and the signal that stops it gracefully."""

    name: str
    argv: list[str]
    env: dict[str, str]
    stop_signal: int = signal.SIGTERM
    process: subprocess.Popen[bytes] | None = None
    restarts: list[float] = field(default_factory=list)
    restart_at: float | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.argv, env=self.env, start_new_session=True, preexec_fn=_die_with_parent
        )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class Supervisor:
    """Keeps the children running until :meth:`stop` (or a signal) ends them."""

    def __init__(
        self,
        children: list[Child],
        log: Callable[[str], None],
        stop_timeout_s: float = 40.0,
    ) -> None:
        self.children = children
        self.log = log
        self.stop_timeout_s = stop_timeout_s
        self.stopping = False
        self.failed: str | None = None

    def request_stop(self, *_args: object) -> None:
        self.stopping = True

    def run(self, poll_s: float = 0.5) -> None:
        """Start everything, watch, restart; returns once stopped (by a signal, or by a
        child that keeps failing: then :attr:`failed` says which)."""
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        for child in self.children:
            child.start()
        try:
            while not self.stopping:
                self._watch(time.monotonic())
                time.sleep(poll_s)
        finally:
            self._stop_all()

    def _watch(self, now: float) -> None:
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.restart_at = None
                    child.restarts.append(now)
                    self.log(f"restarting {child.name}")
                    child.start()
                continue
            if child.running or child.process is None:
                continue
            code = child.process.returncode
            if should_give_up(child.restarts, now):
                self.failed = (
                    f"{child.name} exited with code {code} {len(child.restarts)} times within "
                    f"{GIVE_UP_WINDOW_S:.0f} s; stopping everything (see its log lines above)"
                )
                self.log(self.failed)
                self.stopping = True
                return
            recent = [t for t in child.restarts if now - t <= GIVE_UP_WINDOW_S]
            delay = restart_delay(len(recent))
            self.log(f"{child.name} exited with code {code}; restarting it in {delay:.0f} s")
            child.restart_at = now + delay

    def _stop_all(self) -> None:
        # The front proxy first (no new requests), the web server, then the workers and beat.
        for child in self.children:
            if child.running and child.process is not None:
                child.process.send_signal(child.stop_signal)
        deadline = time.monotonic() + self.stop_timeout_s
        for child in self.children:
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.log(f"{child.name} did not stop within {self.stop_timeout_s:.0f} s; killed")
                child.process.kill()
                child.process.wait()
