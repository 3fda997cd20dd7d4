"""Choropleth classes (maps.classify): pure numbers, no database."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from maps.classify import (
    MAX_CLASSES,
    MAX_EXACT_VALUES,
    classify,
    jenks_breaks,
    quantile_breaks,
)


def within_ssd(values: list[float], breaks: list[float]) -> float:
    """Total within-class squared deviation of the partition that ``breaks`` make."""
    total, lower = 0.0, -math.inf
    for upper in breaks:
        group = [v for v in values if lower < v <= upper]
        if group:
            mean = sum(group) / len(group)
            total += sum((v - mean) ** 2 for v in group)
        lower = upper
    return total


def brute_force_ssd(values: list[float], k: int) -> float:
    """The optimum over every way to cut the sorted distinct values into k classes."""
    distinct = sorted(set(values))
    best = math.inf
    for cuts in itertools.combinations(range(1, len(distinct)), k - 1):
        breaks = [distinct[c - 1] for c in cuts] + [distinct[-1]]
        best = min(best, within_ssd(values, breaks))
    return best


def test_zero_is_its_own_class_and_missing_is_no_class() -> None:
    c = classify([0, 0, 3, 7, None, 12, 40, 41, 90, 5])
    assert c.class_of(0) == 0
    assert c.class_of(None) is None
    assert c.class_of(float("nan")) is None
    assert all(1 <= (c.class_of(v) or 0) <= c.k for v in (3, 7, 12, 40, 41, 90, 5))
    assert c.minimum == 3
    assert c.breaks[-1] == 90


def test_few_distinct_values_each_get_a_class() -> None:
    c = classify([1, 1, 2, 2, 2, 9, 0, None])
    assert c.method == "distinct"
    assert c.breaks == (1.0, 2.0, 9.0)
    assert [c.class_of(v) for v in (1, 2, 9, 0)] == [1, 2, 3, 0]
    assert c.ranges() == [(1.0, 1.0), (2.0, 2.0), (9.0, 9.0)]


def test_nothing_positive_gives_no_classes() -> None:
    for values in ([], [0, 0], [None, None], [0, None]):
        c = classify(values)
        assert c.k == 0 and c.breaks == () and c.minimum is None
        assert c.class_of(0) == 0
        assert c.as_dict() == {"method": "jenks", "k": 0, "breaks": [], "ranges": []}


def test_natural_breaks_find_obvious_clusters() -> None:
    values = [1, 2, 3, 10, 11, 12, 50, 51, 52, 100, 101, 400]
    assert jenks_breaks(values, 3) == [12.0, 101.0, 400.0]
    assert jenks_breaks(values, 4) == [12.0, 52.0, 101.0, 400.0]
    c = classify(values, k=4)
    assert c.method == "jenks"
    assert c.ranges() == [(1.0, 12.0), (50.0, 52.0), (100.0, 101.0), (400.0, 400.0)]


@pytest.mark.parametrize("seed", range(12))
def test_natural_breaks_are_the_exact_optimum(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = [float(v) for v in rng.integers(1, 60, size=rng.integers(8, 16))]
    k = min(int(rng.integers(2, 5)), len(set(values)) - 1)
    breaks = jenks_breaks(values, k)
    assert len(breaks) == k and breaks == sorted(set(breaks))
    assert set(breaks) <= set(values)  # every break is a value that occurs
    assert within_ssd(values, breaks) == pytest.approx(brute_force_ssd(values, k), abs=1e-9)


def test_ties_weigh_as_many_values() -> None:
    # Many 1s pull a break below the lone 2: weights are multiplicities, not distinct values.
    values = [1.0] * 50 + [2.0, 8.0, 9.0, 30.0]
    assert within_ssd(values, jenks_breaks(values, 3)) == pytest.approx(brute_force_ssd(values, 3))


def test_quantile_classes_hold_equal_shares() -> None:
    values = list(range(1, 101))
    assert quantile_breaks(values, 4) == [25.0, 50.0, 75.0, 100.0]
    c = classify(values, k=4, method="quantile")
    shares = [sum(1 for v in values if c.class_of(v) == i) for i in range(1, 5)]
    assert shares == [25, 25, 25, 25]


def test_quantile_ties_merge_rather_than_leave_empty_classes() -> None:
    values = [1] * 80 + [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21]
    breaks = quantile_breaks(values, 5)
    assert breaks == sorted(set(breaks)) and breaks[0] == 1.0 and breaks[-1] == 21.0
    assert len(breaks) < 5


def test_many_distinct_rates_are_pooled_but_still_classed() -> None:
    rng = np.random.default_rng(3)
    rates = list(rng.lognormal(1.0, 1.0, size=4 * MAX_EXACT_VALUES))
    c = classify(rates)
    assert c.k == MAX_CLASSES
    assert c.breaks[-1] == max(rates)
    assert list(c.breaks) == sorted(c.breaks)
    classes = [c.class_of(r) for r in rates]
    assert set(classes) == set(range(1, MAX_CLASSES + 1))
    # monotonic: a larger rate never lands in a lower class
    order = np.argsort(rates)
    ordered = [c or 0 for c in (classes[i] for i in order)]
    assert all(b >= a for a, b in zip(ordered, ordered[1:], strict=False))


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="method"):
        classify([1, 2], method="equal")
    with pytest.raises(ValueError, match="k must be"):
        classify([1, 2], k=MAX_CLASSES + 1)
    with pytest.raises(ValueError, match="k must be"):
        classify([1, 2], k=0)


def test_as_dict_is_plain_json() -> None:
    c = classify([0, 1, 4, 4, 9, 20, 21, 22, 60])
    d = c.as_dict()
    assert d["method"] == "jenks" and d["k"] == len(d["breaks"]) == len(d["ranges"])
    assert all(isinstance(b, float) for b in d["breaks"])
    assert d["ranges"][0][0] == 1.0
