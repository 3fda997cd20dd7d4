"""The fault suite (`make faults`, issue #16 part 3): the supervised stack of `fieldapp up` on a
scratch instance, phones filing reports through nginx and retrying the same id until
acknowledged, and one fault at a time — a gunicorn worker and the gunicorn master killed, the
Celery worker and the beat killed, redis killed for 30 s, PostgreSQL restarted fast and
immediate. Then: every acknowledged report is stored once with the body the phone sent, its
follow-up work (coordinator notifications with the duplicate search, their delivery, the
thumbnail of a photo) is done exactly once, and the platform came back with no hand on it.
The recovery time of each fault is printed as a table.

A second test sends SIGTERM to `fieldapp up` while phones hold keep-alive connections and a
request is in flight: the request is answered, and the idle connections are closed with a
FIN, not reset (issue #16 item 5)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import text

from fieldapp import gunicorn_config
from tests.faults.stack import COORDINATORS, OFFICERS, Ack, Phone, Stack, alive, body_hash

pytestmark = pytest.mark.faults

# Coordinators per township: how many "report.new" notifications each report must end with.
COORDINATORS_OF = Counter(COORDINATORS.values())
OFFICER_TOWNSHIP = {name: cells[0][:9] for name, cells in OFFICERS.items()}
REDIS_OUTAGE_S = float(os.environ.get("FAULTS_REDIS_OUTAGE_S", "30"))
# The relay finds a lost message within its grace (30 s) + a checkpoint period (10 s) + a
# beat period (5 s) of the worker's return; the rest is margin for a busy machine.
CATCH_UP_S = 240.0


@dataclass
class Recovery:
    fault: str
    outage_s: float  # how long the fault's own action took (the broker's 30 s, a pg restart)
    acked_s: float  # first report acknowledged after the fault began
    ready_s: float  # /readyz answered 200 again (polled from the end of the fault)
    restarted_s: float | None  # the supervisor said it restarted the program
    caught_up_s: float  # every outbox row written before "ready" done


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    world = Stack()
    try:
        world.prepare()
        world.start()
        world.wait("the first /readyz 200", world.ready, timeout=240)
        yield world
    finally:
        world.destroy()


class Phones:
    def __init__(self, stack: Stack) -> None:
        self.stop = threading.Event()
        self.phones = [
            Phone(name, stack.tokens[name], stack.officer_cells[name], stack.port, self.stop)
            for name in OFFICERS
        ]
        self.threads = [threading.Thread(target=p.run, daemon=True) for p in self.phones]

    def __enter__(self) -> Phones:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def acks(self) -> list[tuple[str, Ack]]:
        out: list[tuple[str, Ack]] = []
        for phone in self.phones:
            with phone.lock:
                out += [(phone.name, a) for a in phone.acks]
        return out

    def check(self) -> None:
        errors = [p.error for p in self.phones if p.error]
        assert not errors, errors

    def count(self) -> int:
        self.check()
        return len(self.acks())

    def first_ack_after(self, t0: float) -> float | None:
        self.check()
        times = [a.at for _n, a in self.acks() if a.at > t0]
        return min(times) - t0 if times else None


def _scalar(stack: Stack, sql: str, **params: object) -> int:
    assert stack.engine is not None
    with stack.engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar() or 0)


def _undone_up_to(stack: Stack, max_id: int) -> int:
    return _scalar(
        stack, "SELECT count(*) FROM outbox WHERE done_at IS NULL AND id <= :m", m=max_id
    )


def _restarts(stack: Stack, name: str) -> int:
    return stack.log_text().count(f"{name}: restarted")


def _one_of(stack: Stack, name: str, marker: str) -> Callable[[], bool]:
    def check() -> bool:
        return sum(marker in c and alive(p) for p, c in stack.children().items()) == 1

    return check


def _gunicorn_workers(stack: Stack) -> list[int]:
    from tests.faults.stack import children_of

    return [p for p in children_of(stack.one("gunicorn")) if alive(p)]


# FAULTS_ONLY="beat,redis": only the faults whose names contain one of these (developing).
ONLY = [w.strip() for w in os.environ.get("FAULTS_ONLY", "").split(",") if w.strip()]


def _run_fault(
    stack: Stack,
    phones: Phones,
    name: str,
    action: Callable[[], None],
    program: str | None = None,
    after: Callable[[], bool] | None = None,
) -> Recovery | None:
    """Do one fault while the phones file, then wait for the platform to come back by itself."""
    if ONLY and not any(w in name for w in ONLY):
        return None
    restarts_before = _restarts(stack, program) if program else 0
    t0 = time.monotonic()
    action()
    outage = time.monotonic() - t0
    restarted: float | None = None
    if program:
        stack.wait(f"{program} restarted", lambda: _restarts(stack, program) > restarts_before)
        restarted = time.monotonic() - t0
    stack.wait(f"/readyz 200 after {name}", stack.ready)
    ready = time.monotonic() - t0
    if after is not None:
        stack.wait(f"{name}: back to its shape", after)
    stack.wait(
        f"a report acknowledged after {name}", lambda: phones.first_ack_after(t0) is not None
    )
    acked = phones.first_ack_after(t0)
    assert acked is not None
    max_id = _scalar(stack, "SELECT coalesce(max(id), 0) FROM outbox")
    stack.wait(
        f"the outbox caught up after {name}",
        lambda: _undone_up_to(stack, max_id) == 0,
        timeout=CATCH_UP_S,
        describe=stack.outbox_state,
    )
    return Recovery(name, outage, acked, ready, restarted, time.monotonic() - t0)


def _print_table(rows: list[Recovery], acks: int, retries: int) -> None:
    def fmt(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    header = ("fault", "outage s", "1st ack s", "ready s", "restarted s", "caught up s")
    lines = [header] + [
        (
            r.fault,
            fmt(r.outage_s),
            fmt(r.acked_s),
            fmt(r.ready_s),
            fmt(r.restarted_s),
            fmt(r.caught_up_s),
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    print("\nRecovery per fault (seconds from the fault's start):")
    for line in lines:
        print("  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)))
    print(f"  {acks} reports acknowledged; {retries} phone requests retried")


def test_faults_lose_and_double_nothing(stack: Stack) -> None:
    def kill(pid: int) -> Callable[[], None]:
        return lambda: os.kill(pid, signal.SIGKILL)

    def kill_redis_for_a_while() -> None:
        stack.kill_redis()
        time.sleep(REDIS_OUTAGE_S)
        stack.start_redis()

    rows: list[Recovery | None] = []
    with Phones(stack) as phones:
        stack.wait("the phones' first reports", lambda: phones.count() >= 10, timeout=60)
        all_workers = lambda: len(_gunicorn_workers(stack)) == gunicorn_config.workers  # noqa: E731
        rows.append(
            _run_fault(
                stack,
                phones,
                "gunicorn worker SIGKILL",
                kill(_gunicorn_workers(stack)[0]),
                after=all_workers,
            )
        )
        rows.append(
            _run_fault(
                stack,
                phones,
                "gunicorn master SIGKILL",
                kill(stack.one("gunicorn")),
                program="web",
                after=all_workers,
            )
        )
        rows.append(
            _run_fault(
                stack,
                phones,
                "celery worker SIGKILL",
                kill(stack.one(" worker ")),
                program="worker",
                after=_one_of(stack, "worker", " worker "),
            )
        )
        rows.append(
            _run_fault(
                stack,
                phones,
                "celery beat SIGKILL",
                kill(stack.one(" beat ")),
                program="beat",
                after=_one_of(stack, "beat", " beat "),
            )
        )
        rows.append(
            _run_fault(stack, phones, f"redis down {REDIS_OUTAGE_S:.0f} s", kill_redis_for_a_while)
        )
        rows.append(
            _run_fault(
                stack, phones, "postgres restart fast", lambda: stack.restart_postgres("fast")
            )
        )
        rows.append(
            _run_fault(
                stack,
                phones,
                "postgres restart immediate",
                lambda: stack.restart_postgres("immediate"),
            )
        )
    phones.check()
    acks = phones.acks()
    retries = sum(p.failures for p in phones.phones)
    _print_table([r for r in rows if r], len(acks), retries)
    stack.wait(
        "every follow-up done",
        lambda: _scalar(stack, "SELECT count(*) FROM outbox WHERE done_at IS NULL") == 0,
        timeout=CATCH_UP_S,
        describe=stack.outbox_state,
    )
    _check_reports(stack, acks)
    _check_follow_up(stack, acks)
    # No hand on it: the stack still runs as set up, one beat and one worker.
    assert stack.up is not None and stack.up.poll() is None
    assert _one_of(stack, "beat", " beat ")()
    assert "stopping everything" not in stack.log_text()


def _check_reports(stack: Stack, acks: list[tuple[str, Ack]]) -> None:
    """Every acknowledged report once, with its body; nothing filed twice under another id."""
    assert stack.engine is not None
    with stack.engine.connect() as conn:
        stored = {
            str(row.id): row
            for row in conn.execute(
                text(
                    "SELECT id, input_lon, input_lat, category, severity, people_involved, "
                    "title, description, occurred_at FROM reports"
                )
            )
        }
        titles = Counter(conn.execute(text("SELECT title FROM reports")).scalars())
        audits = Counter(
            conn.execute(
                text("SELECT object_id FROM audit_log WHERE action = 'report.create'")
            ).scalars()
        )
    missing = [a.report_id for _n, a in acks if a.report_id not in stored]
    assert not missing, f"{len(missing)} acknowledged reports are not stored: {missing[:5]}"
    changed = []
    for _name, ack in acks:
        row = stored[ack.report_id]
        sent = {
            "id": ack.report_id,
            "lon": row.input_lon,
            "lat": row.input_lat,
            "category": row.category,
            "severity": row.severity,
            "people_involved": row.people_involved,
            "title": row.title,
            "description": row.description,
            "occurred_at": row.occurred_at.isoformat(),
        }
        if body_hash(sent) != ack.hash:
            changed.append(ack.report_id)
    assert not changed, f"stored bodies differ from what the phones sent: {changed[:5]}"
    doubled = [t for t, n in titles.items() if n > 1]
    assert not doubled, f"reports stored twice (under two ids): {doubled[:5]}"
    recorded_twice = [i for i, n in audits.items() if n > 1]
    assert not recorded_twice, recorded_twice[:5]


def _check_follow_up(stack: Stack, acks: list[tuple[str, Ack]]) -> None:
    """Each report's coordinators notified once (the duplicate search runs in the same task,
    its result in the text), each notification delivered, each photo thumbnailed."""
    assert stack.engine is not None
    with stack.engine.connect() as conn:
        notified = Counter(
            conn.execute(
                text("SELECT subject_id FROM notifications WHERE kind = 'report.new'")
            ).scalars()
        )
        undelivered = conn.execute(
            text("SELECT count(*) FROM notifications WHERE delivered_at IS NULL")
        ).scalar()
        photos = {
            (str(r.report_id), r.sha256): r.thumbnailed
            for r in conn.execute(
                text("SELECT report_id, sha256, thumbnail IS NOT NULL AS thumbnailed FROM photos")
            )
        }
        deliveries = Counter(
            conn.execute(
                text(
                    "SELECT payload->>'notification_id' FROM outbox "
                    "WHERE task = 'workers.tasks.deliver_notification'"
                )
            ).scalars()
        )
    wrong = [
        (a.report_id, notified[a.report_id])
        for name, a in acks
        if notified[a.report_id] != COORDINATORS_OF[OFFICER_TOWNSHIP[name]]
    ]
    assert not wrong, f"reports whose coordinators were not notified exactly once: {wrong[:5]}"
    assert undelivered == 0
    assert max(deliveries.values(), default=1) == 1, "a notification queued for delivery twice"
    sent_photos = [(a.report_id, a.photo_sha256) for _n, a in acks if a.photo_sha256]
    assert sent_photos, "no photo was acknowledged: the suite did not test thumbnails"
    lost = [p for p in sent_photos if p not in photos]
    assert not lost, f"acknowledged photos not stored: {lost[:5]}"
    unthumbnailed = [p for p in sent_photos if not photos[p]]
    assert not unthumbnailed, f"photos without a thumbnail: {unthumbnailed[:5]}"
    # What the (log) channel sent. At least once: a worker killed between `send` and its
    # commit sends again; every attempt of one delivery carries the same idempotency key, so a
    # receiver drops the repeat (docs/deploy.md, section 10).
    logged = re.findall(
        r"notify (coord_\w+): 新报告 — .*? · (\S+) .*?\[delivery ([^\]\s]+)\]", stack.log_text()
    )
    assert logged, "no delivery found in the log"
    sent = Counter((who, case) for who, case, _key in logged)
    keys: dict[tuple[str, str], set[str]] = {}
    for who, case, key in logged:
        keys.setdefault((who, case), set()).add(key)
    unstable = {k: v for k, v in keys.items() if len(v) > 1}
    assert not unstable, f"a delivery sent again under another key: {list(unstable.items())[:3]}"
    assert len({key for _w, _c, key in logged}) == len(sent), "two deliveries share a key"
    twice = [k for k, n in sent.items() if n > 1]
    print(
        f"  deliveries logged: {sum(sent.values())}, sent twice: {len(twice)} "
        "(each repeat under its delivery's key)"
    )


def test_sigterm_finishes_in_flight_and_closes_keep_alive_cleanly(stack: Stack) -> None:
    """SIGTERM to `fieldapp up`: a request whose body is still arriving is answered, idle
    keep-alive connections get a FIN (recv returns b""), not a reset; exit 0, no traceback."""
    token = stack.tokens["phone_1"]
    lon, lat = stack.officer_cells["phone_1"][0]

    def request(report_id: str) -> bytes:
        body = json.dumps(
            {
                "id": report_id,
                "lon": lon,
                "lat": lat,
                "category": "contract",
                "severity": "yellow",
                "people_involved": 2,
                "title": "关机测试",
                "description": "停机时在途的请求",
                "occurred_at": "2026-01-01T08:00:00+08:00",
            },
            ensure_ascii=False,
        ).encode()
        head = (
            f"POST /api/v1/reports HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        return head + body

    def answered(sock: socket.socket) -> bytes:
        sock.settimeout(20)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, "closed before answering"
            data += chunk
        return data

    idle = []
    for _ in range(4):  # phones that filed a report and keep their connection open
        sock = socket.create_connection(("127.0.0.1", stack.port))
        sock.sendall(request(str(uuid.uuid4())))
        assert answered(sock).startswith(b"HTTP/1.1 201"), "not filed before the stop"
        idle.append(sock)
    in_flight = socket.create_connection(("127.0.0.1", stack.port))
    whole = request(str(uuid.uuid4()))
    in_flight.sendall(whole[:-20])  # the body's last bytes still on their way
    time.sleep(0.3)
    assert stack.up is not None
    log_before = len(stack.log_text())
    stack.up.send_signal(signal.SIGTERM)
    time.sleep(1.0)
    in_flight.sendall(whole[-20:])
    answer = answered(in_flight)
    assert answer.split(b"\r\n")[0] in (b"HTTP/1.1 201 CREATED", b"HTTP/1.1 201 Created"), answer
    for sock in idle:
        sock.settimeout(20)
        try:
            leftover = sock.recv(65536)
        except ConnectionResetError:
            pytest.fail("an idle keep-alive connection was reset, not closed")
        assert leftover == b"", leftover
        sock.close()
    in_flight.close()
    code = stack.up.wait(timeout=120)
    log = stack.log_text()[log_before:]
    assert code == 0, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
