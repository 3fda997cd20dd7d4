"""Shared helpers: timing, JSON figure lines, and a throwaway database."""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

from fieldapp import localservices, migrate

REPO = Path(__file__).resolve().parent.parent


def figure(name: str, **values: Any) -> None:
    """Print one figure as a JSON line (the format every benchmark shares)."""
    print(json.dumps({"benchmark": name, **values}, ensure_ascii=False), flush=True)


def median_seconds(fn: Callable[[], Any], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


@contextmanager
def throwaway_database(label: str) -> Iterator[Engine]:
    """A migrated database of its own on the configured or private server, dropped after."""
    server = os.environ.get("DATABASE_URL") or localservices.ensure_postgres(
        Path(os.environ.get("FIELDAPP_INSTANCE") or REPO / "instance"), progress=lambda _m: None
    )
    name = f"fieldapp_bench_{label}_{os.getpid()}"
    localservices.create_database(server, name)
    engine = create_engine(make_url(server).set(database=name))
    try:
        migrate.upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        localservices.drop_database(server, name)
