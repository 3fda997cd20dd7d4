"""Hotspot statistics (maps.weights, maps.hotspots): checked against esda/libpysal, hand
computations and brute force. No database."""

from __future__ import annotations

import itertools
import math
import warnings
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import shapely
from scipy import stats
from shapely.geometry import box

from maps import hotspots as hs
from maps.hotspots import (
    Pattern,
    classify_emerging,
    emerging_hotspots,
    expected_counts,
    fdr,
    fdr_threshold,
    getis_ord_gi_star,
    mann_kendall,
    space_time_permutation_scan,
)
from maps.weights import (
    Neighbourhoods,
    islands,
    nearest_cells,
    queen_weights,
    row_standardize,
    with_self,
)

libpysal = pytest.importorskip("libpysal")
esda = pytest.importorskip("esda")


def lattice_squares(rows: int, cols: int) -> list[shapely.Polygon]:
    """Unit squares in libpysal.lat2W's order (row-major)."""
    return [box(c, r, c + 1, r + 1) for r in range(rows) for c in range(cols)]


def voronoi_cells(n: int, seed: int) -> npt.NDArray[np.object_]:
    rng = np.random.default_rng(seed)
    frame = box(0, 0, 10, 10)
    pts = shapely.multipoints(rng.uniform(0, 10, (n, 2)))
    cells = shapely.voronoi_polygons(pts, extend_to=frame, ordered=True)
    return np.asarray(shapely.intersection(np.asarray(cells.geoms), frame))


def esda_gi_star(y: npt.NDArray[np.float64], w: Any, **kw: Any) -> Any:
    with warnings.catch_warnings():
        # esda warns that its default alternative will change; we compare with today's.
        warnings.simplefilter("ignore")
        return esda.G_Local(y, w, transform="B", star=True, **kw)


# ------------------------------------------------------------------------------- weights


def test_queen_weights_equal_lat2w_queen_on_squares() -> None:
    ours = queen_weights(lattice_squares(6, 5))
    theirs = libpysal.weights.lat2W(6, 5, rook=False).sparse
    assert ours.shape == (30, 30)
    assert (ours != theirs).nnz == 0
    assert ours.diagonal().sum() == 0
    assert set(np.unique(ours.data)) == {1.0}


def test_queen_weights_equal_libpysal_queen_on_irregular_cells() -> None:
    cells = voronoi_cells(300, seed=1)
    ours = queen_weights(cells)
    theirs = libpysal.weights.Queen.from_iterable(list(cells)).sparse
    assert (ours != theirs).nnz == 0
    assert (ours != ours.T).nnz == 0


def test_queen_counts_a_shared_vertex_and_tolerance_bridges_a_gap() -> None:
    corner = [box(0, 0, 1, 1), box(1, 1, 2, 2)]  # touch at (1, 1) only
    assert queen_weights(corner).toarray().tolist() == [[0, 1], [1, 0]]
    gap = [box(0, 0, 1, 1), box(1.001, 0, 2, 1)]
    assert queen_weights(gap).nnz == 0
    assert queen_weights(gap, tolerance=0.01).nnz == 2


def test_weight_helpers() -> None:
    w = queen_weights([box(0, 0, 1, 1), box(1, 0, 2, 1), box(2, 0, 3, 1), box(5, 5, 6, 6)])
    assert islands(w).tolist() == [3]
    star = with_self(w)
    assert star.diagonal().tolist() == [1, 1, 1, 1]
    assert (with_self(star, 1.0) != star).nnz == 0  # idempotent
    rs = row_standardize(star)
    assert np.allclose(np.asarray(rs.sum(axis=1)).ravel(), 1.0)
    assert rs[1, 0] == pytest.approx(1 / 3)


def test_nearest_cells_are_sorted_and_start_with_the_cell_itself() -> None:
    pts = np.random.default_rng(3).uniform(0, 1, (60, 2))
    nb = nearest_cells(pts, 8)
    brute = np.linalg.norm(pts[:, None, :] - pts[None, :, :], axis=2)
    assert np.array_equal(nb.indices[:, 0], np.arange(60))
    assert np.all(np.diff(nb.distances, axis=1) >= 0)
    assert np.allclose(np.sort(brute, axis=1)[:, :8], nb.distances)


# ------------------------------------------------------------------------------- Gi*


def test_gi_star_equals_esda_on_a_queen_lattice() -> None:
    w = libpysal.weights.lat2W(9, 9, rook=False)
    y = np.random.default_rng(7).gamma(2.0, 3.0, 81)
    ours = getis_ord_gi_star(y, w.sparse)
    theirs = esda_gi_star(y, w, permutations=0)
    assert np.allclose(ours.g, theirs.Gs, rtol=1e-12)
    assert np.allclose(ours.z, theirs.Zs, rtol=1e-10, atol=1e-12)
    # esda's p_norm is one-sided; ours is two-sided.
    assert np.allclose(ours.p_norm, 2 * theirs.p_norm, rtol=1e-10, atol=1e-15)


def test_gi_star_equals_esda_with_our_weights_on_irregular_cells() -> None:
    cells = voronoi_cells(250, seed=2)
    w = queen_weights(cells)
    y = np.random.default_rng(2).poisson(4.0, 250).astype(float)
    ours = getis_ord_gi_star(y, w)
    theirs = esda_gi_star(y, libpysal.weights.WSP(w).to_W(silence_warnings=True), permutations=0)
    assert np.allclose(ours.z, theirs.Zs, rtol=1e-10, atol=1e-12)
    assert np.allclose(ours.p_norm, 2 * theirs.p_norm, rtol=1e-10, atol=1e-15)


def test_gi_star_z_does_not_depend_on_the_scale_of_the_weights() -> None:
    w = libpysal.weights.lat2W(6, 6, rook=False).sparse
    y = np.random.default_rng(1).gamma(2.0, 1.0, 36)
    binary = getis_ord_gi_star(y, w)
    scaled = getis_ord_gi_star(y, 2.5 * w, self_weight=2.5)
    assert np.allclose(scaled.z, binary.z)
    assert np.allclose(scaled.g, 2.5 * binary.g)


def test_gi_star_permutation_p_values_agree_with_esda_on_a_planted_hot_spot() -> None:
    w = libpysal.weights.lat2W(10, 10, rook=False)
    rng = np.random.default_rng(0)
    y = rng.gamma(2.0, 2.0, 100)
    planted = [44, 45, 54, 55]
    y[planted] += 25.0
    perms = hs.MIN_PERMUTATIONS
    ours = getis_ord_gi_star(y, w.sparse, permutations=perms, seed=1)
    theirs = esda_gi_star(y, w, permutations=perms, seed=1, n_jobs=1)
    assert ours.p_sim is not None
    assert ours.p_sim.min() >= 1 / (perms + 1)
    assert ours.p_sim.max() <= 0.5 + 1 / (perms + 1)  # one-tailed in the observed direction
    for cell in planted:
        assert ours.p_sim[cell] < 0.01 and theirs.p_sim[cell] < 0.01
        assert ours.z[cell] > 3
    # Same definition, independent random draws: Monte Carlo error only (sd <= 0.005).
    assert np.max(np.abs(ours.p_sim - theirs.p_sim)) < 0.03
    assert np.corrcoef(ours.p_sim, theirs.p_sim)[0, 1] > 0.99
    hot = ours.significant(0.05)
    assert set(planted) <= set(np.flatnonzero(hot == 1))


def test_gi_star_permutations_are_reproducible_and_thread_independent() -> None:
    w = queen_weights(voronoi_cells(120, seed=5))
    y = np.random.default_rng(5).poisson(2.0, 120).astype(float)
    a = getis_ord_gi_star(y, w, permutations=9999, seed=42, n_jobs=1)
    b = getis_ord_gi_star(y, w, permutations=9999, seed=42, n_jobs=2)
    assert a.p_sim is not None and b.p_sim is not None
    assert np.array_equal(a.p_sim, b.p_sim)


def test_gi_star_ties_are_not_spurious_cold_spots_and_islands_get_p_one() -> None:
    # Mostly zero counts: a cell whose whole neighbourhood is 0 ties with most simulations.
    polys = [*lattice_squares(8, 8), box(20, 20, 21, 21)]
    w = queen_weights(polys)
    y = np.zeros(65)
    y[[5, 6, 13, 14, 40, 64]] = [3, 1, 2, 1, 4, 5]
    res = getis_ord_gi_star(y, w, permutations=9999, seed=3)
    assert res.p_sim is not None
    assert res.p_sim[56] > 0.2  # corner far from any report: not a cold spot
    assert res.p_sim[64] == 1.0  # the island
    with pytest.raises(ValueError, match="permutations"):
        getis_ord_gi_star(y, w, permutations=999)


def test_gi_star_constant_values_have_no_hot_spots() -> None:
    w = libpysal.weights.lat2W(4, 4, rook=False).sparse
    res = getis_ord_gi_star(np.full(16, 2.0), w, permutations=9999, seed=0)
    assert np.all(res.z == 0) and np.all(res.p_norm == 1)
    assert res.p_sim is not None and np.all(res.p_sim == 1)


# ------------------------------------------------------------------------------- FDR


def test_fdr_hand_computed() -> None:
    # m = 10, alpha = 0.05: cut-offs k * 0.005; only p(1) = .001 <= .005 and p(2) = .008 <= .01.
    p = np.array([0.205, 0.001, 0.039, 0.008, 0.041, 0.042, 0.060, 0.074, 0.212, 0.216])
    assert fdr_threshold(p) == 0.008
    assert np.flatnonzero(fdr(p)).tolist() == [1, 3]
    # Step-up: p(1) = .02 > .0125 and p(2) = .03 > .025 fail alone, but p(3) = .035 <= .0375
    # and p(4) = .04 <= .05 pass, so all four are discoveries.
    assert fdr([0.04, 0.02, 0.035, 0.03]).tolist() == [True] * 4
    assert fdr_threshold([0.5, 0.9]) is None
    assert fdr([0.5, 0.9]).tolist() == [False, False]
    assert fdr([np.nan, 0.01, 0.5], alpha=0.05).tolist() == [False, True, False]


def test_fdr_matches_scipy_adjusted_p_values() -> None:
    p = np.random.default_rng(9).beta(0.3, 4.0, 500)
    assert np.array_equal(fdr(p, 0.05), stats.false_discovery_control(p, method="bh") <= 0.05)


def test_fdr_cannot_flag_anything_at_the_999_permutation_floor() -> None:
    # 4,586 cells with null pseudo p-values of 999 permutations ({1..1000}/1000), of which 60
    # are real hot spots sitting at the floor 1/1000: Benjamini-Hochberg flags nothing, since
    # the k-th smallest p must be <= k * 0.05 / 4586, i.e. k >= 92 cells at 1/1000.
    p = np.random.default_rng(0).integers(1, 1001, 4586) / 1000
    p[:60] = 1 / 1000
    assert not fdr(p).any()
    at_floor = np.full(4586, 0.5)
    at_floor[:91] = 1 / 1000
    assert not fdr(at_floor).any()
    at_floor[:92] = 1 / 1000
    assert fdr(at_floor).sum() == 92


# ------------------------------------------------------------------------------- Mann–Kendall


def brute_s(x: npt.NDArray[np.float64]) -> int:
    return int(sum(np.sign(x[j] - x[i]) for i, j in itertools.combinations(range(len(x)), 2)))


def brute_var(x: npt.NDArray[np.float64]) -> float:
    n = len(x)
    ties = sum(t * (t - 1) * (2 * t + 5) for t in Counter(x.tolist()).values())
    return (n * (n - 1) * (2 * n + 5) - ties) / 18


def test_mann_kendall_constructed_series() -> None:
    up = mann_kendall(np.arange(10.0))
    assert int(up.s) == 45 and float(up.var_s) == 125.0
    assert float(up.z) == pytest.approx(44 / math.sqrt(125))
    assert float(up.p) == pytest.approx(2 * stats.norm.sf(44 / math.sqrt(125)))
    assert float(up.tau) == 1.0
    down = mann_kendall(np.arange(10.0)[::-1])
    assert int(down.s) == -45 and float(down.z) < -3.9
    flat = mann_kendall(np.full(8, 3.0))
    assert int(flat.s) == 0 and float(flat.z) == 0.0 and float(flat.p) == 1.0
    tied = np.array([1.0, 2, 2, 3, 3, 3, 4])
    res = mann_kendall(tied)
    assert int(res.s) == brute_s(tied) == 17
    assert float(res.var_s) == pytest.approx((798 - 18 - 66) / 18)


def test_mann_kendall_vectorised_matches_brute_force() -> None:
    series = np.random.default_rng(4).integers(0, 5, size=(40, 15)).astype(float)
    res = mann_kendall(series)
    assert res.s.shape == (40,)
    for row, s, var in zip(series, res.s, res.var_s, strict=True):
        assert s == brute_s(row)
        assert var == pytest.approx(brute_var(row))


# ------------------------------------------------------------------------------- emerging


def series(steps: int, hot: Sequence[int], cold: Sequence[int]) -> tuple[list[bool], list[bool]]:
    return [t in hot for t in range(steps)], [t in cold for t in range(steps)]


@pytest.mark.parametrize(
    ("hot", "cold", "trend_z", "trend_p", "expected"),
    [
        ([19], [], 1.0, 0.3, Pattern.NEW_HOT),
        ([16, 17, 18, 19], [], 2.5, 0.01, Pattern.CONSECUTIVE_HOT),
        (list(range(20)), [], 3.0, 0.001, Pattern.INTENSIFYING_HOT),
        (list(range(20)), [], 0.5, 0.6, Pattern.PERSISTENT_HOT),
        (list(range(2, 20)), [], 0.5, 0.6, Pattern.PERSISTENT_HOT),  # 18/20 = 90 %
        (list(range(20)), [], -3.0, 0.001, Pattern.DIMINISHING_HOT),
        ([3, 7, 8, 19], [], 0.0, 1.0, Pattern.SPORADIC_HOT),
        (list(range(3, 20)), [], 0.0, 1.0, Pattern.CONSECUTIVE_HOT),  # 17/20 < 90 %
        ([10, 19], [2], 0.0, 1.0, Pattern.OSCILLATING_HOT),
        ([19], [2], 0.0, 1.0, Pattern.NEW_HOT),  # new takes precedence over oscillating
        (list(range(19)), [], -2.0, 0.01, Pattern.HISTORICAL_HOT),
        ([], [19], -1.0, 0.3, Pattern.NEW_COLD),
        ([], [17, 18, 19], -1.0, 0.3, Pattern.CONSECUTIVE_COLD),
        ([], list(range(20)), -3.0, 0.001, Pattern.INTENSIFYING_COLD),
        ([], list(range(20)), 0.0, 1.0, Pattern.PERSISTENT_COLD),
        ([], list(range(20)), 3.0, 0.001, Pattern.DIMINISHING_COLD),
        ([], [1, 5, 19], 0.0, 1.0, Pattern.SPORADIC_COLD),
        ([4], [1, 19], 0.0, 1.0, Pattern.OSCILLATING_COLD),
        ([], list(range(19)), 0.0, 1.0, Pattern.HISTORICAL_COLD),
        (list(range(18)), [18, 19], 0.0, 1.0, Pattern.CONSECUTIVE_COLD),  # final step first
        ([], [], 0.0, 1.0, Pattern.NO_PATTERN),
        ([5, 6, 7], [], 3.0, 0.001, Pattern.NO_PATTERN),  # not hot at the end, < 90 %
    ],
)
def test_classify_emerging_each_class(
    hot: list[int], cold: list[int], trend_z: float, trend_p: float, expected: Pattern
) -> None:
    h, c = series(20, hot, cold)
    code = classify_emerging([h], [c], [trend_z], [trend_p])
    assert Pattern(int(code[0])) is expected


def test_pattern_labels() -> None:
    assert Pattern.NEW_HOT.label == "new hot spot"
    assert Pattern.OSCILLATING_COLD.label == "oscillating cold spot"
    assert Pattern.NO_PATTERN.label == "no pattern detected"


def planted_cube(add: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    cube = np.random.default_rng(5).poisson(2.0, (100, add.size)).astype(float)
    cube[[44, 45, 54, 55]] += add
    return cube


@pytest.mark.parametrize(
    ("add", "expected"),
    [
        (10 + 2 * np.arange(20.0), Pattern.INTENSIFYING_HOT),
        (np.full(20, 20.0), Pattern.PERSISTENT_HOT),
        (10 + 2 * np.arange(20.0)[::-1], Pattern.DIMINISHING_HOT),
        (np.r_[np.zeros(19), 20.0], Pattern.NEW_HOT),
        (np.r_[np.full(19, 20.0), 0.0], Pattern.HISTORICAL_HOT),
    ],
)
def test_emerging_hotspots_on_a_planted_cluster(
    add: npt.NDArray[np.float64], expected: Pattern
) -> None:
    w = libpysal.weights.lat2W(10, 10, rook=False).sparse
    res = emerging_hotspots(planted_cube(add), w, global_window="step", time_lag=0)
    assert [Pattern(int(c)) for c in res.codes[[44, 45, 54, 55]]] == [expected] * 4
    assert (res.codes != 0).sum() <= 12  # background stays mostly "no pattern"


def test_emerging_step_window_is_gi_star_per_step() -> None:
    w = libpysal.weights.lat2W(10, 10, rook=False).sparse
    cube = planted_cube(10 + 2 * np.arange(20.0))
    res = emerging_hotspots(cube, w, global_window="step", time_lag=0)
    for t in (0, 7, 19):
        assert np.allclose(res.z[:, t], getis_ord_gi_star(cube[:, t], w).z)
    assert np.allclose(res.trend.z, mann_kendall(res.z).z)


def test_emerging_cube_window_with_a_time_lag() -> None:
    w = libpysal.weights.lat2W(10, 10, rook=False).sparse
    cube = planted_cube(np.r_[np.zeros(19), 20.0])
    res = emerging_hotspots(cube, w)  # ArcGIS defaults: whole cube, one previous step
    # Space-time Gi* over the flattened cube with an explicit (n·T)² weights matrix.
    n, steps = cube.shape
    star = with_self(w).toarray()
    big = np.zeros((n * steps, n * steps))
    for t in range(steps):
        for s in (t - 1, t):
            if s >= 0:
                big[t * n : (t + 1) * n, s * n : (s + 1) * n] = star
    flat = cube.T.ravel()
    sum_w = big.sum(axis=1)
    mean, sd, total = flat.mean(), flat.std(), flat.size
    z = (big @ flat - mean * sum_w) / (sd * np.sqrt((total * sum_w - sum_w**2) / (total - 1)))
    assert np.allclose(res.z.T.ravel(), z)
    assert all(Pattern(int(c)) is Pattern.NEW_HOT for c in res.codes[[44, 45, 54, 55]])
    with pytest.raises(ValueError, match="time_lag=0"):
        emerging_hotspots(cube, w, global_window="step")


# ------------------------------------------------------------------------------- scan

SIDE = 20


def grid_neighbourhoods(k: int = 30) -> Neighbourhoods:
    xy = np.array([(c, r) for r in range(SIDE) for c in range(SIDE)], dtype=float)
    return nearest_cells(xy, k)


def test_expected_counts_keep_the_margins() -> None:
    counts = np.random.default_rng(1).poisson(0.7, (30, 40))
    mu = expected_counts(counts)
    assert mu.sum() == pytest.approx(counts.sum())
    assert np.allclose(mu.sum(axis=1), counts.sum(axis=1))
    assert np.allclose(mu.sum(axis=0), counts.sum(axis=0))


def planted_counts(seed: int = 11) -> tuple[npt.NDArray[np.int64], list[int]]:
    rng = np.random.default_rng(seed)
    counts = rng.poisson(0.3, (SIDE * SIDE, 60))
    centre = 8 * SIDE + 8
    planted = [centre, centre - 1, centre + 1, centre - SIDE, centre + SIDE]
    counts[planted, -3:] += rng.poisson(3.0, (5, 3))
    return counts, planted


def test_scan_finds_a_planted_cluster() -> None:
    counts, planted = planted_counts()
    res = space_time_permutation_scan(
        counts, grid_neighbourhoods(), max_cells=30, max_days=14, replicas=199, seed=2
    )
    top = res.clusters[0]
    assert sorted(top.cells.tolist()) == sorted(planted)
    assert (top.start_day, top.end_day, top.days) == (57, 59, 3)
    assert top.p_value == pytest.approx(1 / 200)  # nothing in 199 replicas came close
    assert top.recurrence_interval_days == pytest.approx(200.0)  # daily analysis: 1/p days
    assert top.p_value_gumbel < 1e-6
    # Observed and expected are those of the cylinder, from the counts and expected_counts.
    assert top.observed == counts[top.cells, 57:].sum()
    assert top.expected == pytest.approx(expected_counts(counts)[top.cells, 57:].sum())
    assert top.relative_risk > 4
    # Secondary clusters share no cell with earlier ones and are not significant here.
    seen: set[int] = set()
    for cluster in res.clusters:
        assert seen.isdisjoint(cluster.cells.tolist())
        seen.update(cluster.cells.tolist())
    assert all(c.p_value > 0.05 for c in res.clusters[1:])
    assert res.total_cases == counts.sum() and res.replica_max_llr.shape == (199,)


def test_scan_does_not_flag_a_flat_poisson_field() -> None:
    counts = np.random.default_rng(100).poisson(0.3, (SIDE * SIDE, 60))
    res = space_time_permutation_scan(
        counts, grid_neighbourhoods(), max_cells=30, max_days=14, replicas=199, seed=2
    )
    assert res.clusters and all(c.p_value > 0.05 for c in res.clusters)


def test_scan_llr_matches_a_naive_loop_over_cylinders() -> None:
    rng = np.random.default_rng(8)
    xy = rng.uniform(0, 5, (25, 2))
    counts = rng.poisson(0.8, (25, 12))
    counts[[3, 4], -2:] += 3
    nb = nearest_cells(xy, 6)
    res = space_time_permutation_scan(counts, nb, max_days=5, replicas=0, max_clusters=1)
    mu_all = expected_counts(counts)
    total = counts.sum()
    best = 0.0
    for z, k, w in itertools.product(range(25), range(6), range(5)):
        cells = nb.indices[z, : k + 1]
        if counts[cells].sum() > 0.5 * total:
            continue
        c = counts[cells, 12 - 1 - w :].sum()
        mu = mu_all[cells, 12 - 1 - w :].sum()
        if c > mu:
            llr = c * math.log(c / mu) + (total - c) * math.log((total - c) / (total - mu))
            best = max(best, llr)
    assert res.clusters[0].llr == pytest.approx(best, rel=1e-10)
    assert math.isnan(res.clusters[0].p_value)


def test_scan_replica_pruning_is_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    counts, _ = planted_counts(seed=3)
    nb = grid_neighbourhoods()

    def scan() -> hs.ScanResult:
        return space_time_permutation_scan(
            counts, nb, max_cells=30, max_days=14, replicas=40, seed=9
        )

    pruned = scan()
    original = hs._count_thresholds

    def every_excess(
        base_tot: Any, window_tot: Any, total: int, floor_llr: float, max_count: int
    ) -> Any:
        # Floor 0: every cylinder with an excess is evaluated, i.e. no pruning at all.
        return original(base_tot, window_tot, total, 0.0, max_count)

    monkeypatch.setattr(hs, "_count_thresholds", every_excess)
    assert np.array_equal(pruned.replica_max_llr, scan().replica_max_llr)


def test_scan_is_reproducible_and_thread_independent() -> None:
    counts, _ = planted_counts(seed=4)
    nb = grid_neighbourhoods()
    a = space_time_permutation_scan(counts, nb, max_days=7, replicas=30, seed=5, n_jobs=1)
    b = space_time_permutation_scan(counts, nb, max_days=7, replicas=30, seed=5, n_jobs=2)
    assert np.array_equal(a.replica_max_llr, b.replica_max_llr)
    assert [c.llr for c in a.clusters] == [c.llr for c in b.clusters]


def test_scan_rejects_bad_counts_and_handles_no_cases() -> None:
    nb = grid_neighbourhoods(5)
    with pytest.raises(ValueError):
        space_time_permutation_scan(-np.ones((SIDE * SIDE, 3)), nb)
    empty = space_time_permutation_scan(np.zeros((SIDE * SIDE, 3), dtype=int), nb)
    assert empty.clusters == [] and empty.total_cases == 0
