"""Classes for choropleth maps: natural breaks (Fisher–Jenks) and quantiles, on plain numbers.

A choropleth is read through its legend, so classes must be few and honest:

- class 0 is "none" (a count or rate of exactly 0) and is never merged with small positive
  values: a township with no reports must not look like one with two;
- ``None`` stays ``None`` ("no data", e.g. a rate where the population is unknown or zero),
  and is not a class at all;
- positive values get at most five classes; when they take five or fewer distinct values,
  each distinct value is its own class (no invented ranges like "1–1");
- every break is a value that occurs in the data (the upper bound of its class), so the
  legend never names a number nobody has.

Fisher–Jenks is the exact optimum of the within-class sum of squared deviations (Fisher 1958,
"On grouping for maximum homogeneity"). It runs on the distinct values with their
multiplicities (counts tie a lot), and over at most :data:`MAX_EXACT_VALUES` of them; above
that, consecutive distinct values are first pooled into equal-sized groups, which keeps the
optimum exact among partitions that do not split a group (a bounded, documented
approximation rather than the O(n²) memory of the exact run on 4,586 distinct rates).

Pure module: numpy only, no database and no Flask.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "MAX_CLASSES",
    "MAX_EXACT_VALUES",
    "METHODS",
    "Classification",
    "classify",
    "jenks_breaks",
    "quantile_breaks",
]

Method = Literal["jenks", "quantile"]
METHODS: Final[tuple[str, ...]] = ("jenks", "quantile")
#: More classes than this cannot be told apart on a map (ColorBrewer's advice for sequential
#: schemes read by the general public).
MAX_CLASSES: Final = 5
#: Largest number of distinct values Fisher–Jenks runs on exactly; its dynamic programme holds
#: an n × n matrix of float64, 2 MB at this size (a few such temporaries per class).
MAX_EXACT_VALUES: Final = 512

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Classification:
    """Breaks of the positive values and the rule that turns a value into a class.

    ``breaks[i]`` is the largest value of class ``i + 1`` (ascending, distinct); class 1 starts
    at ``minimum``, the smallest positive value. No positive value: no breaks.
    """

    method: str
    breaks: tuple[float, ...]
    lowers: tuple[float, ...]
    """The smallest value of each class (same length as ``breaks``)."""

    @property
    def minimum(self) -> float | None:
        """The smallest positive value, where class 1 starts (None without positive values)."""
        return self.lowers[0] if self.lowers else None

    @property
    def k(self) -> int:
        """The number of positive classes (0 to :data:`MAX_CLASSES`)."""
        return len(self.breaks)

    def class_of(self, value: float | None) -> int | None:
        """0 for zero (or less), 1…k for positive values, None for missing or not finite."""
        if value is None or not math.isfinite(value):
            return None
        if value <= 0:
            return 0
        for i, upper in enumerate(self.breaks):
            if value <= upper:
                return i + 1
        # Above the top break only if the value was not among those classified; it belongs
        # with the highest values rather than nowhere.
        return self.k if self.k else None

    def ranges(self) -> list[tuple[float, float]]:
        """(lowest, highest) value of each positive class, for the legend: a class starts at
        the smallest value above the previous break that occurs in the data."""
        return list(zip(self.lowers, self.breaks, strict=True))

    def as_dict(self) -> dict[str, Any]:
        """JSON for the API: method, breaks, and each class's range."""
        return {
            "method": self.method,
            "k": self.k,
            "breaks": list(self.breaks),
            "ranges": [list(r) for r in self.ranges()],
        }


def _clean(values: Iterable[float | int | None]) -> FloatArray:
    """The positive, finite values, sorted."""
    array = np.array(
        [float(v) for v in values if v is not None and math.isfinite(v) and v > 0],
        dtype=np.float64,
    )
    array.sort()
    return array


def classify(
    values: Iterable[float | int | None], k: int = MAX_CLASSES, method: str = "jenks"
) -> Classification:
    """Classes for ``values`` (counts or rates): see the module docstring for the rules.

    ``k`` is the most positive classes wanted (1 to :data:`MAX_CLASSES`); fewer come back when
    the data has fewer distinct positive values, or when quantiles coincide.
    """
    if method not in METHODS:
        raise ValueError(f"unknown classification method {method!r}; use one of {METHODS}")
    if not 1 <= k <= MAX_CLASSES:
        raise ValueError(f"k must be between 1 and {MAX_CLASSES}, not {k}")
    positive = _clean(values)
    if positive.size == 0:
        return Classification(method, (), ())
    distinct = np.unique(positive)
    if distinct.size <= k:
        breaks = [float(v) for v in distinct]
        used = "distinct"
    elif method == "jenks":
        breaks = jenks_breaks(positive, k)
        used = "jenks"
    else:
        breaks = quantile_breaks(positive, k)
        used = "quantile"
    lowers = [float(positive[0])]
    for upper in breaks[:-1]:
        lowers.append(float(distinct[np.searchsorted(distinct, upper, side="right")]))
    return Classification(used, tuple(breaks), tuple(lowers))


def quantile_breaks(values: Iterable[float | int | None], k: int) -> list[float]:
    """Upper bounds of ``k`` classes holding about the same number of positive values.

    Each bound is a data value (the "inverted CDF" quantile), so ties can make two bounds
    equal; they are merged, giving fewer classes rather than an empty one.
    """
    positive = _clean(values)
    if positive.size == 0:
        return []
    probabilities = np.arange(1, k + 1) / k
    bounds = np.quantile(positive, probabilities, method="inverted_cdf")
    return [float(b) for b in np.unique(bounds)]


def jenks_breaks(values: Iterable[float | int | None], k: int) -> list[float]:
    """Upper bounds of the ``k`` classes of positive values that minimise the total
    within-class sum of squared deviations (Fisher–Jenks natural breaks)."""
    positive = _clean(values)
    if positive.size == 0:
        return []
    distinct, weights = np.unique(positive, return_counts=True)
    if distinct.size <= k:
        return [float(v) for v in distinct]
    means, weights_f, tops = _pool(distinct, weights.astype(np.float64), MAX_EXACT_VALUES)
    ends = _fisher(means, weights_f, k)
    return [float(tops[e - 1]) for e in ends]


def _pool(
    distinct: FloatArray, weights: FloatArray, limit: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """At most ``limit`` groups of consecutive distinct values: each group's weighted mean,
    total weight and largest value. A group is never split by the optimisation, and its own
    spread adds the same amount to every candidate partition, so pooling only narrows the
    choice of break positions."""
    if distinct.size <= limit:
        return distinct, weights, distinct
    edges = np.linspace(0, distinct.size, limit + 1).round().astype(np.int64)
    starts = edges[:-1]
    total = np.add.reduceat(weights, starts)
    mean = np.add.reduceat(weights * distinct, starts) / total
    top = distinct[edges[1:] - 1]
    return mean, total, top


def _fisher(x: FloatArray, w: FloatArray, k: int) -> list[int]:
    """Fisher's dynamic programme on sorted, weighted values: the end index (exclusive) of each
    of the ``k`` optimal classes. Needs ``len(x) > k``."""
    n = x.size
    cw = np.concatenate(([0.0], np.cumsum(w)))
    cs = np.concatenate(([0.0], np.cumsum(w * x)))
    cq = np.concatenate(([0.0], np.cumsum(w * x * x)))
    # ssd[i, j]: squared deviations of items i..j-1 about their weighted mean (i < j).
    i = np.arange(n + 1)[:, None]
    j = np.arange(n + 1)[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        wsum = cw[j] - cw[i]
        ssum = cs[j] - cs[i]
        ssd = (cq[j] - cq[i]) - ssum * ssum / wsum
    ssd = np.where(j > i, np.maximum(ssd, 0.0), np.inf)

    cost = ssd[0].copy()  # one class over the first j items
    back: list[npt.NDArray[np.int64]] = []
    for _c in range(1, k):
        # best split i for each end j: the first classes cover 0..i-1, the last covers i..j-1
        total = cost[:, None] + ssd
        choice = np.argmin(total, axis=0)
        cost = total[choice, np.arange(n + 1)]
        back.append(choice)
    ends = [n]
    for choice in reversed(back):
        ends.append(int(choice[ends[-1]]))
    ends.reverse()
    return ends
