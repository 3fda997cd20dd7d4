"""More than one machine (issue 16, part 2): the intake and the dashboard's read through nginx
with two web nodes against one, in the same run, and the streaming replica's lag under the
intake load.

Set-up (tests/nodes_support.py): a PostgreSQL primary and a streaming replica made with
`pg_basebackup -R`, both on this machine; web nodes are gunicorn servers with the platform's
settings (fieldapp/gunicorn_config.py: 3 processes × 6 threads each) on unix sockets behind
one nginx upstream (round robin); reads routed to the replica (FIELDAPP_REPLICA_*, max lag
1 s). Background work goes to an in-memory broker (nothing consumes it: the intake is
measured, as in bench_intake). Load: wrk, 16 connections; intake = officers POSTing reports
(benchmarks/wrk_intake.lua), read = the city's GET /api/v1/rollups?level=township
(benchmarks/wrk_read.lua) over the reports the intake runs filed.

Caveat: every node runs on the same cores as nginx, both databases and wrk, so a second node
adds processes, not CPUs; on a 2-core machine the ratio says what the routing costs or gains
there, not what a second machine gives. Figures: one JSON line each (benchmarks/common.py)."""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.common import figure
from tests import nodes_support as ns

SECONDS = float(os.environ.get("BENCH_NODES_SECONDS", 15))
WARMUP_S = 3.0
CLIENTS = 16
HERE = Path(__file__).resolve().parent


def _wrk(port: int, script: str, args: list[str], seconds: float) -> dict[str, Any]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk not found: run `make bench` (it installs it) or apt-get install wrk")
    run = subprocess.run(
        [
            wrk,
            f"-t{CLIENTS}",
            f"-c{CLIENTS}",
            f"-d{seconds:g}s",
            "--timeout=30s",
            "-s",
            str(HERE / script),
            f"http://127.0.0.1:{port}",
            "--",
            *args,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(run.stdout.strip().splitlines()[-1])
    return {
        "count": result["requests"],
        "errors": result["errors"],
        "rate": round(result["requests"] / result["seconds"], 1),
        "p50_ms": result["p50_ms"],
        "p99_ms": result["p99_ms"],
    }


class LagSampler:
    """The replica's lag every 0.2 s: WAL bytes flushed on the primary and not yet replayed
    there, and pg_stat_replication.replay_lag (seconds, as the primary sees it)."""

    def __init__(self, dbs: ns.Databases) -> None:
        self.dbs = dbs
        self.bytes: list[int] = []
        self.seconds: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with (
            psycopg.connect(ns.libpq(self.dbs.primary_url), autocommit=True) as primary,
            psycopg.connect(ns.libpq(self.dbs.replica_url), autocommit=True) as replica,
        ):
            while not self._stop.is_set():
                flushed, lag = primary.execute(
                    "SELECT pg_current_wal_flush_lsn(),"
                    " (SELECT extract(epoch FROM replay_lag) FROM pg_stat_replication LIMIT 1)"
                ).fetchone() or (None, None)
                row = replica.execute(
                    "SELECT %s::pg_lsn - pg_last_wal_replay_lsn()", (str(flushed),)
                ).fetchone()
                self.bytes.append(max(0, int(row[0])) if row and row[0] is not None else 0)
                self.seconds.append(float(lag) if lag is not None else 0.0)
                time.sleep(0.2)

    def __enter__(self) -> LagSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def summary(self) -> dict[str, Any]:
        def pct(values: list[float], q: float) -> float:
            ordered = sorted(values)
            return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1)))] if ordered else 0

        return {
            "samples": len(self.bytes),
            "bytes_p50": pct([float(b) for b in self.bytes], 0.5),
            "bytes_max": max(self.bytes, default=0),
            "seconds_p50": round(pct(self.seconds, 0.5), 4),
            "seconds_max": round(max(self.seconds, default=0.0), 4),
            "seconds_mean": round(statistics.fmean(self.seconds), 4) if self.seconds else 0,
        }


def _read_sources(port: int, token: str, path: str, n: int = 20) -> dict[str, int]:
    """Where n reads of `path` were served from (the X-Fieldapp-Read-From header)."""
    counted: dict[str, int] = {}
    for _ in range(n):
        _status, _body, headers = ns.get(port, path, {"Authorization": f"Bearer {token}"})
        source = headers.get("X-Fieldapp-Read-From") or "none"
        counted[source] = counted.get(source, 0) + 1
    return counted


def main() -> None:
    read_path = "/api/v1/rollups?level=township"
    with ns.primary_and_replica() as dbs:
        keys = dbs.root / "data_keys.json"
        seeded = ns.seed(dbs.primary_url, keys, officers=CLIENTS)
        city = seeded["tokens"]["city"]
        results: dict[int, dict[str, Any]] = {}
        with tempfile.NamedTemporaryFile("w", suffix=".txt") as tokens_file:
            for token, lon, lat in seeded["officers"]:
                tokens_file.write(f"{token} {lon!r} {lat!r}\n")
            tokens_file.flush()
            for nodes in (1, 2):
                with ns.platform(
                    dbs,
                    "memory://",
                    keys,
                    web_nodes=nodes,
                    workers=0,
                    gunicorn_workers=3,
                    threads=6,
                ) as plat:
                    run_id = f"{random.getrandbits(32):08x}"
                    _wrk(plat.port, "wrk_intake.lua", [tokens_file.name, run_id], WARMUP_S)
                    before = plat.requests_per_node()
                    with LagSampler(dbs) as lag:
                        run_id = f"{random.getrandbits(32):08x}"
                        intake = _wrk(
                            plat.port, "wrk_intake.lua", [tokens_file.name, run_id], SECONDS
                        )
                    after_intake = plat.requests_per_node()
                    _wrk(plat.port, "wrk_read.lua", [city, read_path], WARMUP_S)
                    read = _wrk(plat.port, "wrk_read.lua", [city, read_path], SECONDS)
                    after_read = plat.requests_per_node()
                    sources = _read_sources(plat.port, city, read_path)
                    with psycopg.connect(ns.libpq(dbs.primary_url)) as conn:
                        row = conn.execute("SELECT count(*) FROM reports").fetchone()
                    results[nodes] = {"intake": intake, "read": read}
                    figure(
                        "nodes_intake",
                        web_nodes=nodes,
                        **intake,
                        replica_lag=lag.summary(),
                        requests_per_node=[
                            a - b for a, b in zip(after_intake, before, strict=True)
                        ],
                    )
                    figure(
                        "nodes_dashboard_read",
                        web_nodes=nodes,
                        path=read_path,
                        reports_in_database=row[0] if row else None,
                        **read,
                        read_from=sources,
                        requests_per_node=[
                            a - b for a, b in zip(after_read, after_intake, strict=True)
                        ],
                    )
        figure(
            "nodes_two_vs_one",
            intake_ratio=round(results[2]["intake"]["rate"] / results[1]["intake"]["rate"], 2),
            read_ratio=round(results[2]["read"]["rate"] / results[1]["read"]["rate"], 2),
            note="same cores for both set-ups; see the module's docstring",
        )


if __name__ == "__main__":
    main()
