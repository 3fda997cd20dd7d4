"""Measured early warning: how fast the daily hotspot analysis finds a planted outbreak of
disputes, and how often it raises an alert when there is none. Pure simulation on the demo
city's 4,586 cells (no database); see docs/early-warning.md for the method and the figures.

Background: Poisson daily counts per cell, proportional to the cell's population, ~685 a day
for the city (250,000 a year). Outbreaks: a centre cell drawn with probability proportional to
population, plus its k − 1 nearest cells; from its first day the rate in those cells is
multiplied by the relative risk for 14 days. Each day from the start, the analysis that would
run the next morning is repeated on the last 90 days of counts:

- the prospective space-time permutation scan (the main method; cylinders of up to 50 cells
  and 30 days, 199 replicas, alert when the Gumbel recurrence interval is >= 365 days);
- Gi* on the last 7 days' counts per cell (queen contiguity, analytical p, FDR 0.05), adjacent
  hot cells one alert (the second method).

The delay is the number of outbreak days in the data when the first alert touching the
outbreak's cells appears (1 = the morning after its first day). On outbreak-free data the
same analyses run on consecutive days and every alert is false; alerts are deduplicated as in
the app (a re-detection sharing a cell within 14 days is the same alert).

Cost control (said in the doc): 199 replicas instead of 999 and 90 days of history instead of
365; and on outbreak days the replicas are only run when the outbreak's LLR falls within
±10 % of the range of critical LLRs seen on the outbreak-free days (below it the alert is
impossible, above it certain); the critical LLRs of the days that did run replicas are
reported, to check that they stay within that range.

Run: `.venv/bin/python -m benchmarks.eval_early_warning` (about 7 minutes on 2 cores);
`--quick` for a smoke run.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import resource
import statistics
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
import shapely

from benchmarks.common import figure, percentile
from fieldapp.demo.city import build_demo_city
from maps.early_warning import (
    ActiveAlert,
    background_rates,
    critical_llr,
    gi_detections,
    hot_components,
    inject_cluster,
    match_detections,
    scan_result_detections,
    simulate_counts,
    stale_alerts,
)
from maps.hotspots import getis_ord_gi_star, space_time_permutation_scan
from maps.weights import Neighbourhoods, nearest_cells, queen_weights

REPORTS_PER_DAY = 250_000 / 365
HISTORY_DAYS = 90
REPLICAS = 199
MAX_CELLS = 50
MAX_DAYS = 30
MIN_RECURRENCE_DAYS = 365.0
GI_DAYS = 7
GI_DAYS_APP = 28
GI_ALPHA = 0.05
FOLLOW_DAYS = 14
SIZES = (1, 5, 15)
STRENGTHS = (3.0, 5.0)
CLUSTERS_PER_SETTING = 20
NULL_DAYS = 60
DEDUPE_DAYS = 14
BAND = (0.9, 1.1)


@dataclass(frozen=True)
class City:
    """What every simulation needs of the demo city."""

    population: npt.NDArray[np.float64]
    rates: npt.NDArray[np.float64]
    neighbourhoods: Neighbourhoods
    queen: sp.csr_matrix
    township: npt.NDArray[np.intp] | None = None
    """Each cell's township (0 … 55 in the demo city), for the per-township CUSUM."""


# Set in the parent before the worker processes fork, so they inherit it without pickling.
_CITY: City | None = None
_NULL_COUNTS: npt.NDArray[np.int64] | None = None


def _city() -> City:
    assert _CITY is not None
    return _CITY


def build_city(seed: int) -> City:
    """The demo city's cells: populations, background rates, scan neighbourhoods (50 nearest
    by centroid) and queen contiguity of the unsimplified polygons."""
    cells = build_demo_city(seed).by_level("cell")
    polygons = np.array([c.geometry for c in cells], dtype=object)
    population = np.array([c.population or 0 for c in cells], dtype=np.float64)
    centroids = shapely.get_coordinates(shapely.centroid(polygons))
    return City(
        population=population,
        rates=background_rates(population, REPORTS_PER_DAY),
        neighbourhoods=nearest_cells(centroids, MAX_CELLS, geographic=True),
        queen=queen_weights(polygons),
        township=np.unique([c.code[:9] for c in cells], return_inverse=True)[1].astype(np.intp),
    )


def _scan(window: npt.NDArray[np.int64], replicas: int, seed: int) -> Any:
    return space_time_permutation_scan(
        window,
        _city().neighbourhoods,
        max_cells=MAX_CELLS,
        max_days=MAX_DAYS,
        replicas=replicas,
        seed=seed,
        n_jobs=1,  # one process per core already
    )


def _gi_hot(counts7: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    gi = getis_ord_gi_star(counts7.astype(np.float64), _city().queen)
    return np.asarray(gi.significant(GI_ALPHA) == 1)


# --------------------------------------------------------------------------------------------
# Outbreak-free days
# --------------------------------------------------------------------------------------------


def null_day(day: int) -> dict[str, Any]:
    """The full analysis of one outbreak-free day (index into the shared null counts)."""
    assert _NULL_COUNTS is not None
    started = time.perf_counter()
    window = _NULL_COUNTS[:, day - HISTORY_DAYS + 1 : day + 1]
    result = _scan(window, REPLICAS, seed=10_000 + day)
    scan_seconds = time.perf_counter() - started
    scan = scan_result_detections(result, min_recurrence_days=MIN_RECURRENCE_DAYS)
    gi = gi_detections(window[:, -GI_DAYS:].sum(axis=1), _city().queen, alpha=GI_ALPHA)
    # The app's Gi* alerts use 28 days: measure their false alerts on the same data.
    gi28 = gi_detections(window[:, -GI_DAYS_APP:].sum(axis=1), _city().queen, alpha=GI_ALPHA)
    return {
        "day": day,
        "critical": critical_llr(result.replica_max_llr, MIN_RECURRENCE_DAYS),
        "scan": [list(d.cells) for d in scan],
        "gi": [list(d.cells) for d in gi],
        "gi28": [list(d.cells) for d in gi28],
        "scan_seconds": scan_seconds,
    }


def count_alerts(days: Sequence[list[list[int]]], method: str) -> int:
    """New alerts over consecutive daily detections, deduplicated as in the app."""
    start = date(2030, 1, 1)
    active: list[ActiveAlert] = []
    created = 0
    for i, found in enumerate(days):
        today = start + timedelta(days=i)
        matches = match_detections(
            [(method, cells) for cells in found], active, today=today, within_days=DEDUPE_DAYS
        )
        seen = {m for m in matches if m is not None}
        active = [
            ActiveAlert(a.id, a.method, a.cells, today) if a.id in seen else a for a in active
        ]
        for cells, m in zip(found, matches, strict=True):
            if m is None:
                created += 1
                active.append(ActiveAlert(created, method, frozenset(cells), today))
        gone = set(stale_alerts(active, today=today, after_days=DEDUPE_DAYS))
        active = [a for a in active if a.id not in gone]
    return created


# --------------------------------------------------------------------------------------------
# Outbreaks
# --------------------------------------------------------------------------------------------


def outbreak(job: tuple[int, int, float, int, float, float]) -> dict[str, Any]:
    """Plant one outbreak and follow it for up to 14 days; see the module docstring."""
    index, size, strength, seed, band_lo, band_hi = job
    city = _city()
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    total_days = HISTORY_DAYS + FOLLOW_DAYS
    base = simulate_counts(rng, city.rates, total_days)
    centre = int(rng.choice(city.population.size, p=city.population / city.population.sum()))
    cells = city.neighbourhoods.indices[centre, :size]
    counts = inject_cluster(rng, base, city.rates, cells, HISTORY_DAYS, FOLLOW_DAYS, strength)
    planted = set(int(c) for c in cells)
    scan_delay: int | None = None
    gi_delay: int | None = None
    replica_runs: list[float] = []
    best_llrs: list[float] = []
    for k in range(FOLLOW_DAYS):
        day = HISTORY_DAYS + k
        window = counts[:, day - HISTORY_DAYS + 1 : day + 1]
        if scan_delay is None:
            observed = _scan(window, 0, seed=seed + k)
            touching = [c.llr for c in observed.clusters if planted & set(c.cells.tolist())]
            best = max(touching, default=0.0)
            best_llrs.append(best)
            if best > band_hi:
                scan_delay = k + 1
            elif best >= band_lo:
                full = _scan(window, REPLICAS, seed=seed + k)
                replica_runs.append(critical_llr(full.replica_max_llr, MIN_RECURRENCE_DAYS))
                alerts = scan_result_detections(full, min_recurrence_days=MIN_RECURRENCE_DAYS)
                if any(planted & set(d.cells) for d in alerts):
                    scan_delay = k + 1
        if gi_delay is None:
            # Only hot cells the outbreak made hot count: the dense centre is hot on
            # outbreak-free data too (see the doc), and that is not finding the outbreak.
            with_outbreak = _gi_hot(window[:, -GI_DAYS:].sum(axis=1))
            without = _gi_hot(base[:, day - GI_DAYS + 1 : day + 1].sum(axis=1))
            new_hot = with_outbreak & ~without
            for group in hot_components(with_outbreak, city.queen):
                members = set(group.tolist())
                if members & planted and new_hot[group].any():
                    gi_delay = k + 1
                    break
        if scan_delay is not None and gi_delay is not None:
            break
    expected_daily = float(city.rates[cells].sum())
    return {
        "index": index,
        "size": size,
        "strength": strength,
        "centre": centre,
        "expected_daily": expected_daily,
        "excess_daily": expected_daily * (strength - 1.0),
        "scan_delay": scan_delay,
        "gi_delay": gi_delay,
        "replica_criticals": replica_runs,
        "best_llr_last": best_llrs[-1] if best_llrs else None,
        "seconds": time.perf_counter() - started,
    }


# --------------------------------------------------------------------------------------------
# Summaries and the command
# --------------------------------------------------------------------------------------------


def summarise(rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    delays = [r[key] for r in rows if r[key] is not None]
    return {
        "detected": len(delays),
        "clusters": len(rows),
        "rate": len(delays) / len(rows) if rows else math.nan,
        "median_delay": statistics.median(delays) if delays else None,
        "p90_delay": percentile([float(d) for d in delays], 90) if delays else None,
    }


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:g}"


def main(argv: Sequence[str] | None = None) -> int:
    global _CITY, _NULL_COUNTS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1, help="demo city seed")
    parser.add_argument("--clusters", type=int, default=CLUSTERS_PER_SETTING)
    parser.add_argument("--null-days", type=int, default=NULL_DAYS)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--quick", action="store_true", help="3 clusters, 6 null days")
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="the issue-13 sweep instead: sizes 1/5/10/20 × 2/3/5× × average/dense background,"
        " detection within 3 and 7 days, the EBP scan, a per-township CUSUM and two oracles"
        " (benchmarks/eval_sweep.py)",
    )
    parser.add_argument("--trials", type=int, default=10, help="sweep: trials per setting")
    parser.add_argument(
        "--ebp-null-days",
        type=int,
        default=0,
        help="instead: false alerts of the production EBP detector on N outbreak-free days",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.clusters, args.null_days, args.trials = 3, 6, 1
    wall = time.perf_counter()
    if args.ebp_null_days:
        from benchmarks.eval_sweep import run_ebp_null

        return run_ebp_null(
            build_city(args.seed), days=args.ebp_null_days, seed=args.seed, workers=args.workers
        )
    if args.sweep:
        from benchmarks.eval_sweep import run_sweep

        print("[sweep] building the demo city and its weights", file=sys.stderr, flush=True)
        return run_sweep(
            build_city(args.seed),
            trials=args.trials,
            seed=args.seed,
            workers=args.workers,
            null_days=max(args.null_days, 30) if args.quick else max(args.null_days, 300),
        )

    def say(message: str) -> None:
        print(f"[{time.perf_counter() - wall:6.1f}s] {message}", file=sys.stderr, flush=True)

    say("building the demo city and its weights")
    _CITY = build_city(args.seed)
    rng = np.random.default_rng(args.seed * 7919)
    _NULL_COUNTS = simulate_counts(rng, _CITY.rates, HISTORY_DAYS + args.null_days)
    say(
        f"{_CITY.rates.size} cells, {_CITY.rates.sum():.0f} reports/day; "
        f"{args.null_days} outbreak-free days, then "
        f"{len(SIZES) * len(STRENGTHS) * args.clusters} outbreaks"
    )
    context = mp.get_context("fork")
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=context) as pool:
        days = range(HISTORY_DAYS - 1, HISTORY_DAYS - 1 + args.null_days)
        null_rows: list[dict[str, Any]] = []
        futures = [pool.submit(null_day, d) for d in days]
        for i, fut in enumerate(as_completed(futures), start=1):
            null_rows.append(fut.result())
            if i % 10 == 0 or i == len(futures):
                say(f"outbreak-free day {i}/{len(futures)}")
        null_rows.sort(key=lambda r: r["day"])
        criticals = [r["critical"] for r in null_rows if math.isfinite(r["critical"])]
        band_lo, band_hi = BAND[0] * min(criticals), BAND[1] * max(criticals)
        say(f"critical LLR {min(criticals):.2f}–{max(criticals):.2f}")
        say(f"replicas on outbreak days with an LLR in {band_lo:.2f}–{band_hi:.2f}")

        seeds = np.random.SeedSequence(args.seed).generate_state(
            len(SIZES) * len(STRENGTHS) * args.clusters
        )
        jobs = [
            (i, size, strength, int(seeds[i]), band_lo, band_hi)
            for i, (size, strength, _n) in enumerate(
                (s, r, n) for s in SIZES for r in STRENGTHS for n in range(args.clusters)
            )
        ]
        rows: list[dict[str, Any]] = []
        for i, fut in enumerate(as_completed([pool.submit(outbreak, j) for j in jobs]), 1):
            rows.append(fut.result())
            if i % 10 == 0 or i == len(jobs):
                say(f"outbreak {i}/{len(jobs)}")
    elapsed = time.perf_counter() - wall
    usage = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    cpu_seconds = sum(u.ru_utime + u.ru_stime for u in usage)

    months = args.null_days / 30.0
    scan_alerts = count_alerts([r["scan"] for r in null_rows], "scan")
    gi_alerts = count_alerts([r["gi"] for r in null_rows], "gi_star")
    gi28_alerts = count_alerts([r["gi28"] for r in null_rows], "gi_star")
    scan_seconds = [r["scan_seconds"] for r in null_rows]
    replica_criticals = [c for r in rows for c in r["replica_criticals"]]
    figure(
        "early_warning_false_alerts",
        null_days=args.null_days,
        scan_alert_days=sum(1 for r in null_rows if r["scan"]),
        scan_alerts=scan_alerts,
        scan_alerts_per_30_days=round(scan_alerts / months, 3),
        scan_expected_per_30_days=round(30 / MIN_RECURRENCE_DAYS, 3),
        gi_alert_days=sum(1 for r in null_rows if r["gi"]),
        gi_detections_per_day=round(statistics.mean(len(r["gi"]) for r in null_rows), 2),
        gi_alerts=gi_alerts,
        gi_alerts_per_30_days=round(gi_alerts / months, 2),
        gi28_detections_per_day=round(statistics.mean(len(r["gi28"]) for r in null_rows), 2),
        gi28_alerts=gi28_alerts,
        gi28_alerts_per_30_days=round(gi28_alerts / months, 2),
        critical_llr_min=round(min(criticals), 3),
        critical_llr_max=round(max(criticals), 3),
    )
    table: list[str] = [
        "| strength | cells | expected/day (median) | scan: detected ≤ 14 d | scan: median"
        " / p90 delay (d) | Gi* 7 d: detected | Gi*: median / p90 delay (d) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for strength in STRENGTHS:
        for size in SIZES:
            group = [r for r in rows if r["size"] == size and r["strength"] == strength]
            scan = summarise(group, "scan_delay")
            gi = summarise(group, "gi_delay")
            expected = statistics.median(r["expected_daily"] for r in group)
            figure(
                "early_warning_detection",
                strength=strength,
                cells=size,
                clusters=len(group),
                expected_daily_median=round(expected, 3),
                scan=scan,
                gi_star=gi,
            )
            table.append(
                f"| {strength:g}× | {size} | {expected:.2f} | {scan['detected']}/{len(group)}"
                f" | {_fmt(scan['median_delay'])} / {_fmt(scan['p90_delay'])}"
                f" | {gi['detected']}/{len(group)}"
                f" | {_fmt(gi['median_delay'])} / {_fmt(gi['p90_delay'])} |"
            )
    figure(
        "early_warning_runtime",
        total_seconds=round(elapsed, 1),
        cpu_seconds=round(cpu_seconds, 1),
        workers=args.workers,
        full_scan_seconds_median=round(statistics.median(scan_seconds), 2),
        outbreak_days_with_replicas=len(replica_criticals),
        replica_day_critical_min=round(min(replica_criticals), 3) if replica_criticals else None,
        replica_day_critical_max=round(max(replica_criticals), 3) if replica_criticals else None,
    )
    print("\n".join(table), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
