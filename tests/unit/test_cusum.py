"""The per-township Poisson CUSUM of the sweep (maps/cusum.py): the recursion, the baseline
from the other townships' reports, a planted rise found, the deduplication and the threshold
calibrated on outbreak-free counts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from maps.cusum import (
    calibrate_threshold,
    count_alerts,
    cusum_today,
    poisson_cusum,
    share_baseline,
    township_totals,
)


def test_the_recursion_by_hand() -> None:
    x = np.array([[0.0, 5.0, 4.0, 0.0]])
    lam = np.array([[2.0, 2.0, 2.0, 2.0]])
    rho = 2.0
    s, expected = 0.0, []
    for xt, lt in zip(x[0], lam[0], strict=True):
        s = max(0.0, s + xt * math.log(rho) - (rho - 1.0) * lt)
        expected.append(s)
    assert poisson_cusum(x, lam, rho)[0].tolist() == pytest.approx(expected)
    assert expected[0] == 0.0 and expected[2] > expected[1] > 0.0  # it accumulates
    with pytest.raises(ValueError):
        poisson_cusum(x, lam[:, :3])
    with pytest.raises(ValueError):
        poisson_cusum(x, lam, rho=1.0)


def test_the_baseline_is_the_share_of_the_other_townships() -> None:
    history = np.array([[10.0] * 10, [30.0] * 10])  # township 0: 1/3 of the others' reports
    recent = np.array([[50.0, 10.0], [60.0, 90.0]])
    expected = share_baseline(history, recent)
    # Township 0's own outbreak (50) does not raise its expectation: 1/3 of township 1's 60.
    assert expected[0].tolist() == pytest.approx([20.0, 30.0])
    assert expected[1].tolist() == pytest.approx([150.0, 30.0])
    # A township without a report in the history still expects a little, never zero.
    quiet = share_baseline(np.array([[0.0] * 5, [20.0] * 5]), np.array([[0.0], [20.0]]))
    assert quiet[0, 0] > 0.0


def test_township_totals_and_a_planted_rise_found_where_it_is() -> None:
    rng = np.random.default_rng(3)
    township_of_cell = np.repeat(np.arange(8), 10)  # 8 townships of 10 cells
    counts = rng.poisson(0.8, size=(80, 100))
    counts[20:25, -5:] += rng.poisson(1.6, size=(5, 5))  # township 2: +8 a day for 5 days
    towns = township_totals(counts, township_of_cell)
    assert towns.shape == (8, 100) and towns.sum() == counts.sum()
    stat = cusum_today(towns, history_days=90, window_days=14, rho=1.5)
    assert int(np.argmax(stat)) == 2 and stat[2] > 2 * np.delete(stat, 2).max()
    with pytest.raises(ValueError):
        cusum_today(towns[:, :50], history_days=90)


def test_alerts_are_deduplicated_per_township_within_14_days() -> None:
    days = [np.array([1]), np.array([1, 2]), np.array([], dtype=np.intp)]
    days += [np.array([], dtype=np.intp)] * 14 + [np.array([1])]
    # Township 1 alarms on day 0 (new), 1 (same), then day 17 (16 days later: new); 2 once.
    assert count_alerts(days) == 3
    assert count_alerts(days, dedupe_days=30) == 2


def test_the_calibrated_threshold_keeps_its_share_of_the_budget() -> None:
    rates = np.array([5.0, 8.0, 12.0, 3.0, 7.0, 9.0])

    def null(rng: np.random.Generator, days: int) -> np.ndarray:
        return rng.poisson(rates[:, None], size=(rates.size, days))

    h, fitted = calibrate_threshold(null, alerts_per_month=0.5, days=600, seed=1)
    assert 0.0 < fitted <= 0.5 and h > 0.0
    strict, fitted_strict = calibrate_threshold(null, alerts_per_month=0.1, days=600, seed=1)
    assert strict > h and fitted_strict <= 0.1
    # On fresh outbreak-free counts the rate stays near the target (not 10× over it).
    fresh = null(np.random.default_rng(99), 90 + 600).astype(float)
    alarms = [np.flatnonzero(cusum_today(fresh[:, t : t + 90]) >= h) for t in range(1, 601)]
    assert count_alerts(alarms) / 20.0 <= 1.5
