"""Hotspot statistics on plain numpy arrays and scipy sparse weights (no database, no Flask).

- `getis_ord_gi_star`: local Gi* z-scores with analytical and conditional-permutation p-values
  (the definitions of esda's ``G_Local(star=True, transform="B")``).
- `fdr` / `fdr_threshold`: Benjamini–Hochberg false discovery rate.
- `mann_kendall`: the Mann–Kendall trend test, vectorised over many series.
- `emerging_hotspots` / `classify_emerging`: ArcGIS Pro-style Emerging Hot Spot Analysis over a
  space-time cube (cells × time steps).
- `space_time_permutation_scan`: Kulldorff's prospective space-time permutation scan statistic
  for daily counts per cell.

Weights come from `maps.weights` (queen contiguity, k nearest cells).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import IntEnum
from functools import partial
from typing import Any, Literal, TypeVar

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.special import ndtr

from maps.weights import Neighbourhoods, with_self

__all__ = [
    "MIN_PERMUTATIONS",
    "EmergingHotspots",
    "GiStar",
    "MannKendall",
    "Pattern",
    "ScanCluster",
    "ScanResult",
    "classify_emerging",
    "emerging_hotspots",
    "expected_counts",
    "fdr",
    "fdr_threshold",
    "getis_ord_gi_star",
    "mann_kendall",
    "space_time_permutation_scan",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
CountArray = npt.NDArray[Any]  # int16/int32/int64 counts or indices, chosen at run time
_T = TypeVar("_T")

MIN_PERMUTATIONS = 9999
"""Fewest permutations `getis_ord_gi_star` accepts (besides 0 = analytical only). With 999
permutations the smallest pseudo p-value is 1/1000 (2/1000 two-sided), and Benjamini–Hochberg
over 4,586 cells needs the k-th smallest p <= k·0.05/4586: at least 92 (184 two-sided) cells
would have to sit at that floor before anything at all is flagged."""


def _n_workers(n_jobs: int | None) -> int:
    if n_jobs is not None:
        return max(1, int(n_jobs))
    try:  # the CPUs this process may run on (a container's limit), not the machine's
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _run_tasks(tasks: Sequence[Callable[[], _T]], n_jobs: int | None) -> list[_T]:
    """Run independent closures, in threads when asked: the heavy work is numpy calls that
    release the GIL, so threads scale without the pickling cost of processes."""
    workers = min(_n_workers(n_jobs), len(tasks))
    if workers <= 1:
        return [t() for t in tasks]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda t: t(), tasks))


def _two_sided_p(z: FloatArray) -> FloatArray:
    return np.asarray(2.0 * ndtr(-np.abs(z)), dtype=np.float64)


# --------------------------------------------------------------------------------------------
# Getis–Ord Gi*
# --------------------------------------------------------------------------------------------


def _gi_z(
    local_sum: FloatArray,
    sum_w: FloatArray,
    sum_w2: FloatArray,
    mean: float | FloatArray,
    sd: float | FloatArray,
    n: float | FloatArray,
) -> FloatArray:
    """Ord & Getis (1995) Gi* z-score, all arguments broadcast.

    z = (Σ_j w_ij x_j − x̄ W_i) / (s · sqrt((N·S1_i − W_i²) / (N − 1))), W_i = Σ_j w_ij,
    S1_i = Σ_j w_ij², s² = Σx²/N − x̄². With binary weights S1_i = W_i and this is exactly
    esda's G_Local(star=True, transform="B") z (its moments rewritten without the ratio).
    Degenerate cases (constant data, a neighbourhood that is the whole study area) get z = 0.
    """
    spread = np.asarray(n * sum_w2 - sum_w**2, dtype=np.float64) / (np.asarray(n) - 1.0)
    denom = np.asarray(sd * np.sqrt(np.maximum(spread, 0.0)), dtype=np.float64)
    num = np.asarray(local_sum - mean * sum_w, dtype=np.float64)
    num, denom = np.broadcast_arrays(num, denom)
    ok = denom > 0
    return np.divide(num, denom, out=np.zeros(num.shape, dtype=np.float64), where=ok)


@dataclass(frozen=True)
class GiStar:
    """Local Getis–Ord Gi* for every cell (arrays of length n, in the order of the input)."""

    g: FloatArray
    """Gi* itself: Σ_j w_ij x_j / Σ_j x_j (self-weight included), esda's ``Gs``."""
    z: FloatArray
    """Standardised Gi* (esda's ``Zs``); > 0 hot, < 0 cold."""
    p_norm: FloatArray
    """Two-sided normal p-value, 2·(1 − Φ(|z|)) (esda's ``p_norm`` is one-sided: half this)."""
    p_sim: FloatArray | None
    """Conditional-permutation pseudo p-value, one-tailed in the direction the observed value
    falls (esda's default "directed" alternative): (min(#sims ≥ obs, #sims ≤ obs) + 1) /
    (permutations + 1). None when no permutations were run. See `getis_ord_gi_star` on ties."""
    permutations: int

    @property
    def p_sim_two_sided(self) -> FloatArray | None:
        """Two-sided pseudo p-value, min(1, 2·p_sim)."""
        return None if self.p_sim is None else np.minimum(1.0, 2.0 * self.p_sim)

    @property
    def p_value(self) -> FloatArray:
        """The two-sided p-value to test with: permutation-based when permutations were run,
        otherwise analytical."""
        two_sided = self.p_sim_two_sided
        return self.p_norm if two_sided is None else two_sided

    def significant(
        self, alpha: float = 0.05, *, correction: Literal["fdr", "none"] = "fdr"
    ) -> npt.NDArray[np.int8]:
        """+1 for a significant hot spot, −1 for a cold spot, 0 otherwise, at level `alpha`
        after Benjamini–Hochberg (`correction="fdr"`, the default) or uncorrected."""
        sig = fdr(self.p_value, alpha) if correction == "fdr" else self.p_value <= alpha
        out = np.zeros(self.z.shape, dtype=np.int8)
        out[sig & (self.z > 0)] = 1
        out[sig & (self.z < 0)] = -1
        return out


def getis_ord_gi_star(
    values: npt.ArrayLike,
    weights: sp.spmatrix | sp.sparray,
    *,
    permutations: int = 0,
    seed: int | None = None,
    self_weight: float = 1.0,
    n_jobs: int | None = None,
) -> GiStar:
    """Local Getis–Ord Gi* (hot spot analysis) of `values` under spatial `weights`.

    `weights` is an n×n sparse matrix without self-weights, normally the binary queen
    contiguity from `maps.weights.queen_weights` (not row-standardised); the star weight
    w_ii = `self_weight` (1) is put on the diagonal here. The analytical z and p match esda's
    ``G_Local(values, w, transform="B", star=True)``: same statistic, same moments, and
    ``p_norm`` here is two-sided (2× esda's). For non-binary weights the general Ord & Getis
    (1995) variance is used, which leaves z unchanged when a row is rescaled (so
    row-standardised and binary weights give the same z; esda's transform="R" does not).

    `permutations` must be 0 (analytical p only) or at least `MIN_PERMUTATIONS` (9,999), since
    fewer cannot survive an FDR correction over thousands of cells. The conditional
    permutation is esda's: for cell i, its value stays put and its k_i neighbours' values are
    replaced by k_i values drawn without replacement from the other n − 1 cells, independently
    for every cell and permutation; the pseudo p counts simulated Gi* at least as extreme as
    the observed one. Ties (frequent for counts) are counted in both tails; esda counts them
    only in the upper tail, so a cell whose whole neighbourhood holds the map's commonest
    minimum (say 0 reports) would get the smallest possible p there, a spurious cold spot.
    Without ties both definitions agree exactly. Cells with no neighbours get p_sim = 1 (their
    Gi* cannot vary under the permutation; esda reports 1/(permutations + 1)).

    Vectorised: per group of cells with equal neighbour count, all random neighbour sets are
    drawn at once (Floyd's sampling without replacement), in threads (`n_jobs`, default all
    cores) with a fixed random stream per chunk, so results depend on `seed` only.
    """
    y = np.asarray(values, dtype=np.float64).ravel()
    n = y.size
    w = sp.csr_matrix(weights, dtype=np.float64)
    if w.shape != (n, n):
        raise ValueError(f"weights must be {n}×{n}, got {w.shape[0]}×{w.shape[1]}")
    if n < 2:
        raise ValueError("Gi* needs at least two cells")
    if not np.all(np.isfinite(y)):
        raise ValueError("values must be finite")
    if w.data.size and w.data.min() < 0:
        raise ValueError("weights must be non-negative")
    if permutations < 0 or 0 < permutations < MIN_PERMUTATIONS:
        raise ValueError(
            f"permutations must be 0 (analytical only) or >= {MIN_PERMUTATIONS}: with fewer, "
            "the smallest pseudo p-value cannot pass an FDR correction over thousands of cells"
        )
    star = with_self(w, self_weight)
    total = float(y.sum())
    local = star @ y
    sum_w = np.asarray(star.sum(axis=1), dtype=np.float64).ravel()
    sum_w2 = np.asarray(star.multiply(star).sum(axis=1), dtype=np.float64).ravel()
    mean = total / n
    sd = math.sqrt(max(float(np.mean(y * y)) - mean * mean, 0.0))
    z = _gi_z(local, sum_w, sum_w2, mean, sd, float(n))
    with np.errstate(divide="ignore", invalid="ignore"):
        g = local / total if total != 0 else np.full(n, np.nan)
    p_sim = None
    if permutations:
        p_sim = _gi_permutation_p(y, with_self(w, 0.0), permutations, seed, n_jobs)
        if sd == 0:
            p_sim[:] = 1.0  # constant data: every simulation ties with the observation
    return GiStar(g=g, z=z, p_norm=_two_sided_p(z), p_sim=p_sim, permutations=permutations)


def _gi_permutation_p(
    y: FloatArray,
    w0: sp.csr_matrix,
    permutations: int,
    seed: int | None,
    n_jobs: int | None,
) -> FloatArray:
    """Conditional-permutation pseudo p-values of Gi* (see `getis_ord_gi_star`)."""
    n = y.size
    card = np.diff(w0.indptr)
    # Rows whose off-diagonal weights are all equal (binary, row-standardised) compare plain
    # sums: Gi* = (w_ii y_i + c·Σ y_j)/Σy is monotone in Σ y_j, and integer counts then sum
    # exactly, so ties are real ties. Other rows compare weighted sums.
    first = np.repeat(w0.data[w0.indptr[:-1][card > 0]], card[card > 0])
    uniform = bool(np.all(w0.data == first))
    if uniform:
        w0 = sp.csr_matrix((np.ones_like(w0.data), w0.indices, w0.indptr), shape=w0.shape)
    observed = w0 @ y
    # A hair of tolerance so that float sums of the same values in another order still tie.
    tol = 1e-12 * max(1.0, float(np.abs(y).sum()))
    n_ge = np.zeros(n, dtype=np.int64)
    n_le = np.zeros(n, dtype=np.int64)

    # Fixed-size chunks (~100k simulated sums each) keep temporaries in cache and give every
    # chunk its own random stream, so the result does not depend on the number of threads.
    plan: list[npt.NDArray[np.intp]] = []
    per_chunk = max(1, 100_000 // permutations)
    for k in np.unique(card[card > 0]):
        sites = np.flatnonzero(card == k)
        plan.extend(sites[a : a + per_chunk] for a in range(0, sites.size, per_chunk))
    seeds = np.random.SeedSequence(seed).spawn(len(plan))

    def task(sites: npt.NDArray[np.intp], ss: np.random.SeedSequence) -> None:
        rng = np.random.default_rng(ss)
        k = int(card[sites[0]])
        wts = None
        if not uniform:
            pos = w0.indptr[sites][:, None] + np.arange(k)
            wts = w0.data[pos]
        sims = _floyd_neighbour_sums(rng, sites, k, n, permutations, y, wts)
        obs = observed[sites][:, None]
        n_ge[sites] = np.count_nonzero(sims >= obs - tol, axis=1)
        n_le[sites] = np.count_nonzero(sims <= obs + tol, axis=1)

    _run_tasks([partial(task, s, q) for s, q in zip(plan, seeds, strict=True)], n_jobs)
    p = (np.minimum(n_ge, n_le) + 1.0) / (permutations + 1.0)
    p[card == 0] = 1.0
    return np.minimum(p, 1.0)


def _floyd_neighbour_sums(
    rng: np.random.Generator,
    sites: npt.NDArray[np.intp],
    k: int,
    n: int,
    permutations: int,
    y: FloatArray,
    wts: FloatArray | None,
) -> FloatArray:
    """(len(sites), permutations) sums of k values drawn without replacement from y minus the
    site's own value, optionally weighted. Floyd's algorithm draws a uniform k-subset of
    {0..n-2} one column at a time with only k random integers per set, no sorting and no
    rejection loop; shifting indices ≥ i by one then skips the site itself."""
    m = sites.size
    pool = n - 1
    # int16 indices when they fit: cheaper to draw and to compare than int32.
    index_type = np.int16 if n <= np.iinfo(np.int16).max else np.int32
    site_col = sites.astype(index_type)[:, None]
    cols: list[CountArray] = []
    dup = np.empty((m, permutations), dtype=bool)
    hit = np.empty((m, permutations), dtype=bool)
    total: FloatArray = np.zeros((m, permutations), dtype=np.float64)
    for q in range(k):
        j = pool - k + q
        t: CountArray = rng.integers(0, j + 1, size=(m, permutations), dtype=index_type)
        if cols:
            np.equal(cols[0], t, out=dup)
            for prev in cols[1:]:
                np.equal(prev, t, out=hit)
                dup |= hit
            np.copyto(t, j, where=dup, casting="unsafe")  # j is never drawn yet: Floyd's rule
        cols.append(t)
        picked = y.take(t + (t >= site_col))  # take: ~2x faster than fancy indexing
        if wts is not None:
            picked *= wts[:, q : q + 1]
        total += picked
    return total


# --------------------------------------------------------------------------------------------
# False discovery rate
# --------------------------------------------------------------------------------------------


def fdr_threshold(pvalues: npt.ArrayLike, alpha: float = 0.05) -> float | None:
    """Benjamini–Hochberg cut-off: the largest p_(k) with p_(k) <= k·alpha/m over the m
    non-NaN p-values sorted ascending, or None when no p-value passes."""
    p = np.asarray(pvalues, dtype=np.float64).ravel()
    p = np.sort(p[~np.isnan(p)])
    m = p.size
    if m == 0:
        return None
    passing = np.flatnonzero(p <= alpha * np.arange(1, m + 1) / m)
    return float(p[passing[-1]]) if passing.size else None


def fdr(pvalues: npt.ArrayLike, alpha: float = 0.05) -> BoolArray:
    """Benjamini–Hochberg: a boolean mask (same shape as `pvalues`) of the discoveries at
    false discovery rate `alpha`. NaN p-values are never significant and are not counted.

    Note the floor this implies: with R permutations the smallest pseudo p is 1/(R+1), so with
    999 permutations and 4,586 cells nothing passes unless ~92 cells all sit at that floor.
    Use analytical p-values or at least 9,999 permutations."""
    p = np.asarray(pvalues, dtype=np.float64)
    cut = fdr_threshold(p, alpha)
    if cut is None:
        return np.zeros(p.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        return np.asarray(p <= cut)


# --------------------------------------------------------------------------------------------
# Mann–Kendall
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MannKendall:
    """Mann–Kendall trend test along the last axis; arrays have the input's leading shape."""

    s: IntArray
    """S = Σ_{i<j} sign(x_j − x_i)."""
    var_s: FloatArray
    """Var(S) with the tie correction."""
    z: FloatArray
    """(S − sign S)/sqrt(Var S) (continuity-corrected); 0 when Var S = 0."""
    p: FloatArray
    """Two-sided p-value, 2·(1 − Φ(|z|))."""
    tau: FloatArray
    """Kendall's tau-a, S / (n(n−1)/2)."""


def mann_kendall(series: npt.ArrayLike) -> MannKendall:
    """Mann–Kendall test for a monotonic trend in each series along the last axis
    (e.g. cells × weeks → one result per cell).

    Var(S) = [n(n−1)(2n+5) − Σ_g t_g(t_g−1)(2t_g+5)] / 18 over groups g of t_g tied values;
    Z is continuity-corrected; p is two-sided. Vectorised: one numpy pass per lag, so 4,586
    series of 52 steps take milliseconds."""
    x = np.asarray(series, dtype=np.float64)
    if x.ndim == 0:
        raise ValueError("series must have at least one dimension (time last)")
    if not np.all(np.isfinite(x)):
        raise ValueError("series must be finite")
    lead = x.shape[:-1]
    t = x.shape[-1]
    flat = x.reshape(-1, t)
    rows = flat.shape[0]
    s = np.zeros(rows, dtype=np.int64)
    for lag in range(1, t):
        s += np.sign(flat[:, lag:] - flat[:, :-lag]).sum(axis=1).astype(np.int64)
    ties: FloatArray = np.zeros(rows, dtype=np.float64)
    if t > 1 and rows:
        ordered = np.sort(flat, axis=1)
        starts = np.ones((rows, t), dtype=bool)
        starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
        pos = np.flatnonzero(starts.ravel())
        lengths = np.diff(np.append(pos, rows * t)).astype(np.float64)
        per_group = lengths * (lengths - 1) * (2 * lengths + 5)
        ties = np.bincount(pos // t, weights=per_group, minlength=rows).astype(np.float64)
    var_s = (t * (t - 1) * (2 * t + 5) - ties) / 18.0
    num = (s - np.sign(s)).astype(np.float64)
    z = np.divide(num, np.sqrt(np.maximum(var_s, 0.0)), out=np.zeros(rows), where=var_s > 0)
    pairs = t * (t - 1) / 2
    tau = s / pairs if pairs else np.zeros(rows)
    return MannKendall(
        s=s.reshape(lead),
        var_s=var_s.reshape(lead),
        z=z.reshape(lead),
        p=_two_sided_p(z).reshape(lead),
        tau=np.asarray(tau, dtype=np.float64).reshape(lead),
    )


# --------------------------------------------------------------------------------------------
# Emerging hot spots
# --------------------------------------------------------------------------------------------


class Pattern(IntEnum):
    """Emerging Hot Spot Analysis categories; cold spots mirror hot spots with negative codes."""

    NO_PATTERN = 0
    NEW_HOT = 1
    CONSECUTIVE_HOT = 2
    INTENSIFYING_HOT = 3
    PERSISTENT_HOT = 4
    DIMINISHING_HOT = 5
    SPORADIC_HOT = 6
    OSCILLATING_HOT = 7
    HISTORICAL_HOT = 8
    NEW_COLD = -1
    CONSECUTIVE_COLD = -2
    INTENSIFYING_COLD = -3
    PERSISTENT_COLD = -4
    DIMINISHING_COLD = -5
    SPORADIC_COLD = -6
    OSCILLATING_COLD = -7
    HISTORICAL_COLD = -8

    @property
    def label(self) -> str:
        """ArcGIS-style English label, e.g. "new hot spot", "no pattern detected"."""
        if self is Pattern.NO_PATTERN:
            return "no pattern detected"
        kind, side = self.name.lower().split("_")
        return f"{kind} {side} spot"


def classify_emerging(
    hot: npt.ArrayLike,
    cold: npt.ArrayLike,
    trend_z: npt.ArrayLike,
    trend_p: npt.ArrayLike,
    trend_alpha: float = 0.05,
) -> npt.NDArray[np.int8]:
    """Classify each location from its per-step significance (cells × steps booleans, the last
    column the most recent step) and the Mann–Kendall trend of its Gi* z-scores.

    Returns `Pattern` codes (int8). With n steps, "≥ 90 %" means at least 0.9·n steps. The
    definitions follow ArcGIS Pro's "How Emerging Hot Spot Analysis works" (hot side shown;
    cold spots mirror them, with "intensifying" meaning z trending *down*):

    - new hot spot: significant hot at the final step and never before.
    - consecutive hot spot: a single uninterrupted run of ≥ 2 hot steps ending at the final
      step, never hot before that run, and < 90 % of steps hot.
    - intensifying hot spot: hot in ≥ 90 % of steps including the final one, and the z-scores
      trend up significantly (Mann–Kendall p < `trend_alpha`).
    - persistent hot spot: hot in ≥ 90 % of steps including the final one, no significant trend.
    - diminishing hot spot: hot in ≥ 90 % of steps including the final one, and the z-scores
      trend down significantly.
    - sporadic hot spot: hot at the final step, an on-again off-again history (hot before the
      final run, with gaps), < 90 % of steps hot, and never a significant cold spot.
    - oscillating hot spot: hot at the final step, a significant cold spot at some earlier
      step, < 90 % of steps hot (and not new or consecutive).
    - historical hot spot: NOT hot at the final step, but hot in ≥ 90 % of steps.
    - no pattern detected: none of the above on either side.

    Where the published definitions overlap, precedence is: new and consecutive over
    oscillating (their definitions say nothing about cold history); a category decided by the
    final step (hot or cold) over a historical one of the other side. Persistent requires
    the final step hot, since otherwise the location is historical.
    """
    h = np.atleast_2d(np.asarray(hot, dtype=bool))
    c = np.atleast_2d(np.asarray(cold, dtype=bool))
    if h.shape != c.shape:
        raise ValueError("hot and cold must have the same shape")
    if np.any(h & c):
        raise ValueError("a step cannot be both a hot and a cold spot")
    tz = np.broadcast_to(np.asarray(trend_z, dtype=np.float64).ravel(), h.shape[:1])
    tp = np.broadcast_to(np.asarray(trend_p, dtype=np.float64).ravel(), h.shape[:1])
    trend_sig = tp < trend_alpha
    up = trend_sig & (tz > 0)
    down = trend_sig & (tz < 0)
    out = np.zeros(h.shape[0], dtype=np.int8)
    hot_codes, hot_hist = _classify_side(h, c, up, down)
    cold_codes, cold_hist = _classify_side(c, h, down, up)
    # Final-step categories first (at most one side can be significant at the final step),
    # then the historical ones.
    out = np.where(hot_codes > 0, hot_codes, out)
    out = np.where(cold_codes > 0, -cold_codes, out)
    out = np.where((out == 0) & hot_hist, Pattern.HISTORICAL_HOT, out)
    out = np.where((out == 0) & cold_hist, Pattern.HISTORICAL_COLD, out)
    return out.astype(np.int8)


def _classify_side(
    this: BoolArray, other: BoolArray, towards: BoolArray, away: BoolArray
) -> tuple[npt.NDArray[np.int8], BoolArray]:
    """Codes 1–7 (0 = none) for locations significant on `this` side at the final step, and
    the historical mask. `towards`: a significant trend in this side's direction."""
    steps = this.shape[1]
    count = this.sum(axis=1)
    final = this[:, -1]
    ninety = 10 * count >= 9 * steps  # integer form of count/steps >= 0.9, no float fuzz
    # Length of the run of significant steps that ends at the final step.
    reversed_this = this[:, ::-1]
    run = np.where(reversed_this.all(axis=1), steps, np.argmin(reversed_this, axis=1))
    other_before = other[:, :-1].any(axis=1)

    new = final & (count == 1)
    mostly = final & ninety & ~new
    rest = final & ~ninety & ~new
    consecutive = rest & (run >= 2) & (run == count)
    oscillating = rest & ~consecutive & other_before
    sporadic = rest & ~consecutive & ~other_before

    codes = np.zeros(this.shape[0], dtype=np.int8)
    codes[new] = Pattern.NEW_HOT
    codes[consecutive] = Pattern.CONSECUTIVE_HOT
    codes[mostly & towards] = Pattern.INTENSIFYING_HOT
    codes[mostly & ~towards & ~away] = Pattern.PERSISTENT_HOT
    codes[mostly & away] = Pattern.DIMINISHING_HOT
    codes[sporadic] = Pattern.SPORADIC_HOT
    codes[oscillating] = Pattern.OSCILLATING_HOT
    return codes, ~final & ninety


@dataclass(frozen=True)
class EmergingHotspots:
    """Result of `emerging_hotspots` for n cells and T steps."""

    codes: npt.NDArray[np.int8]
    """(n,) `Pattern` code per cell."""
    z: FloatArray
    """(n, T) Gi* z-score per cell and step."""
    p: FloatArray
    """(n, T) two-sided analytical p-value per cell and step."""
    hot: BoolArray
    """(n, T) significant hot spot (after the chosen correction)."""
    cold: BoolArray
    """(n, T) significant cold spot."""
    trend: MannKendall
    """Mann–Kendall test of each cell's z-series."""

    def patterns(self) -> list[Pattern]:
        """The codes as `Pattern` members."""
        return [Pattern(int(c)) for c in self.codes]


def emerging_hotspots(
    cube: npt.ArrayLike,
    weights: sp.spmatrix | sp.sparray,
    *,
    alpha: float = 0.05,
    time_lag: int = 1,
    global_window: Literal["cube", "step"] = "cube",
    correction: Literal["fdr", "none"] = "fdr",
    trend_alpha: float | None = None,
    self_weight: float = 1.0,
) -> EmergingHotspots:
    """Emerging Hot Spot Analysis of a space-time cube (n cells × T steps, e.g. weekly counts,
    oldest step first), like ArcGIS Pro's tool.

    1. Gi* z and analytical p for every bin. A bin's neighbourhood is its cell and the cell's
       spatial neighbours (`weights`, e.g. queen contiguity, star weight w_ii=1) in the same
       step and the `time_lag` previous steps (ArcGIS "neighborhood time step"; 1 = this and
       the previous step, its default; 0 = this step only). `global_window="cube"` (ArcGIS's
       default "entire cube") compares each local sum with the mean and spread of all bins;
       `"step"` runs a separate Gi* per step (needs time_lag=0).
    2. A bin is a hot (cold) spot when significant at `alpha` with z > 0 (< 0); with
       `correction="fdr"` the Benjamini–Hochberg cut-off is taken over the global window (all
       bins, or each step).
    3. Mann–Kendall on each cell's z-series; significant at `trend_alpha` (default `alpha`).
    4. `classify_emerging` assigns the pattern; see its docstring for the definitions.
    """
    y = np.asarray(cube, dtype=np.float64)
    if y.ndim != 2:
        raise ValueError("cube must be 2-D: cells × steps")
    if not np.all(np.isfinite(y)):
        raise ValueError("cube must be finite")
    n, steps = y.shape
    if n < 2 or steps < 1:
        raise ValueError("the cube needs at least two cells and one step")
    if time_lag < 0:
        raise ValueError("time_lag must be >= 0")
    if global_window == "step" and time_lag:
        raise ValueError('global_window="step" compares bins within one step: use time_lag=0')
    if global_window not in ("cube", "step"):
        raise ValueError('global_window must be "cube" or "step"')
    w = sp.csr_matrix(weights, dtype=np.float64)
    if w.shape != (n, n):
        raise ValueError(f"weights must be {n}×{n}")
    star = with_self(w, self_weight)
    spatial = np.asarray(star @ y)
    # Sum over the time window [t − lag, t] with a cumulative sum along time.
    csum = np.cumsum(spatial, axis=1)
    local = csum.copy()
    if time_lag + 1 < steps:
        local[:, time_lag + 1 :] -= csum[:, : steps - time_lag - 1]
    depth = np.minimum(np.arange(steps), time_lag) + 1.0
    sum_w = np.asarray(star.sum(axis=1)).ravel()[:, None] * depth[None, :]
    sum_w2 = np.asarray(star.multiply(star).sum(axis=1)).ravel()[:, None] * depth[None, :]
    if global_window == "cube":
        mean = float(y.mean())
        sd = math.sqrt(max(float(np.mean(y * y)) - mean * mean, 0.0))
        z = _gi_z(local, sum_w, sum_w2, mean, sd, float(n * steps))
    else:
        mean_t = y.mean(axis=0)
        sd_t = np.sqrt(np.maximum((y * y).mean(axis=0) - mean_t**2, 0.0))
        z = _gi_z(local, sum_w, sum_w2, mean_t[None, :], sd_t[None, :], float(n))
    p = _two_sided_p(z)
    if correction == "fdr":
        if global_window == "cube":
            sig = fdr(p, alpha)
        else:
            sig = np.column_stack([fdr(p[:, t], alpha) for t in range(steps)])
    elif correction == "none":
        sig = p <= alpha
    else:
        raise ValueError('correction must be "fdr" or "none"')
    hot = sig & (z > 0)
    cold = sig & (z < 0)
    trend = mann_kendall(z)
    codes = classify_emerging(
        hot, cold, trend.z, trend.p, alpha if trend_alpha is None else trend_alpha
    )
    return EmergingHotspots(codes=codes, z=z, p=p, hot=hot, cold=cold, trend=trend)


# --------------------------------------------------------------------------------------------
# Prospective space-time permutation scan (Kulldorff et al. 2005)
# --------------------------------------------------------------------------------------------


def expected_counts(counts: npt.ArrayLike) -> FloatArray:
    """Expected cases per cell and day under the space-time permutation null:
    μ_zd = (cases in cell z over all days) × (cases on day d over all cells) / total.
    It sums to the observed total, as do its row and column margins."""
    c = np.asarray(counts, dtype=np.float64)
    total = c.sum()
    if total == 0:
        return np.zeros_like(c)
    return np.outer(c.sum(axis=1), c.sum(axis=0)) / total


@dataclass(frozen=True)
class ScanCluster:
    """One space-time cylinder: `cells` (nearest first, the centre first) × days
    `start_day`..`end_day` (column indices of the counts matrix, inclusive)."""

    centre: int
    cells: npt.NDArray[np.intp]
    radius: float
    start_day: int
    end_day: int
    observed: int
    expected: float
    llr: float
    p_value: float
    """Monte Carlo p: (1 + #replicas whose largest LLR >= this LLR) / (replicas + 1). For
    secondary clusters this is compared with the replicas' most likely clusters, as SaTScan
    does, which is conservative. NaN when no replicas were run."""
    p_value_gumbel: float
    """p from a Gumbel distribution fitted to the replica maxima (method of moments), which can
    go below 1/(replicas+1); NaN with fewer than 2 replicas."""
    recurrence_interval_days: float
    """Days between false alarms this strong if the analysis is repeated every
    `analysis_interval_days`: interval / p (1/p days for daily analysis; Kulldorff 2005)."""

    @property
    def days(self) -> int:
        """Length of the time window in days."""
        return self.end_day - self.start_day + 1

    @property
    def relative_risk(self) -> float:
        """Observed / expected."""
        return self.observed / self.expected if self.expected > 0 else math.inf


@dataclass(frozen=True)
class ScanResult:
    """Result of `space_time_permutation_scan`."""

    clusters: list[ScanCluster]
    """Most likely cluster first, then secondary clusters sharing no cell with any earlier
    one, by decreasing LLR. All are listed whatever their p-value: filter by `p_value` or
    `recurrence_interval_days`."""
    replica_max_llr: FloatArray
    """Largest LLR of each Monte Carlo replica."""
    total_cases: int
    n_days: int


_BLOCK = 512
"""Centres per block: a (K=50, 512, W=30) int16 count block is 1.5 MB, so a replica's
temporaries stay in the L2 cache, and each numpy call is big enough to release the GIL for
a useful while when replicas run in threads."""


@dataclass(frozen=True)
class _Cylinders:
    """All candidate cylinders, in blocks of centres. Block b covers centres
    b·_BLOCK … b·_BLOCK + m − 1; its arrays are laid out (K, m, ...) so that the cumulative
    sum over the neighbours adds contiguous slabs."""

    nn: list[npt.NDArray[np.intp]]
    """(K, m) neighbour indices (row k = the k-th nearest, row 0 the centre)."""
    mu: list[FloatArray]
    """(K, m, W) expected counts; +inf for cylinders that are not allowed, so that they can
    never show an excess."""


def space_time_permutation_scan(
    counts: npt.ArrayLike,
    neighbourhoods: Neighbourhoods,
    *,
    max_cells: int | None = 50,
    max_days: int = 30,
    max_radius: float | None = None,
    max_case_fraction: float = 0.5,
    replicas: int = 999,
    seed: int | None = None,
    max_clusters: int = 10,
    analysis_interval_days: float = 1.0,
    n_jobs: int | None = None,
) -> ScanResult:
    """Prospective space-time permutation scan statistic (Kulldorff, Heffernan, Hartman,
    Assunção & Mostashari 2005, PLoS Med 2(3): e59) on daily case counts per cell.

    `counts` is (cells × days) case counts, the last column being "today". Cylinders: a base
    made of a centre cell and its nearest cells (`neighbourhoods` from
    `maps.weights.nearest_cells`: sizes 1..`max_cells`, radius <= `max_radius` in the
    centroid units if given, and holding at most `max_case_fraction` of all cases; when the
    next cell is exactly as far as the last one included the base is skipped, as a circle
    cannot split them), and a window of the last 1..`max_days` days. Prospective: every
    window ends on the last day.

    For a cylinder A with c cases, the expected count under the null (no space-time
    interaction) is μ_A = Σ_{(z,d)∈A} (cases in z over all days)(cases on d over all cells)/C
    with C the total (`expected_counts`), and the log of the generalised likelihood ratio is
    c·ln(c/μ_A) + (C−c)·ln((C−c)/(C−μ_A)) when c > μ_A (only excesses count), else 0.

    Significance: `replicas` Monte Carlo data sets that permute the day labels among the cases
    (every cell keeps its total and every day its total), each scanned the same way; the
    p-value of a cluster is (1 + #replicas with a larger or equal maximum LLR)/(replicas+1),
    so 999 replicas cannot give p < 0.001, and the recurrence interval =
    `analysis_interval_days` / p (daily analysis: 1/p days, i.e. 1/(p × 365) years; at most
    1,000 days with 999 replicas — use `p_value_gumbel` beyond that).

    Speed: only the last `max_days` days of a replica matter, so a replica is one draw of
    which cases carry those days; counts of all cylinders come from cumulative sums over the
    sorted neighbours. A few pilot replicas set a floor L0 below their maxima; for every
    cylinder the smallest count reaching LLR L0 is precomputed, so later replicas evaluate
    the likelihood only where that count is reached (falling back to a full pass if nothing
    is) — exact, not an approximation. Replicas run in threads (`n_jobs`, default all cores)
    with one random stream each, so the result depends on `seed` only.
    """
    data = np.asarray(counts)
    if data.ndim != 2:
        raise ValueError("counts must be 2-D: cells × days")
    if data.size and (np.any(data < 0) or not np.all(np.equal(np.mod(data, 1), 0))):
        raise ValueError("counts must be non-negative integers")
    data = data.astype(np.int64)
    n, n_days = data.shape
    nb_idx = np.asarray(neighbourhoods.indices)
    nb_dist = np.asarray(neighbourhoods.distances, dtype=np.float64)
    if nb_idx.shape[0] != n or nb_dist.shape != nb_idx.shape:
        raise ValueError("neighbourhoods must have one row per cell")
    k_max = nb_idx.shape[1] if max_cells is None else min(max_cells, nb_idx.shape[1])
    if k_max < 1 or max_days < 1:
        raise ValueError("max_cells and max_days must be >= 1")
    if replicas < 0:
        raise ValueError("replicas must be >= 0")
    nn = nb_idx[:, :k_max].astype(np.intp)
    dist = nb_dist[:, :k_max]
    total = int(data.sum())
    if total == 0 or n_days == 0:
        return ScanResult([], np.zeros(0), total, n_days)
    n_win = min(max_days, n_days)

    cell_tot = data.sum(axis=1)
    recent_days = data.sum(axis=0)[::-1][:n_win]  # index w: w days before the last day
    window_tot = np.cumsum(recent_days)  # cases in the last w + 1 days
    base_tot = np.cumsum(cell_tot[nn], axis=1).astype(np.float64)  # cases of each base

    allowed = base_tot <= max_case_fraction * total
    if max_radius is not None:
        allowed &= dist <= max_radius
    # A circle that reaches the k-th nearest cell also takes in any cell exactly as far.
    allowed[:, :-1] &= dist[:, 1:] > dist[:, :-1] * (1 + 1e-12)
    blocks = _Cylinders(nn=[], mu=[])
    for b0 in range(0, n, _BLOCK):
        sl = slice(b0, b0 + _BLOCK)
        mu = base_tot[sl].T[:, :, None] * (window_tot / total)[None, None, :]
        ok = allowed[sl].T[:, :, None] & (mu > 0) & (mu < total)
        blocks.nn.append(np.ascontiguousarray(nn[sl].T))
        # C order matters: flat indices of hits address these blocks through ravel().
        blocks.mu.append(np.ascontiguousarray(np.where(ok, mu, np.inf)))

    recent = np.ascontiguousarray(data[:, ::-1][:, :n_win])
    observed = np.cumsum(recent, axis=1)
    best_llr, best_k, best_w, best_c = _scan_dense(observed, blocks, total)

    null_max = np.zeros(0)
    if replicas:
        null_max = _scan_replicas(
            cell_tot, recent_days, base_tot, blocks, total, replicas, seed, n_jobs
        )

    used = np.zeros(n, dtype=bool)
    clusters: list[ScanCluster] = []
    # Most likely cluster first, then each centre's best cylinder by decreasing LLR, skipping
    # any that shares a cell with one already reported (SaTScan's secondary clusters).
    for z in np.argsort(-best_llr, kind="stable"):
        if len(clusters) >= max_clusters or best_llr[z] <= 0:
            break
        k, w = int(best_k[z]), int(best_w[z])
        cells = nn[z, : k + 1].copy()
        if used[cells].any():
            continue
        used[cells] = True
        llr = float(best_llr[z])
        p = recurrence = math.nan
        if replicas:
            p = (1.0 + np.count_nonzero(null_max >= llr)) / (replicas + 1.0)
            recurrence = analysis_interval_days / p
        clusters.append(
            ScanCluster(
                centre=int(z),
                cells=cells,
                radius=float(dist[z, k]),
                start_day=n_days - 1 - w,
                end_day=n_days - 1,
                observed=int(best_c[z]),
                expected=float(base_tot[z, k] * window_tot[w] / total),
                llr=llr,
                p_value=float(p),
                p_value_gumbel=_gumbel_p(llr, null_max),
                recurrence_interval_days=float(recurrence),
            )
        )
    return ScanResult(clusters, null_max, total, n_days)


def _cumsum_k(c: CountArray) -> None:
    """In-place cumulative sum over axis 0 of a (K, m, W) block: a loop of contiguous slab
    additions, several times faster than np.cumsum along that axis (which also widens int16
    and int32 to int64)."""
    for k in range(1, c.shape[0]):
        np.add(c[k], c[k - 1], out=c[k])


def _llr(c: FloatArray, mu: FloatArray, total: int) -> FloatArray:
    """Log likelihood ratio of cylinders with count c and expectation mu, 0 unless c > mu."""
    out = np.zeros(np.shape(c), dtype=np.float64)
    ex = c > mu
    if not np.any(ex):
        return out
    ce, me = c[ex], mu[ex]
    rest = total - ce
    # log1p keeps the second term accurate when the cylinder holds a tiny share of cases.
    with np.errstate(divide="ignore", invalid="ignore"):
        second = np.where(rest > 0, rest * np.log1p((me - ce) / (total - me)), 0.0)
    out[ex] = ce * np.log(ce / me) + second
    return out


def _scan_dense(
    cum: CountArray, blocks: _Cylinders, total: int
) -> tuple[FloatArray, IntArray, IntArray, IntArray]:
    """Evaluate every cylinder, from per-cell counts of the last 1..W days `cum` (n, W).
    Returns per centre the best LLR, and its neighbour index k, window index w and count."""
    n = cum.shape[0]
    best = np.zeros(n)
    best_k = np.zeros(n, dtype=np.int64)
    best_w = np.zeros(n, dtype=np.int64)
    best_c = np.zeros(n, dtype=np.int64)
    b0 = 0
    for nn_b, mu_b in zip(blocks.nn, blocks.mu, strict=True):
        k_max, m, n_win = mu_b.shape
        c = cum.take(nn_b, axis=0).astype(np.int64)  # (K, m, W)
        _cumsum_k(c)
        llr = _llr(c.astype(np.float64), mu_b, total)
        per_centre = llr.transpose(1, 0, 2).reshape(m, k_max * n_win)
        arg = per_centre.argmax(axis=1)
        kk, ww = np.divmod(arg, n_win)
        rows = np.arange(m)
        best[b0 : b0 + m] = per_centre[rows, arg]
        best_k[b0 : b0 + m] = kk
        best_w[b0 : b0 + m] = ww
        best_c[b0 : b0 + m] = c[kk, rows, ww]
        b0 += m
    return best, best_k, best_w, best_c


def _count_thresholds(
    base_tot: FloatArray, window_tot: IntArray, total: int, floor_llr: float, max_count: int
) -> tuple[IntArray, IntArray]:
    """A count below which a cylinder's LLR stays under `floor_llr` (possibly a little lower
    than the exact one, never higher), as a table (U, W) over the distinct case totals of
    the bases and the windows, plus the (n, K) index of each base into that table.

    For a fixed count c the LLR falls as μ grows, so the smallest count reaching the floor is
    a non-decreasing step function of μ: tabulate, for every c, the largest μ that still
    reaches the floor (bisection over all c at once), then look each μ up."""
    uniq, inverse = np.unique(base_tot, return_inverse=True)
    mu_u = uniq[:, None] * (window_tot[None, :] / total)
    if floor_llr <= 0:
        thr_u = np.floor(mu_u) + 1
    else:
        cs = np.arange(max_count + 1, dtype=np.float64)
        lo = np.zeros_like(cs)  # LLR(c; μ→0) is huge: reaches the floor (for c > 0)
        hi = cs.copy()  # LLR(c; c) = 0: does not
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            reach = _llr(cs, mid, total) >= floor_llr
            lo = np.where(reach, mid, lo)
            hi = np.where(reach, hi, mid)
        mu_max = lo
        mu_max[0] = -np.inf
        mu_max = np.maximum.accumulate(mu_max)  # guard monotonicity against rounding
        # -1: a threshold one too low only costs an extra exact evaluation; one too high
        # could miss a cylinder, so stay on the safe side of rounding in the table.
        thr_u = np.searchsorted(mu_max, mu_u, side="left") - 1.0
    thr_u = np.clip(thr_u, 1, max_count + 1).astype(np.int64)
    return thr_u, inverse.reshape(base_tot.shape)


def _scan_replicas(
    cell_tot: IntArray,
    recent_days: IntArray,
    base_tot: FloatArray,
    blocks: _Cylinders,
    total: int,
    replicas: int,
    seed: int | None,
    n_jobs: int | None,
) -> FloatArray:
    """Largest LLR of each Monte Carlo replica (see `space_time_permutation_scan`)."""
    n = cell_tot.size
    n_win = recent_days.size
    window_tot = np.cumsum(recent_days)
    recent_total = int(window_tot[-1])
    case_cell = np.repeat(np.arange(n, dtype=np.int64), cell_tot)
    # Position in the shuffled sample -> day index counted back from the last day.
    slot_day = np.repeat(np.arange(n_win, dtype=np.int64), recent_days)
    streams = np.random.SeedSequence(seed).spawn(replicas)
    # Counts never exceed the cases of the last W days, so int16 holds them up to 32,766:
    # half the memory traffic of int32 in the inner loop.
    count_type = np.int16 if recent_total < np.iinfo(np.int16).max else np.int32

    def draw(r: int) -> CountArray:
        rng = np.random.default_rng(streams[r])
        # Permuting all day labels and keeping those of the last W days is the same as
        # drawing an ordered sample of distinct cases for those days' slots.
        picked = rng.choice(total, size=recent_total, replace=False)
        flat = np.bincount(case_cell[picked] * n_win + slot_day, minlength=n * n_win)
        return np.cumsum(flat.reshape(n, n_win), axis=1).astype(count_type)

    def dense_max(r: int) -> float:
        return float(_scan_dense(draw(r), blocks, total)[0].max())

    pilots = min(replicas, 4)
    maxima = np.zeros(replicas)
    maxima[:pilots] = _run_tasks([partial(dense_max, r) for r in range(pilots)], n_jobs)
    if pilots == replicas:
        return maxima
    floor_llr = 0.8 * float(maxima[:pilots].min())
    thr_u, inverse = _count_thresholds(base_tot, window_tot, total, floor_llr, recent_total)
    never = min(recent_total + 1, int(np.iinfo(count_type).max))
    thr_u = np.minimum(thr_u, never).astype(count_type)
    thr_blocks: list[CountArray] = []
    b0 = 0
    for mu_b in blocks.mu:
        m = mu_b.shape[1]
        thr_b = thr_u[inverse[b0 : b0 + m].T]  # (K, m, W)
        thr_b[~np.isfinite(mu_b)] = never
        thr_blocks.append(thr_b)
        b0 += m

    def sparse_max(r: int) -> float:
        cum = draw(r)
        best = -1.0
        for nn_b, mu_b, thr_b in zip(blocks.nn, blocks.mu, thr_blocks, strict=True):
            c: CountArray = cum.take(nn_b, axis=0)
            _cumsum_k(c)
            hits = np.greater_equal(c, thr_b)
            if hits.any():
                idx = np.flatnonzero(hits)
                llr = _llr(c.ravel()[idx].astype(np.float64), mu_b.ravel()[idx], total)
                best = max(best, float(llr.max()))
        if best < floor_llr:  # nothing reached the floor: this replica's max is below it
            best = float(_scan_dense(cum, blocks, total)[0].max())
        return best

    def run(chunk: list[int]) -> list[tuple[int, float]]:
        return [(r, sparse_max(r)) for r in chunk]

    workers = _n_workers(n_jobs)
    chunks = [list(range(pilots + i, replicas, workers)) for i in range(workers)]
    for part in _run_tasks([partial(run, ch) for ch in chunks if ch], n_jobs):
        for r, value in part:
            maxima[r] = value
    return maxima


def _gumbel_p(llr: float, null_max: FloatArray) -> float:
    """Upper tail of a Gumbel distribution fitted to the replica maxima by moments."""
    if null_max.size < 2:
        return math.nan
    sd = float(null_max.std(ddof=1))
    if sd == 0:
        return math.nan
    beta = sd * math.sqrt(6.0) / math.pi
    loc = float(null_max.mean()) - 0.5772156649015329 * beta  # Euler–Mascheroni constant
    return float(-np.expm1(-np.exp(-(llr - loc) / beta)))
