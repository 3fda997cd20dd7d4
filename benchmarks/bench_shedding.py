"""Bursts with and without load shedding (issue #16, item 6).

The embedded default (`make run`): nginx (fieldapp/front_proxy.py) in front of gunicorn
(fieldapp/gunicorn_config.py, 3 processes × 6 threads) on the demo city. A burst is N phones
that each POST one report at the same instant (connections opened beforehand, every request
written at once, asyncio on one thread); BURSTS bursts per N, a second apart. Two set-ups, same
run, same database:
- shedding: the upstream's max_conns = ProxyLimits.max_in_flight (36, or BENCH_SHED_LIMIT);
  beyond it nginx answers 503 `busy` with Retry-After at once;
- without: the same nginx with no max_conns, as before: everything queues in gunicorn's
  accept queue and the kernel.

Figures per set-up and N: p50/p99 of every answer, p99 of the reports accepted (2xx) and of the
503s, the share answered 503 busy, other failures. Then the phones' view of the same burst in
each set-up: every phone whose report was not accepted sends it again as the field app does
(5 s, doubling, ±25 % jitter), until all are in; the figure is when the last one was.
Knobs: BENCH_SHED_CLIENTS (default 50,200,500), BENCH_SHED_BURSTS (default 5)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import resource
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from benchmarks.common import (
    REPO,
    figure,
    free_port,
    officers_at_cells,
    percentile,
    start_gunicorn,
    throwaway_database,
)
from fieldapp import front_proxy

CLIENTS = [int(n) for n in os.environ.get("BENCH_SHED_CLIENTS", "50,200,500").split(",")]
BURSTS = int(os.environ.get("BENCH_SHED_BURSTS", 5))
LIMIT = int(os.environ.get("BENCH_SHED_LIMIT", front_proxy.ProxyLimits().max_in_flight))

Answer = tuple[int, float, dict[str, str]]


def _report_request(token: str, lon: float, lat: float) -> bytes:
    body = json.dumps(
        {
            "id": str(uuid.uuid4()),
            "lon": lon,
            "lat": lat,
            "category": "neighbours",
            "severity": "yellow",
            "people_involved": 2,
            "title": "邻里纠纷（压测）",
            "description": "压测生成的报告。",
            "occurred_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
        },
        ensure_ascii=False,
    ).encode()
    head = (
        "POST /api/v1/reports HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            key, value = line.split(":", 1)
            headers[key.strip().lower()] = value.strip()
    await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers


async def _burst(port: int, phones: list[tuple[str, float, float]]) -> list[Answer]:
    """Every phone sends one report at the same instant on its own open connection."""
    streams = [await asyncio.open_connection("127.0.0.1", port) for _ in phones]
    requests = [_report_request(t, x, y) for t, x, y in phones]

    async def one(i: int) -> Answer:
        reader, writer = streams[i]
        started = time.perf_counter()
        writer.write(requests[i])
        try:
            status, headers = await asyncio.wait_for(_answer(reader), 60)
        except (TimeoutError, OSError, asyncio.IncompleteReadError):
            status, headers = 0, {}
        return status, (time.perf_counter() - started) * 1000, headers

    try:
        return list(await asyncio.gather(*(one(i) for i in range(len(phones)))))
    finally:
        for _reader, writer in streams:
            writer.close()


# The phones' own retry (fieldapp/static/field/app.js): after a server error or a timeout,
# 5 s doubling each time, ±25 % jitter; they do not read Retry-After.
BACKOFF_BASE_S = 5.0


async def _until_all_in(port: int, phones: list[tuple[str, float, float]]) -> dict[str, Any]:
    """The same burst, each phone retrying its report as the field app does until accepted."""
    started = time.perf_counter()
    attempts = 0
    refused: list[int] = []
    attempts_of: dict[str, int] = {}

    async def phone(token: str, x: float, y: float) -> None:
        nonlocal attempts
        request = _report_request(token, x, y)  # the same id on every retry
        while True:
            attempts += 1
            status = 0
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            try:
                status, _headers = await asyncio.wait_for(_answer(reader), 60)
            except (TimeoutError, OSError, asyncio.IncompleteReadError):
                pass  # as a phone does: try again
            finally:
                writer.close()
            if 200 <= status < 300:
                return
            if status not in (0, 503):
                refused.append(status)
                return
            tries = attempts_of[token] = attempts_of.get(token, 0) + 1
            await asyncio.sleep(BACKOFF_BASE_S * 2 ** (tries - 1) * random.uniform(0.75, 1.25))

    await asyncio.gather(*(phone(*p) for p in phones))
    return {
        "all_in_s": round(time.perf_counter() - started, 2),
        "attempts": attempts,
        "refused": len(refused),
        "refused_statuses": sorted(set(refused)),
        "retries": attempts - len(phones),
    }


def _measure(label: str, port: int, phones: list[tuple[str, float, float]]) -> None:
    for n in CLIENTS:
        answers: list[Answer] = []
        for _ in range(BURSTS):
            answers += asyncio.run(_burst(port, phones[:n]))
            time.sleep(1)
        times = [ms for _s, ms, _h in answers]
        ok = [ms for s, ms, _h in answers if 200 <= s < 300]
        busy = [h for s, _ms, h in answers if s == 503]
        busy_ms = [ms for s, ms, _h in answers if s == 503]
        figure(
            "burst",
            setup=label,
            clients=n,
            requests=len(answers),
            p50_ms=round(percentile(times, 50), 1),
            p99_ms=round(percentile(times, 99), 1),
            accepted=len(ok),
            accepted_p99_ms=round(percentile(ok, 99), 1) if ok else None,
            busy_503_share=round(len(busy) / len(answers), 3),
            busy_p99_ms=round(percentile(busy_ms, 99), 1) if busy_ms else None,
            busy_with_retry_after=sum(1 for h in busy if "retry-after" in h),
            other_failures=len(answers) - len(ok) - len(busy),
            load_average_1m=round(os.getloadavg()[0], 2),
        )


@contextmanager
def _served(url: str, max_in_flight: int) -> Iterator[int]:
    with tempfile.TemporaryDirectory(prefix="shed") as tmp:
        run = Path(tmp)
        binary = front_proxy.nginx_binary()
        if binary is None:
            raise SystemExit("nginx is missing: run `make bench` (it installs nginx-light)")
        sock = run / "gunicorn.sock"
        port = free_port()
        env = {"FIELDAPP_PROXY_HOPS": "1", "FIELDAPP_INSTANCE": tmp}
        children: list[subprocess.Popen[bytes]] = [
            start_gunicorn(url, port, env, bind=f"unix:{sock}")
        ]
        proxy = front_proxy.FrontProxy(
            listen_host="127.0.0.1",
            listen_port=port,
            upstream_socket=sock,
            run_dir=run,
            static_dir=REPO / "fieldapp" / "static",
            max_body_bytes=16 * 1024 * 1024,
            limits=front_proxy.ProxyLimits(max_in_flight=max_in_flight),
        )
        children.append(front_proxy.start(proxy, binary))
        try:
            from benchmarks.common import wait_ready

            wait_ready(port)
            yield port
        finally:
            for child in reversed(children):
                child.terminate()
                child.wait(timeout=30)


def main() -> None:
    from fieldapp import create_app
    from fieldapp.demo import accounts as demo_accounts
    from fieldapp.services import accounts

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < max(CLIENTS) * 2 + 256:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(CLIENTS) * 2 + 256, hard), hard))
    with throwaway_database("shed") as engine:
        url = engine.url.render_as_string(hide_password=False)
        app = create_app({"DATABASE_URL": url, "CELERY_BROKER_URL": "memory://"})
        now = datetime.now(UTC)
        with app.app_context(), Session(engine) as session, session.begin():
            demo_accounts.load_demo_city(session, seed=1)
        with app.app_context(), Session(engine) as session, session.begin():
            phones = [
                (accounts.issue_token(session, user, "bench", now).token, *point)
                for user, _cell_id, point in officers_at_cells(session, max(CLIENTS))
            ]
        for label, limit in (
            (f"shedding (max_in_flight={LIMIT})", LIMIT),
            ("no shedding (queues, as before)", 0),
        ):
            with _served(url, limit) as port:
                _measure(label, port, phones)
                for n in CLIENTS:
                    figure(
                        "burst_until_all_in",
                        setup=label,
                        clients=n,
                        **asyncio.run(_until_all_in(port, phones[:n])),
                        note="each phone resends the same report after a 503 or a failure, "
                        "5 s doubling, ±25 % jitter (fieldapp/static/field/app.js)",
                    )


if __name__ == "__main__":
    main()
