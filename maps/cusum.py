"""Per-township Poisson CUSUM on each township's own daily baseline (issue 13: "try a
per-township CUSUM"). Pure functions on arrays; the evaluation is in benchmarks/eval_sweep.py
and the figures in docs/early-warning.md.

The expectation of township j on day t is its share of the *other* townships' reports that
day: lambda_jt = r_j · (C_t − x_jt), with r_j = (j's reports) / (the others' reports) over
the history. So weekdays, holidays and city-wide campaigns raise every township's
expectation alike (as the EBP scan's daily scaling does), and an outbreak inside j does not
raise its own expectation.

The statistic is Lucas's Poisson CUSUM for a shift to `rho` × the expectation, in its
log-likelihood-ratio form (valid with a baseline that changes from day to day):

    S_t = max(0, S_{t−1} + x_t · ln(rho) − (rho − 1) · lambda_t),  S before the window = 0,

restarted at the start of a fixed window every morning, so each run is reproducible from the
counts alone (the app keeps no state between runs). A township alarms when S on the last day
reaches the threshold h, which is calibrated by simulation on outbreak-free counts
(`calibrate_threshold`) for a given number of false alerts a month city-wide.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

DEFAULT_RHO = 1.5
"""The shift the CUSUM is tuned to: half as many reports again as the township's normal."""
DEFAULT_WINDOW_DAYS = 14
DEDUPE_DAYS = 14


def township_totals(counts: npt.ArrayLike, township_of_cell: npt.ArrayLike) -> FloatArray:
    """Cells × days counts summed per township: townships × days (townships 0 … max)."""
    c = np.asarray(counts, dtype=np.float64)
    t = np.asarray(township_of_cell, dtype=np.intp).ravel()
    out = np.zeros((int(t.max()) + 1 if t.size else 0, c.shape[1]))
    np.add.at(out, t, c)
    return out


def share_baseline(history: npt.ArrayLike, recent: npt.ArrayLike) -> FloatArray:
    """Expected counts (townships × recent days): each township's share of the other
    townships' reports in `history` (townships × days) times the others' reports on each
    recent day. A township with no report in the history gets half a report's share, so a
    first report is surprising but not infinitely so."""
    h = np.asarray(history, dtype=np.float64)
    x = np.asarray(recent, dtype=np.float64)
    own = h.sum(axis=1)
    others = h.sum() - own
    share = np.maximum(own, 0.5) / np.maximum(others, 1.0)
    return np.asarray(share[:, None] * (x.sum(axis=0)[None, :] - x), dtype=np.float64)


def poisson_cusum(
    observed: npt.ArrayLike, expected: npt.ArrayLike, rho: float = DEFAULT_RHO
) -> FloatArray:
    """The CUSUM path (same shape as `observed`, rows × days), S = 0 before the first day."""
    x = np.asarray(observed, dtype=np.float64)
    lam = np.asarray(expected, dtype=np.float64)
    if x.shape != lam.shape:
        raise ValueError("observed and expected must have the same shape")
    if not rho > 1.0:
        raise ValueError("rho must be > 1")
    step = x * np.log(rho) - (rho - 1.0) * lam
    path = np.zeros_like(step)
    s = np.zeros(step.shape[:-1])
    for t in range(step.shape[-1]):
        s = np.maximum(0.0, s + step[..., t])
        path[..., t] = s
    return path


def cusum_today(
    township_counts: npt.ArrayLike,
    *,
    history_days: int = 90,
    window_days: int = DEFAULT_WINDOW_DAYS,
    rho: float = DEFAULT_RHO,
) -> FloatArray:
    """The statistic of each township on the last day of `township_counts` (townships ×
    days, oldest first, at least `history_days` days): the CUSUM over the last `window_days`
    days against the share baseline of the `history_days − window_days` days before."""
    c = np.asarray(township_counts, dtype=np.float64)
    if c.shape[1] < history_days or window_days >= history_days:
        raise ValueError("need history_days days of counts and a shorter window")
    recent = c[:, -window_days:]
    history = c[:, -history_days:-window_days]
    return poisson_cusum(recent, share_baseline(history, recent), rho)[:, -1]


def count_alerts(alarming: list[npt.NDArray[np.intp]], dedupe_days: int = DEDUPE_DAYS) -> int:
    """New alerts over consecutive daily runs (each a list of alarming townships): a
    township alarming again within `dedupe_days` of its last alarm is the same alert, as
    the app deduplicates alerts sharing a cell."""
    last: dict[int, int] = {}
    alerts = 0
    for day, towns in enumerate(alarming):
        for j in (int(v) for v in towns):
            if j not in last or day - last[j] > dedupe_days:
                alerts += 1
            last[j] = day
    return alerts


def calibrate_threshold(
    simulate: Callable[[np.random.Generator, int], npt.NDArray[np.integer]],
    *,
    alerts_per_month: float,
    days: int,
    seed: int = 0,
    history_days: int = 90,
    window_days: int = DEFAULT_WINDOW_DAYS,
    rho: float = DEFAULT_RHO,
    dedupe_days: int = DEDUPE_DAYS,
) -> tuple[float, float]:
    """The smallest threshold h whose deduplicated false alerts on `days` consecutive
    outbreak-free runs (township counts from `simulate(rng, n_days)`) are at most
    `alerts_per_month` a month; returns (h, the alerts a month measured at h).

    Every run re-estimates its baseline from its own history, so the baseline's estimation
    error is in the null, as it is in the app."""
    rng = np.random.default_rng(seed)
    counts = np.asarray(simulate(rng, history_days + days), dtype=np.float64)
    stats = np.stack(
        [
            cusum_today(
                counts[:, t : t + history_days],
                history_days=history_days,
                window_days=window_days,
                rho=rho,
            )
            for t in range(1, days + 1)
        ]
    )  # days × townships
    allowed = alerts_per_month * days / 30.0
    candidates = np.unique(np.round(stats[stats > 0], 3))
    lo, hi = 0, candidates.size - 1
    # Alerts only fall as h rises: bisect on the candidate thresholds.
    while lo < hi:
        mid = (lo + hi) // 2
        n = count_alerts([np.flatnonzero(s >= candidates[mid]) for s in stats], dedupe_days)
        if n <= allowed:
            hi = mid
        else:
            lo = mid + 1
    h = float(candidates[lo]) if candidates.size else 1.0
    n = count_alerts([np.flatnonzero(s >= h) for s in stats], dedupe_days)
    return h, n / (days / 30.0)
