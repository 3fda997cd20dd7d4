"""The outbox fast path: the ids of just-committed outbox rows go to the broker from one
thread per process, gathered into batches, rather than one Celery message per request sent
by the request itself.

Why: publishing a Celery message cost a report as much Python as validating and storing it
(the message's headers, the reprs of its arguments, the transport), and the officer's phone
waited for the broker besides. A request now appends its ids to a queue and answers; the
sender thread publishes whatever has gathered meanwhile as one `workers.tasks.dispatch_outbox`
message, and a worker sends each row's own task from there (outbox.dispatch).

Nothing is lost on the way: the rows are committed before their ids reach the sender. Should
the process die, or the broker be down, the relay (workers.tasks.relay_outbox, every few
seconds) sends every row not done after outbox.FAST_PATH_GRACE; a failed hand-over is written
on the rows (attempts, last_error) for whoever looks at the outbox."""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Sequence

log = logging.getLogger(__name__)

Send = Callable[[list[int]], None]
RecordFailure = Callable[[list[int], Exception], None]


class OutboxSender:
    """Batches outbox ids and hands them to `send` from a daemon thread of this process.

    `send(ids)` publishes one batch (and raises when it cannot); `record_failure(ids, exc)`
    notes a failed batch on its rows. At most `max_pending` ids wait: past that (a broker down
    for long), the oldest are left to the relay rather than held in memory."""

    def __init__(
        self,
        send: Send,
        record_failure: RecordFailure,
        *,
        max_batch: int = 500,
        max_pending: int = 10_000,
        linger: float = 0.05,
    ) -> None:
        self._send = send
        self._record_failure = record_failure
        self._max_batch = max_batch
        self._max_pending = max_pending
        # How long the first id of a batch waits for company. Without it the thread, woken by
        # every request, sent batches of one (a Celery message per report again); 50 ms is
        # nothing to a notification and, at a busy hour, gathers dozens of ids per message.
        self._linger = linger
        self._start_in_this_process()
        # A weak reference: the exit hook must not keep every app's sender (and through it
        # the app's engine and pooled connections) alive, as tests create many apps.
        atexit.register(_flush_at_exit, weakref.ref(self))

    def _start_in_this_process(self) -> None:
        # Also after a fork: the child gets neither the parent's thread nor a usable lock.
        self._pid = os.getpid()
        self._changed = threading.Condition()
        self._pending: deque[int] = deque()
        self._in_flight = 0
        self._flushing = 0
        self._thread: threading.Thread | None = None

    def submit(self, outbox_ids: Sequence[int]) -> None:
        """Queue committed rows for the broker; returns at once."""
        if not outbox_ids:
            return
        if self._pid != os.getpid():
            self._start_in_this_process()
        with self._changed:
            self._pending.extend(outbox_ids)
            overflow = len(self._pending) - self._max_pending
            for _ in range(max(overflow, 0)):
                self._pending.popleft()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="outbox-sender", daemon=True)
                self._thread.start()
            self._changed.notify_all()
        if overflow > 0:
            log.warning("outbox sender: %d ids left to the relay (broker slow or down)", overflow)

    def flush(self, timeout: float) -> bool:
        """Wait until every id submitted so far was sent or its failure recorded; False when
        `timeout` seconds were not enough."""
        deadline = time.monotonic() + timeout
        with self._changed:
            self._flushing += 1  # no lingering while someone waits
            self._changed.notify_all()
            try:
                while self._pending or self._in_flight:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._changed.wait(remaining)
            finally:
                self._flushing -= 1
        return True

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._pending:
                    self._changed.wait()
                gather_until = time.monotonic() + self._linger
                while len(self._pending) < self._max_batch and not self._flushing:
                    remaining = gather_until - time.monotonic()
                    if remaining <= 0:
                        break
                    self._changed.wait(remaining)
                batch = [
                    self._pending.popleft() for _ in range(min(len(self._pending), self._max_batch))
                ]
                self._in_flight = len(batch)
            try:
                self._hand_over(batch)
            finally:
                with self._changed:
                    self._in_flight = 0
                    self._changed.notify_all()

    def _hand_over(self, batch: list[int]) -> None:
        try:
            self._send(batch)
        except Exception as exc:  # any broker/transport error: the relay sends them later
            log.warning("outbox sender: broker unavailable, the relay will send %d", len(batch))
            try:
                self._record_failure(batch, exc)
            except Exception:  # the database too: the relay still finds the rows
                log.warning("outbox sender: could not record the failure", exc_info=True)


def _flush_at_exit(sender: weakref.ref[OutboxSender]) -> None:
    """Give what is still queued a moment to reach the broker (the relay sends the rest)."""
    alive = sender()
    if alive is not None:
        alive.flush(2.0)
