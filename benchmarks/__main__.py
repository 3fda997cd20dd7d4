"""`python -m benchmarks [name …]`: run the named benchmark modules (default: all)."""

from __future__ import annotations

import importlib
import sys

ALL = [
    "bench_geography",
    "bench_intake",
    "bench_triage",
    "bench_history",
    "bench_hotspots",
    "bench_map_page",
    "bench_exports",
    "bench_stats",
    "bench_roster",
    "bench_slow_clients",
    "bench_shedding",
    "bench_province",
    "bench_nodes",
]


def main(argv: list[str]) -> int:
    names = argv or ALL
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"# {name}", file=sys.stderr, flush=True)
        module.main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
