"""Early warning on a small square grid, no database: a planted strong cluster is detected
within a few days, a flat field raises nothing, adjacent hot cells are one alert, and the
one-alert-per-hotspot rules (dedupe, merge, expiry)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
from shapely.geometry import box

from maps.early_warning import (
    ActiveAlert,
    Detection,
    background_rates,
    emerging_detections,
    gi_detections,
    hot_components,
    inject_cluster,
    match_detections,
    merge_detections,
    scan_detections,
    simulate_counts,
    stale_alerts,
)
from maps.weights import nearest_cells, queen_weights

SIDE = 12  # 144 cells
DAYS = 90


def grid() -> tuple[np.ndarray, object]:
    cells = [box(i, j, i + 1, j + 1) for i in range(SIDE) for j in range(SIDE)]
    centroids = np.array([[c.centroid.x, c.centroid.y] for c in cells])
    return centroids, queen_weights(cells)


def test_a_planted_strong_cluster_is_detected_within_a_few_days() -> None:
    centroids, _w = grid()
    nb = nearest_cells(centroids, 20)
    rng = np.random.default_rng(3)
    rates = background_rates(np.full(SIDE * SIDE, 1000.0), reports_per_day=60.0)
    counts = simulate_counts(rng, rates, DAYS + 7)
    centre = 5 * SIDE + 6
    cluster = nb.indices[centre, :5]
    start = DAYS
    counts = inject_cluster(rng, counts, rates, cluster, start, 7, relative_risk=5.0)
    first = None
    for day in range(start, start + 7):
        found = scan_detections(
            counts[:, : day + 1], nb, max_cells=20, max_days=14, replicas=199, seed=day
        )
        if any(set(d.cells) & set(cluster.tolist()) for d in found):
            first = day - start
            break
    assert first is not None and first <= 4
    hit = next(d for d in found if set(d.cells) & set(cluster.tolist()))
    assert hit.recurrence_interval_days is not None and hit.recurrence_interval_days >= 365
    assert hit.last_day == day and hit.observed > hit.expected


def test_a_flat_field_raises_no_alert() -> None:
    centroids, w = grid()
    nb = nearest_cells(centroids, 20)
    rng = np.random.default_rng(11)
    rates = background_rates(np.full(SIDE * SIDE, 1000.0), reports_per_day=60.0)
    counts = simulate_counts(rng, rates, DAYS)
    assert scan_detections(counts, nb, max_cells=20, max_days=14, replicas=199, seed=1) == []
    assert gi_detections(counts[:, -28:].sum(axis=1), w) == []


def test_adjacent_hot_cells_are_one_gi_alert_and_separate_blocks_two() -> None:
    _c, w = grid()
    values = np.ones(SIDE * SIDE)
    block_a = [i * SIDE + j for i in (2, 3) for j in (2, 3)]
    block_b = [i * SIDE + j for i in (9, 10) for j in (9, 10)]
    values[block_a] = 40
    values[block_b] = 40
    found = gi_detections(values, w, first_day=0, last_day=27)
    assert len(found) == 2
    assert all(d.method == "gi_star" and d.statistic > 3 for d in found)
    assert set(block_a) <= set(found[0].cells) and set(block_b) <= set(found[1].cells)
    assert found[0].cells[0] == found[0].centre


def test_hot_components_follow_the_weights() -> None:
    _c, w = grid()
    mask = np.zeros(SIDE * SIDE, dtype=bool)
    mask[[0, 1, SIDE + 1, 50]] = True  # 0-1-(1,1) touch; 50 stands alone
    groups = hot_components(mask, w)
    assert [g.tolist() for g in groups] == [[0, 1, SIDE + 1], [50]]
    assert hot_components(np.zeros(SIDE * SIDE, dtype=bool), w) == []


def test_a_new_weekly_hot_spot_is_classed_new() -> None:
    _c, w = grid()
    rng = np.random.default_rng(5)
    cube = rng.poisson(2.0, size=(SIDE * SIDE, 20)).astype(float)
    block = [i * SIDE + j for i in (5, 6) for j in (5, 6)]
    cube[block, -1] += 25
    found = emerging_detections(cube, w, last_day=139)
    new = [d for d in found if d.pattern == "new hot spot"]
    assert new and set(block) <= set(new[0].cells)
    assert new[0].last_day == 139 and new[0].first_day == 133  # the last week


def alert(id_: int, method: str, cells: set[int], seen: date) -> ActiveAlert:
    return ActiveAlert(id=id_, method=method, cells=frozenset(cells), last_detected=seen)


def test_a_redetection_updates_the_alert_it_overlaps_most() -> None:
    today = date(2026, 6, 15)
    alerts = [
        alert(1, "scan", {1, 2, 3}, today - timedelta(days=1)),
        alert(2, "scan", {3, 4, 5, 6}, today - timedelta(days=2)),
        alert(3, "gi_star", {7, 8}, today - timedelta(days=1)),
        alert(4, "scan", {9}, today - timedelta(days=20)),  # too old to be re-detected
    ]
    got = match_detections(
        [
            ("scan", {3, 4, 5}),  # shares 1 with #1, 3 with #2
            ("scan", {1}),
            ("scan", {7, 8}),  # gi_star's cells, but another method
            ("gi_star", {8, 10}),
            ("scan", {9}),
            ("scan", {20}),
        ],
        alerts,
        today=today,
        within_days=14,
    )
    assert got == [2, 1, None, 3, None, None]


def test_ties_go_to_the_oldest_alert() -> None:
    today = date(2026, 6, 15)
    alerts = [alert(7, "scan", {1, 2}, today), alert(5, "scan", {2, 3}, today)]
    assert match_detections([("scan", [2])], alerts, today=today) == [5]


def test_split_detections_merge_into_one() -> None:
    a = Detection("scan", (1, 2), 1, 12.0, 0.001, 10, 14, 9, 2.0, None, 1000.0)
    b = Detection("scan", (3, 2), 3, 15.0, 0.002, 12, 14, 7, 1.5, None, 500.0)
    m = merge_detections([a, b])
    assert m.cells == (3, 2, 1) and m.centre == 3 and m.statistic == 15.0
    assert (m.first_day, m.last_day, m.observed, m.p_value) == (10, 14, 16, 0.001)
    assert m.recurrence_interval_days == 1000.0
    with pytest.raises(ValueError):
        merge_detections([])


def test_alerts_expire_after_fourteen_days_without_redetection() -> None:
    today = date(2026, 6, 15)
    alerts = [
        alert(1, "scan", {1}, today - timedelta(days=14)),
        alert(2, "scan", {2}, today - timedelta(days=13)),
        alert(3, "scan", {3}, today),
    ]
    assert stale_alerts(alerts, today=today, after_days=14) == [1]


def test_background_rates_follow_population_and_fill_gaps() -> None:
    rates = background_rates([100, 300, 0, np.nan], reports_per_day=10)
    assert rates.sum() == pytest.approx(10)
    assert rates[1] == pytest.approx(3 * rates[0])
    assert rates[2] == rates[3] > 0  # missing population: the median cell


def test_injection_adds_only_in_the_cluster_and_window() -> None:
    rng = np.random.default_rng(0)
    base = np.zeros((4, 10), dtype=np.int64)
    out = inject_cluster(rng, base, np.full(4, 5.0), [1, 2], 6, 3, relative_risk=3.0)
    assert out[:, :6].sum() == 0 and out[:, 9].sum() == 0 and out[[0, 3]].sum() == 0
    assert out[[1, 2], 6:9].sum() > 0 and base.sum() == 0
