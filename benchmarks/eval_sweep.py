"""The evaluation sweep of issue 13.2 (run by `benchmarks.eval_early_warning --sweep`):
detection within 3 and 7 days of planted outbreaks of 1, 5, 10 and 20 cells at 2×, 3× and 5×,
over the city-average and the densest 10 % of cells, for the production scan, the
expectation-based Poisson (EBP) scan on each cell's own baseline, a per-township CUSUM, their
unions, and two oracle bounds computed on the same trials. Pure simulation on the demo city
(no database); the method and the figures are in docs/early-warning.md.

- **Production scan**: the space-time permutation scan of the app (cylinders of up to 50 cells
  and 30 days) on the last 90 days; an outbreak is detected when a cluster touching it reaches
  the critical LLR of a 365-day recurrence interval (the median over outbreak-free runs with
  199 replicas: the LLR needed is stable from day to day, docs/early-warning.md).
- **EBP scan** ("after"): cylinders of up to 20 cells and 1–7 days; each cell's expectation is
  its own mean of the 83 days before the last week (shrunk towards the city mean); the
  critical LLR is calibrated on a separate outbreak-free stream for a recurrence of 60 days
  (0.5 false alerts a month), so scan + EBP stay within the budget of one a month; the false
  alerts are then counted on another outbreak-free stream.
- **Per-township CUSUM** (`maps.cusum`): Lucas's Poisson CUSUM of each township's daily
  count against its share of the other townships' reports, restarted 14 days back every
  morning; the threshold is calibrated on 3,000 outbreak-free days for 0.3 false alerts a
  month (what the scan and the EBP scan leave of the budget) and its false alerts counted on
  another 3,000. *all3* = scan, EBP or CUSUM.
- **Oracle 1** knows the outbreak's cells and first day: one Poisson test a day of the count
  in exactly those cells since the start against the true expectation, at p ≤ 1/365.
- **Oracle 2** knows the outbreak's size k and first day, not where: the largest EBP LLR over
  every k-nearest-cells cylinder since the start, with the true expectations, against its own
  null distribution (Gumbel fit, p ≤ 1/365).

"Detected within D days" = the run of the morning after the outbreak's D-th day alerts on a
cylinder sharing a cell with the outbreak.
"""

from __future__ import annotations

import multiprocessing as mp
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.stats import poisson

from benchmarks.common import figure
from maps.cusum import calibrate_threshold, count_alerts, cusum_today
from maps.early_warning import (
    DAYS_PER_MONTH,
    critical_llr,
    ebp_llr,
    inject_cluster,
    own_baselines,
    simulate_counts,
)
from maps.hotspots import space_time_permutation_scan

SIZES = (1, 5, 10, 20)
STRENGTHS = (2.0, 3.0, 5.0)
BACKGROUNDS = ("average", "dense")
WITHIN = (3, 7)
HISTORY = 90
EBP_MAX_CELLS = 20
EBP_MAX_DAYS = 7
EBP_RECURRENCE_DAYS = 60.0
SCAN_RECURRENCE_DAYS = 365.0
ORACLE_RECURRENCE_DAYS = 365.0
CUSUM_WINDOW = 14
CUSUM_RHO = 1.25
"""Best of 1.25 / 1.5 / 2 in a 30-trial pilot (6 / 5 / 4 of 30 found within 7 days)."""
CUSUM_PER_MONTH = 0.3
"""The CUSUM's share of the budget of one false alert a month: what is left when the scan
(0.08 by design) and the EBP scan (0.5 by design, 0.6 measured) are on."""
CUSUM_NULL_DAYS = 3000

_STATE: dict[str, Any] = {}


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _ebp_max(counts: npt.NDArray[np.int64], upto: int, nn: npt.NDArray[np.intp]) -> Any:
    """EBP LLRs (days, cells, K) of the run after column upto − 1."""
    recent = counts[:, upto - EBP_MAX_DAYS : upto]
    history = counts[:, upto - HISTORY : upto - EBP_MAX_DAYS]
    return ebp_llr(recent, own_baselines(history), nn, max_days=EBP_MAX_DAYS)


def _touching(nn: npt.NDArray[np.intp], cells: set[int]) -> npt.NDArray[np.bool_]:
    """(cells, K): whether the cylinder of centre i and k + 1 cells shares a cell with the
    outbreak (once one of its first k cells is in, every larger one is too)."""
    inside = np.isin(nn, list(cells))
    return np.asarray(np.cumsum(inside, axis=1) > 0)


def _trial(job: tuple[int, int, float, str, int]) -> dict[str, Any]:
    index, size, strength, background, seed = job
    st = _STATE
    rates: npt.NDArray[np.float64] = st["rates"]
    nn50: npt.NDArray[np.intp] = st["nn50"]
    nn = nn50[:, :EBP_MAX_CELLS]
    rng = np.random.default_rng(seed)
    pool = st["dense"] if background == "dense" else st["average"]
    centre = int(rng.choice(pool))
    cells = nn50[centre, :size]
    cell_set = {int(c) for c in cells}
    days = HISTORY + max(WITHIN)
    counts = simulate_counts(rng, rates, days)
    counts = inject_cluster(rng, counts, rates, cells, HISTORY, max(WITHIN), strength)
    touch = _touching(nn, cell_set)
    out: dict[str, Any] = {
        "size": size,
        "strength": strength,
        "background": background,
        "expected_daily": float(rates[cells].sum()),
    }
    for d in WITHIN:
        upto = HISTORY + d
        # Oracle 1: the known cylinder, one test.
        obs = int(counts[cells, HISTORY:upto].sum())
        lam = float(rates[cells].sum()) * d
        out[f"oracle1_{d}"] = bool(poisson.sf(obs - 1, lam) <= 1.0 / ORACLE_RECURRENCE_DAYS)
        # Oracle 2: size and start known, place unknown; the true expectations.
        sums = counts[:, HISTORY:upto].sum(axis=1).astype(np.float64)
        o = np.cumsum(sums[nn50[:, :size]], axis=1)[:, -1]
        e = np.cumsum(rates[nn50[:, :size]] * d, axis=1)[:, -1]
        with np.errstate(divide="ignore", invalid="ignore"):
            llr = np.where(o > e, o * np.log(o / e) - (o - e), 0.0)
        hit = np.isin(nn50[:, :size], list(cell_set)).any(axis=1)
        out[f"oracle2_{d}"] = bool(llr[hit].max() >= st["oracle2_crit"][(size, d)])
        # Production scan (observed statistic; the critical LLR of the null runs).
        window = counts[:, upto - HISTORY : upto]
        result = space_time_permutation_scan(
            window, st["neighbourhoods"], max_cells=50, max_days=30, replicas=0, n_jobs=1
        )
        out[f"scan_{d}"] = any(
            c.llr >= st["scan_crit"] and cell_set & {int(i) for i in c.cells}
            for c in result.clusters
        )
        # EBP scan on the cells' own baselines.
        llr3 = _ebp_max(counts, upto, nn)
        out[f"ebp_{d}"] = bool(llr3[:, touch].max() >= st["ebp_crit"]) if touch.any() else False
        out[f"union_{d}"] = out[f"scan_{d}"] or out[f"ebp_{d}"]
        # Per-township CUSUM on the township's share of the others' reports.
        stat = cusum_today(
            st["townships_of"](counts[:, :upto]),
            history_days=HISTORY,
            window_days=CUSUM_WINDOW,
            rho=CUSUM_RHO,
        )
        out[f"cusum_{d}"] = bool((stat[st["township"][cells]] >= st["cusum_h"]).any())
        out[f"all3_{d}"] = out[f"union_{d}"] or out[f"cusum_{d}"]
    out["index"] = index
    return out


def _null_maxima(rng: np.random.Generator, days: int, nn: npt.NDArray[np.intp]) -> list[float]:
    """The daily largest EBP LLR over `days` consecutive outbreak-free runs."""
    rates = _STATE["rates"]
    counts = simulate_counts(rng, rates, HISTORY + days)
    return [float(_ebp_max(counts, HISTORY + t + 1, nn).max()) for t in range(days)]


def _null_alerts(rng: np.random.Generator, days: int, nn: npt.NDArray[np.intp], crit: float) -> int:
    """EBP alerts on `days` consecutive outbreak-free runs, one per hotspot: a detection
    sharing a cell with one of the last 14 days is the same alert (as the app dedupes)."""
    rates = _STATE["rates"]
    counts = simulate_counts(rng, rates, HISTORY + days)
    recent: list[tuple[int, set[int]]] = []
    alerts = 0
    for t in range(days):
        llr = _ebp_max(counts, HISTORY + t + 1, nn)
        while llr.max() >= crit:
            _w, centre, k = np.unravel_index(int(np.argmax(llr)), llr.shape)
            cells = {int(c) for c in nn[centre, : k + 1]}
            if not any(day >= t - 14 and cells & seen for day, seen in recent):
                alerts += 1
            recent.append((t, cells))
            # Secondary clusters: drop every cylinder sharing a cell with this one.
            overlap = np.isin(nn, list(cells))
            llr[:, np.cumsum(overlap, axis=1) > 0] = 0.0
    return alerts


def run_sweep(city: Any, *, trials: int, seed: int, workers: int, null_days: int) -> int:
    """The sweep; figures as JSON lines and a Markdown table on stdout."""
    wall = time.perf_counter()
    rates = city.rates
    nn50 = city.neighbourhoods.indices
    nn = nn50[:, :EBP_MAX_CELLS]
    order = np.argsort(rates)
    n = rates.size
    _STATE.update(
        rates=rates,
        nn50=nn50,
        neighbourhoods=city.neighbourhoods,
        dense=order[int(0.9 * n) :],
        average=order[int(0.25 * n) : int(0.75 * n)],
    )
    township = np.asarray(city.township, dtype=np.intp)
    n_towns = int(township.max()) + 1
    town_rates = np.bincount(township, weights=rates, minlength=n_towns)

    def townships_of(c: npt.NDArray[np.integer]) -> npt.NDArray[np.float64]:
        out = np.zeros((n_towns, c.shape[1]))
        np.add.at(out, township, c)
        return out

    def town_null(r: np.random.Generator, days: int) -> npt.NDArray[np.int64]:
        # The sum of Poisson cell counts is Poisson with the summed rate: draw townships only.
        return np.asarray(r.poisson(town_rates[:, None], size=(n_towns, days)), dtype=np.int64)

    h, fitted = calibrate_threshold(
        town_null,
        alerts_per_month=CUSUM_PER_MONTH,
        days=CUSUM_NULL_DAYS,
        seed=seed + 4000,
        history_days=HISTORY,
        window_days=CUSUM_WINDOW,
        rho=CUSUM_RHO,
    )
    # The false alerts at h on a separate outbreak-free stream.
    check = town_null(np.random.default_rng(seed + 5000), HISTORY + CUSUM_NULL_DAYS)
    cusum_false = count_alerts(
        [
            np.flatnonzero(
                cusum_today(
                    check[:, t : t + HISTORY],
                    history_days=HISTORY,
                    window_days=CUSUM_WINDOW,
                    rho=CUSUM_RHO,
                )
                >= h
            )
            for t in range(1, CUSUM_NULL_DAYS + 1)
        ]
    )
    cusum_per_month = cusum_false / (CUSUM_NULL_DAYS / DAYS_PER_MONTH)
    _STATE.update(township=township, townships_of=townships_of, cusum_h=h)
    _say(
        f"CUSUM threshold {h:.3f} ({fitted:.2f} a month when fitted); {cusum_false} false alerts"
        f" in {CUSUM_NULL_DAYS} other outbreak-free days = {cusum_per_month:.2f} a month"
    )
    rng = np.random.default_rng(seed)
    # The scan's critical LLR: outbreak-free runs with 199 replicas.
    crits = []
    for r in range(3):
        window = simulate_counts(rng, rates, HISTORY)
        res = space_time_permutation_scan(
            window, city.neighbourhoods, max_cells=50, max_days=30, replicas=199, seed=r
        )
        crits.append(critical_llr(res.replica_max_llr, SCAN_RECURRENCE_DAYS))
    _STATE["scan_crit"] = statistics.median(crits)
    _say(f"scan critical LLR {[round(c, 2) for c in crits]}")
    # Oracle 2's null: per (size, days), 400 outbreak-free draws with the true rates.
    o2: dict[tuple[int, int], float] = {}
    for size in SIZES:
        cyl = nn50[:, :size]
        for d in WITHIN:
            e = rates[cyl].sum(axis=1) * d
            maxima = []
            for _ in range(400):
                o = rng.poisson(rates * d)[cyl].sum(axis=1).astype(np.float64)
                with np.errstate(divide="ignore", invalid="ignore"):
                    llr = np.where(o > e, o * np.log(o / e) - (o - e), 0.0)
                maxima.append(float(llr.max()))
            o2[(size, d)] = critical_llr(maxima, ORACLE_RECURRENCE_DAYS)
    _STATE["oracle2_crit"] = o2
    _say(f"oracle 2 critical LLRs { ({k: round(v, 2) for k, v in o2.items()}) }")
    # EBP: calibrate on one outbreak-free stream, count false alerts on another.
    maxima = _null_maxima(np.random.default_rng(seed + 1000), null_days, nn)
    _STATE["ebp_crit"] = critical_llr(maxima, EBP_RECURRENCE_DAYS)
    _say(f"EBP critical LLR {_STATE['ebp_crit']:.2f} (from {null_days} outbreak-free runs)")
    ebp_false = _null_alerts(np.random.default_rng(seed + 2000), null_days, nn, _STATE["ebp_crit"])
    ebp_per_month = ebp_false / (null_days / DAYS_PER_MONTH)
    _say(f"EBP false alerts: {ebp_false} in {null_days} days")

    seeds = np.random.SeedSequence(seed).generate_state(
        len(SIZES) * len(STRENGTHS) * len(BACKGROUNDS) * trials
    )
    jobs = []
    i = 0
    for background in BACKGROUNDS:
        for strength in STRENGTHS:
            for size in SIZES:
                for _t in range(trials):
                    jobs.append((i, size, strength, background, int(seeds[i])))
                    i += 1
    rows: list[dict[str, Any]] = []
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork")) as pool:
        for k, row in enumerate(pool.map(_trial, jobs, chunksize=4), start=1):
            rows.append(row)
            if k % 24 == 0 or k == len(jobs):
                _say(f"trial {k}/{len(jobs)}")
    methods = ("scan", "ebp", "cusum", "union", "all3", "oracle2", "oracle1")
    table = [
        "| background | strength | cells | expected/day | "
        + " | ".join(f"{m} ≤3 d / ≤7 d" for m in methods)
        + " |",
        "| --- | --- | --- | --- |" + " --- |" * len(methods),
    ]
    for background in BACKGROUNDS:
        for strength in STRENGTHS:
            for size in SIZES:
                group = [
                    r
                    for r in rows
                    if r["size"] == size
                    and r["strength"] == strength
                    and r["background"] == background
                ]
                rates_found = {
                    f"{m}_{d}": sum(r[f"{m}_{d}"] for r in group) for m in methods for d in WITHIN
                }
                expected = statistics.median(r["expected_daily"] for r in group)
                figure(
                    "early_warning_sweep",
                    background=background,
                    strength=strength,
                    cells=size,
                    trials=len(group),
                    expected_daily_median=round(expected, 3),
                    **rates_found,
                )
                cells_txt = " | ".join(
                    f"{rates_found[f'{m}_3']}/{len(group)} · {rates_found[f'{m}_7']}/{len(group)}"
                    for m in methods
                )
                table.append(
                    f"| {background} | {strength:g}× | {size} | {expected:.2f} | {cells_txt} |"
                )
    totals = {f"{m}_{d}": sum(r[f"{m}_{d}"] for r in rows) for m in methods for d in WITHIN}
    figure(
        "early_warning_sweep_totals",
        trials=len(rows),
        **totals,
        scan_false_alerts_per_month_design=round(DAYS_PER_MONTH / SCAN_RECURRENCE_DAYS, 3),
        ebp_false_alerts=ebp_false,
        ebp_null_days=null_days,
        ebp_false_alerts_per_month=round(ebp_per_month, 3),
        ebp_critical_llr=round(_STATE["ebp_crit"], 3),
        cusum_threshold=round(h, 3),
        cusum_rho=CUSUM_RHO,
        cusum_false_alerts=cusum_false,
        cusum_null_days=CUSUM_NULL_DAYS,
        cusum_false_alerts_per_month=round(cusum_per_month, 3),
        scan_critical_llr=round(_STATE["scan_crit"], 3),
        seconds=round(time.perf_counter() - wall, 1),
    )
    table.append(
        "| **all** | | | | "
        + " | ".join(
            f"**{totals[f'{m}_3']}/{len(rows)} · {totals[f'{m}_7']}/{len(rows)}**" for m in methods
        )
        + " |"
    )
    print("\n".join(table), flush=True)
    return 0


def _ebp_null_day(t: int) -> list[tuple[int, ...]]:
    from maps.early_warning import ebp_detections

    counts = _STATE["null_counts"]
    found = ebp_detections(
        counts[:, : HISTORY + t + 1], _STATE["neighbourhoods"], replicas=99, seed=t
    )
    return [d.cells for d in found]


def run_ebp_null(city: Any, *, days: int, seed: int, workers: int) -> int:
    """False alerts of the production EBP detector (`maps.early_warning.ebp_detections`: its
    own bootstrap threshold, 99 replicas, recurrence ≥ 60 days) on `days` consecutive
    outbreak-free runs, deduplicated as in the app."""
    wall = time.perf_counter()
    _STATE.update(
        rates=city.rates,
        neighbourhoods=city.neighbourhoods,
        null_counts=simulate_counts(np.random.default_rng(seed + 3000), city.rates, HISTORY + days),
    )
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork")) as pool:
        per_day = list(pool.map(_ebp_null_day, range(days)))
    recent: list[tuple[int, set[int]]] = []
    alerts = 0
    for t, found in enumerate(per_day):
        for cells in found:
            cs = set(cells)
            if not any(day >= t - 14 and cs & seen for day, seen in recent):
                alerts += 1
            recent.append((t, cs))
    figure(
        "early_warning_ebp_production_false_alerts",
        null_days=days,
        days_with_a_detection=sum(1 for f in per_day if f),
        alerts=alerts,
        alerts_per_month=round(alerts / (days / DAYS_PER_MONTH), 3),
        design_per_month=round(DAYS_PER_MONTH / EBP_RECURRENCE_DAYS, 3),
        seconds=round(time.perf_counter() - wall, 1),
    )
    return 0
