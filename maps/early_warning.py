"""Early warning on daily report counts: turning the statistics of `maps.hotspots` into alerts,
keeping one alert per hotspot across daily runs, and simulating report streams with planted
clusters to measure how fast and how falsely the alerts fire. Pure numpy/scipy on plain
arrays: no database, no Flask (the app's `fieldapp.services.hotspots` feeds these functions
from PostgreSQL, and `benchmarks/eval_early_warning.py` from the simulator below).

Three detectors, each returning `Detection`s (cell indices, the days covered, the statistic):

- `scan_detections`: Kulldorff's prospective space-time permutation scan; a cluster alerts when
  its recurrence interval reaches a threshold (365 days by default: for an analysis run once a
  day, a cluster that strong turns up by chance once a year).
- `gi_detections`: Getis–Ord Gi* on counts summed over a recent window, analytical p-values,
  Benjamini–Hochberg FDR; adjacent hot cells become one detection.
- `emerging_detections`: Emerging Hot Spot Analysis over weekly steps; adjacent cells of the
  same alerting class (new, consecutive, intensifying, persistent) become one detection.

`match_detections` and `stale_alerts` implement the "one alert per hotspot" rule: a detection
that shares a cell with an active alert of the same method seen in the last N days updates it;
an alert not re-detected for 14 days expires.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from maps.hotspots import (
    Pattern,
    ScanResult,
    emerging_hotspots,
    getis_ord_gi_star,
    space_time_permutation_scan,
)
from maps.weights import Neighbourhoods

__all__ = [
    "ALERTING_PATTERNS",
    "ActiveAlert",
    "Detection",
    "Method",
    "background_rates",
    "critical_llr",
    "emerging_detections",
    "gi_detections",
    "hot_components",
    "inject_cluster",
    "match_detections",
    "merge_detections",
    "scan_detections",
    "scan_result_detections",
    "simulate_counts",
    "stale_alerts",
]

Method = Literal["scan", "gi_star", "emerging"]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

ALERTING_PATTERNS: tuple[Pattern, ...] = (
    Pattern.NEW_HOT,
    Pattern.CONSECUTIVE_HOT,
    Pattern.INTENSIFYING_HOT,
    Pattern.PERSISTENT_HOT,
)
"""Emerging classes worth an alert: hot now and either new or lasting. Sporadic, oscillating,
diminishing and historical hot spots are shown on the map but do not call for action today."""


@dataclass(frozen=True)
class Detection:
    """One hotspot found by one run of one method. `cells` are row indices of the counts
    matrix (the centre first for the scan); `first_day`/`last_day` are column indices of the
    daily counts the detector was given (inclusive)."""

    method: Method
    cells: tuple[int, ...]
    centre: int
    statistic: float
    p_value: float
    first_day: int
    last_day: int
    observed: float
    expected: float
    pattern: str | None = None
    recurrence_interval_days: float | None = None


# --------------------------------------------------------------------------------------------
# Detectors
# --------------------------------------------------------------------------------------------


def scan_detections(
    counts: npt.ArrayLike,
    neighbourhoods: Neighbourhoods,
    *,
    max_cells: int = 50,
    max_days: int = 30,
    replicas: int = 999,
    min_recurrence_days: float = 365.0,
    p_value: Literal["gumbel", "monte_carlo"] = "gumbel",
    max_clusters: int = 10,
    seed: int | None = None,
    n_jobs: int | None = None,
) -> list[Detection]:
    """Clusters of the prospective space-time permutation scan on daily `counts` (cells × days,
    the last column the most recent day) whose recurrence interval is at least
    `min_recurrence_days`.

    The scan is run once a day, so the recurrence interval is 1/p days (Kulldorff 2001): 365
    means p <= 1/365 ≈ 0.0027, one false alarm a year from the whole city. A looser threshold
    (e.g. 100 days) would send staff to ~3.6 false hotspots a year; a stricter one delays real
    ones. `p_value="gumbel"` (the default) reads p from a Gumbel distribution fitted to the
    replica maxima, which resolves p below 1/(replicas + 1) and is close to the Monte Carlo p
    where both are defined (Abrams, Kleinman & Kulldorff 2010); with 999 replicas the Monte
    Carlo p alone could not show a recurrence interval above 1,000 days, and with 199 not even
    365. `"monte_carlo"` uses the rank of the observed LLR among the replicas.
    """
    result = space_time_permutation_scan(
        np.asarray(counts),
        neighbourhoods,
        max_cells=max_cells,
        max_days=max_days,
        replicas=replicas,
        seed=seed,
        max_clusters=max_clusters,
        n_jobs=n_jobs,
    )
    return scan_result_detections(result, min_recurrence_days=min_recurrence_days, p_value=p_value)


def scan_result_detections(
    result: ScanResult,
    *,
    min_recurrence_days: float = 365.0,
    p_value: Literal["gumbel", "monte_carlo"] = "gumbel",
) -> list[Detection]:
    """The clusters of a finished scan that alert (see `scan_detections`)."""
    out: list[Detection] = []
    for c in result.clusters:
        p = c.p_value_gumbel if p_value == "gumbel" else c.p_value
        if math.isnan(p):  # too few replicas for a Gumbel fit: fall back to the rank
            p = c.p_value
        if math.isnan(p) or p <= 0:
            continue
        recurrence = 1.0 / p  # daily analysis: one run per day
        if recurrence < min_recurrence_days:
            continue
        out.append(
            Detection(
                method="scan",
                cells=tuple(int(i) for i in c.cells),
                centre=int(c.centre),
                statistic=float(c.llr),
                p_value=float(p),
                first_day=int(c.start_day),
                last_day=int(c.end_day),
                observed=float(c.observed),
                expected=float(c.expected),
                recurrence_interval_days=float(recurrence),
            )
        )
    return out


def critical_llr(replica_max_llr: npt.ArrayLike, recurrence_days: float = 365.0) -> float:
    """The LLR a cluster needs for a Gumbel recurrence interval of `recurrence_days` in a
    daily analysis (p = 1/recurrence_days), from the replica maxima of that analysis: the
    Gumbel quantile loc − β·ln(−ln(1 − p)) with loc and β fitted by moments as in
    `maps.hotspots` (NaN with fewer than two replicas or no spread)."""
    null = np.asarray(replica_max_llr, dtype=np.float64).ravel()
    if null.size < 2:
        return math.nan
    sd = float(null.std(ddof=1))
    if sd == 0:
        return math.nan
    beta = sd * math.sqrt(6.0) / math.pi
    loc = float(null.mean()) - 0.5772156649015329 * beta  # Euler–Mascheroni constant
    p = 1.0 / recurrence_days
    return loc - beta * math.log(-math.log1p(-p))


def hot_components(
    mask: npt.ArrayLike, weights: sp.spmatrix | sp.sparray
) -> list[npt.NDArray[np.intp]]:
    """Groups of `mask`ed cells connected through `weights` (e.g. queen contiguity): each
    group is one hotspot, so a hot block of ten cells is one alert, not ten. Groups are sorted
    by their smallest index; indices within a group ascending."""
    hot = np.flatnonzero(np.asarray(mask, dtype=bool))
    if hot.size == 0:
        return []
    sub = sp.csr_matrix(weights)[hot][:, hot]
    _n, labels = connected_components(sub, directed=False)
    groups = [hot[labels == k] for k in range(int(labels.max()) + 1)]
    return sorted(groups, key=lambda g: int(g[0]))


def gi_detections(
    counts: npt.ArrayLike,
    weights: sp.spmatrix | sp.sparray,
    *,
    alpha: float = 0.05,
    first_day: int = 0,
    last_day: int = 0,
) -> list[Detection]:
    """Hot spots of Gi* (analytical p, Benjamini–Hochberg at `alpha`) on per-cell `counts`
    (e.g. the last 28 days summed), adjacent hot cells grouped into one detection. The
    detection's statistic is the largest z of its cells, p the smallest p, and its centre the
    cell with that z; expected = the city-wide mean per cell × the number of cells."""
    y = np.asarray(counts, dtype=np.float64).ravel()
    if y.size < 2 or not np.any(y):
        return []
    gi = getis_ord_gi_star(y, weights)
    hot = gi.significant(alpha) == 1
    mean = float(y.mean())
    out: list[Detection] = []
    for group in hot_components(hot, weights):
        centre = int(group[np.argmax(gi.z[group])])
        out.append(
            Detection(
                method="gi_star",
                cells=_centre_first(group, centre),
                centre=centre,
                statistic=float(gi.z[centre]),
                p_value=float(gi.p_norm[group].min()),
                first_day=first_day,
                last_day=last_day,
                observed=float(y[group].sum()),
                expected=mean * group.size,
            )
        )
    return out


def emerging_detections(
    cube: npt.ArrayLike,
    weights: sp.spmatrix | sp.sparray,
    *,
    alpha: float = 0.05,
    patterns: Iterable[Pattern] = ALERTING_PATTERNS,
    step_days: int = 7,
    last_day: int | None = None,
) -> list[Detection]:
    """Emerging hot spots of a (cells × steps) `cube` of counts (oldest step first) whose
    class is in `patterns`; adjacent cells of the same class are one detection. Days: step t
    covers days [t·step_days, (t+1)·step_days) of the daily series the cube was summed from,
    so with `last_day` (default: the cube's last day) the detection covers the run of
    significant steps that ends at the final step."""
    y = np.asarray(cube, dtype=np.float64)
    n, steps = y.shape
    if n < 2 or steps < 1 or not np.any(y):
        return []
    result = emerging_hotspots(y, weights, alpha=alpha)
    end = steps * step_days - 1 if last_day is None else last_day
    offset = end - (steps * step_days - 1)
    # Length of each cell's run of hot steps ending at the final step.
    rev = result.hot[:, ::-1]
    run = np.where(rev.all(axis=1), steps, np.argmin(rev, axis=1))
    mean = float(y.mean())
    out: list[Detection] = []
    for pattern in patterns:
        mask = result.codes == int(pattern)
        for group in hot_components(mask, weights):
            z_last = result.z[group, -1]
            centre = int(group[np.argmax(z_last)])
            first_step = steps - int(run[group].max())
            out.append(
                Detection(
                    method="emerging",
                    cells=_centre_first(group, centre),
                    centre=centre,
                    statistic=float(z_last.max()),
                    p_value=float(result.p[group, -1].min()),
                    first_day=offset + first_step * step_days,
                    last_day=end,
                    observed=float(y[group, -1].sum()),
                    expected=mean * group.size,
                    pattern=pattern.label,
                )
            )
    return out


def _centre_first(group: npt.NDArray[np.intp], centre: int) -> tuple[int, ...]:
    return (centre, *(int(i) for i in group if int(i) != centre))


# --------------------------------------------------------------------------------------------
# One alert per hotspot
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActiveAlert:
    """What the dedupe needs to know of a stored, not yet expired alert."""

    id: int
    method: str
    cells: frozenset[int]
    last_detected: date


def match_detections(
    detections: Sequence[tuple[str, Iterable[int]]],
    alerts: Sequence[ActiveAlert],
    *,
    today: date,
    within_days: int = 14,
) -> list[int | None]:
    """For each (method, cells) detection, the id of the active alert it re-detects, or None
    for a new hotspot.

    A detection re-detects an alert of the same method that shares at least one cell with it
    and was last detected no more than `within_days` days before `today`. When several alerts
    qualify, the one sharing the most cells wins (then the oldest, the smallest id), so a
    hotspot that drifts by a cell or two stays one alert. Several detections may re-detect the
    same alert (a cluster that split): the caller merges them (`merge_detections`)."""
    horizon = today - timedelta(days=within_days)
    live = [a for a in alerts if a.last_detected >= horizon]
    out: list[int | None] = []
    for method, cells in detections:
        mine = set(cells)
        best: tuple[int, int] | None = None  # (-shared, id): smaller is better
        for a in live:
            if a.method != method:
                continue
            shared = len(mine & a.cells)
            if shared and (best is None or (-shared, a.id) < best):
                best = (-shared, a.id)
        out.append(None if best is None else best[1])
    return out


def merge_detections(parts: Sequence[Detection]) -> Detection:
    """Several detections of one method that re-detect the same alert, as one: cells united
    (the strongest detection's first), the strongest statistic, the smallest p, the widest
    period, summed counts."""
    if not parts:
        raise ValueError("nothing to merge")
    if len(parts) == 1:
        return parts[0]
    strongest = max(parts, key=lambda d: d.statistic)
    cells = list(strongest.cells)
    seen = set(cells)
    for d in parts:
        for c in d.cells:
            if c not in seen:
                seen.add(c)
                cells.append(c)
    recurrences = [d.recurrence_interval_days for d in parts if d.recurrence_interval_days]
    return Detection(
        method=strongest.method,
        cells=tuple(cells),
        centre=strongest.centre,
        statistic=strongest.statistic,
        p_value=min(d.p_value for d in parts),
        first_day=min(d.first_day for d in parts),
        last_day=max(d.last_day for d in parts),
        observed=sum(d.observed for d in parts),
        expected=sum(d.expected for d in parts),
        pattern=strongest.pattern,
        recurrence_interval_days=max(recurrences) if recurrences else None,
    )


def stale_alerts(alerts: Sequence[ActiveAlert], *, today: date, after_days: int = 14) -> list[int]:
    """Ids of the alerts not re-detected for `after_days` days: they expire."""
    cutoff = today - timedelta(days=after_days)
    return [a.id for a in alerts if a.last_detected <= cutoff]


# --------------------------------------------------------------------------------------------
# Simulation (for the evaluation and the tests)
# --------------------------------------------------------------------------------------------


def background_rates(population: npt.ArrayLike, reports_per_day: float) -> FloatArray:
    """Expected reports per cell and day, proportional to population (a cell with no
    population data counts as the median cell), summing to `reports_per_day`."""
    pop = np.asarray(population, dtype=np.float64).ravel()
    pop = np.where(np.isfinite(pop) & (pop > 0), pop, np.nan)
    fill = float(np.nanmedian(pop)) if np.any(np.isfinite(pop)) else 1.0
    pop = np.where(np.isnan(pop), fill, pop)
    return np.asarray(pop / pop.sum() * reports_per_day, dtype=np.float64)


def simulate_counts(rng: np.random.Generator, rates: npt.ArrayLike, days: int) -> IntArray:
    """Poisson daily counts, cells × days, with the given per-cell daily rates."""
    lam = np.asarray(rates, dtype=np.float64).ravel()
    return np.asarray(rng.poisson(lam[:, None], size=(lam.size, days)), dtype=np.int64)


def inject_cluster(
    rng: np.random.Generator,
    counts: npt.NDArray[np.integer],
    rates: npt.ArrayLike,
    cells: npt.ArrayLike,
    start_day: int,
    days: int,
    relative_risk: float,
) -> IntArray:
    """Counts with an outbreak planted: in `cells` on days start_day … start_day + days − 1
    the rate is multiplied by `relative_risk`, i.e. Poisson((rr − 1)·rate) extra reports are
    added on top of the background. Returns a new array."""
    out = np.array(counts, dtype=np.int64, copy=True)
    lam = np.asarray(rates, dtype=np.float64).ravel()
    idx = np.asarray(cells, dtype=np.intp).ravel()
    end = min(out.shape[1], start_day + days)
    if end <= start_day or relative_risk <= 1:
        return out
    extra = rng.poisson((relative_risk - 1.0) * lam[idx][:, None], size=(idx.size, end - start_day))
    out[idx, start_day:end] += extra
    return out
