"""The alert budget (issue 13.1): on cluster-free simulated data the DEFAULT settings raise at
most one false alert a month city-wide, in expectation, and the recurrence interval an alert
shows never exceeds what its replicas can support. No database: `detect` runs on a synthetic
city of 400 cells with the same code path as the daily recomputation."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from scipy.stats import poisson
from shapely.geometry import box

from fieldapp.services.hotspots import CellGeography, HotspotSettings, detect
from maps.early_warning import (
    ALERT_BUDGET_PER_MONTH,
    DAYS_PER_MONTH,
    background_rates,
    budget_problems,
    recurrence_words,
    scan_result_detections,
    simulate_counts,
    supported_recurrence_days,
)
from maps.hotspots import space_time_permutation_scan
from maps.weights import queen_weights

SIDE = 20  # 400 cells
SEEDS = (11, 12, 13, 14, 15, 16)
RUNS_PER_SEED = 2  # two analysed mornings per simulated history


def geography() -> CellGeography:
    """A square city near Rizhao (0.01° cells), one township per row of five cells."""
    cells = [
        box(119.4 + 0.01 * i, 35.3 + 0.01 * j, 119.41 + 0.01 * i, 35.31 + 0.01 * j)
        for i in range(SIDE)
        for j in range(SIDE)
    ]
    n = len(cells)
    return CellGeography(
        key=(0, n, n),
        ids=np.arange(1, n + 1, dtype=np.int64),
        codes=[f"c{i:04d}" for i in range(n)],
        township_ids=np.arange(n, dtype=np.int64) // 5,
        county_ids=np.zeros(n, dtype=np.int64),
        centroids=np.array([[c.centroid.x, c.centroid.y] for c in cells]),
        queen=queen_weights(cells),
    )


def population(rng: np.random.Generator) -> np.ndarray:
    # Lognormal: dense centres and empty fringes, so "where people live" differs from
    # "where it is unusual" — exactly what flags Gi* and emerging hot spots every day.
    return rng.lognormal(mean=7.0, sigma=1.2, size=SIDE * SIDE)


def false_alerts(settings: HotspotSettings) -> tuple[int, int]:
    """(detections, analysed days) over every seed, cluster-free data."""
    geo = geography()
    found = 0
    runs = 0
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        rates = background_rates(population(rng), reports_per_day=120.0)
        days = max(settings.scan_history_days, settings.emerging_weeks * 7) + RUNS_PER_SEED
        counts = simulate_counts(rng, rates, days)
        for r in range(RUNS_PER_SEED):
            upto = days - RUNS_PER_SEED + r + 1
            found += len(detect(counts[:, :upto], geo, settings, seed * 100 + r))
            runs += 1
    return found, runs


# The production defaults, on a shorter history (the threshold, replicas and methods are the
# defaults; 120 days instead of 365 keeps the test under a minute on a shared machine).
DEFAULTS = replace(HotspotSettings(), scan_history_days=120, emerging_weeks=17, n_jobs=1)


def within_budget(found: int, runs: int, per_month: float = ALERT_BUDGET_PER_MONTH) -> bool:
    """Not significantly above the budget: with the budget's rate λ = 1 alert / 30 days, the
    chance of `found` or more false alerts in `runs` daily analyses is at least 0.1 %."""
    lam = per_month / DAYS_PER_MONTH * runs
    return bool(poisson.sf(found - 1, lam) >= 0.001)


EBP_MORNINGS = 12
"""Consecutive mornings per seed for the own-baseline scan (72 runs = 2.4 months): the scan's
share is so small (0.08 a month) that 12 runs cannot see it, the EBP scan's is not."""
SCAN_DESIGN_PER_MONTH = DAYS_PER_MONTH / 365.0


def own_baseline_alerts(settings: HotspotSettings, mornings: int) -> tuple[int, int]:
    """(new EBP alerts, analysed days) over consecutive cluster-free mornings of every seed,
    deduplicated as the app does: a detection sharing a cell with one of the last 14 days'
    is the same alert."""
    geo = geography()
    only = replace(settings, methods=("ebp",))
    alerts = 0
    runs = 0
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        rates = background_rates(population(rng), reports_per_day=120.0)
        counts = simulate_counts(rng, rates, only.ebp_history_days + mornings)
        recent: list[tuple[int, set[int]]] = []
        for r in range(mornings):
            upto = only.ebp_history_days + r + 1
            for d in detect(counts[:, :upto], geo, only, seed * 1000 + r):
                cells = set(d.cells)
                if not any(r - day <= 14 and cells & seen for day, seen in recent):
                    alerts += 1
                recent.append((r, cells))
            runs += 1
    return alerts, runs


def test_default_settings_raise_at_most_one_false_alert_a_month() -> None:
    """The default alerts: the permutation scan and the scan on each cell's own baseline
    (docs/early-warning.md, "The sweep": it finds 105 of 240 planted outbreaks within a week
    where the scan alone finds 84)."""
    assert HotspotSettings().methods == ("scan", "ebp")
    assert HotspotSettings().budget_problems() == []
    found, runs = false_alerts(DEFAULTS)
    assert runs == len(SEEDS) * RUNS_PER_SEED
    assert within_budget(found, runs), (found, runs)


def test_the_own_baseline_scan_stays_within_what_the_scan_leaves_of_the_budget() -> None:
    """Its share: one a month minus the scan's 0.08, over 72 consecutive mornings."""
    alerts, runs = own_baseline_alerts(DEFAULTS, EBP_MORNINGS)
    assert runs == len(SEEDS) * EBP_MORNINGS
    assert within_budget(alerts, runs, ALERT_BUDGET_PER_MONTH - SCAN_DESIGN_PER_MONTH), (
        alerts,
        runs,
    )


def test_the_same_count_catches_an_own_baseline_scan_set_too_loose() -> None:
    """A recurrence of 2 days (15 false alerts a month by design): the test can tell."""
    loose = replace(DEFAULTS, ebp_min_recurrence_days=2.0)
    alerts, runs = own_baseline_alerts(loose, 4)
    assert not within_budget(alerts, runs, ALERT_BUDGET_PER_MONTH - SCAN_DESIGN_PER_MONTH), (
        alerts,
        runs,
    )


def test_gi_star_and_emerging_alerts_blow_the_budget_on_the_same_data() -> None:
    """The same test fails for the former defaults: it can tell."""
    over = replace(DEFAULTS, methods=("scan", "gi_star", "emerging"), over_budget=True)
    assert over.budget_problems()
    found, runs = false_alerts(over)
    assert not within_budget(found, runs), (found, runs)


def test_methods_over_the_budget_are_refused_without_an_explicit_opt_in() -> None:
    problems = budget_problems(["scan", "gi_star"], min_recurrence_days=365)
    assert len(problems) == 1 and problems[0].startswith("gi_star")
    assert budget_problems(["emerging"], min_recurrence_days=365)
    # A scan at a recurrence of 10 days would cost 3 a month.
    assert budget_problems(["scan"], min_recurrence_days=10)
    assert budget_problems(["scan"], min_recurrence_days=365) == []


def test_category_sets_share_the_budget_by_bonferroni() -> None:
    """K category sets: each scan's recurrence is 1/(K·p), so a cluster that alerts alone at
    exactly the threshold no longer does when three sets share the budget."""
    rng = np.random.default_rng(5)
    geo = geography()
    counts = simulate_counts(rng, np.full(SIDE * SIDE, 0.3), 60)
    counts[:5, -3:] += 4  # a strong planted cluster: recurrence far over a year
    result = space_time_permutation_scan(
        counts, geo.neighbourhoods(10), max_cells=10, max_days=7, replicas=199, seed=1
    )
    alone = scan_result_detections(result, min_recurrence_days=365)
    assert alone
    p = alone[0].p_value
    threshold = 1.0 / p  # the cluster just reaches this recurrence alone
    just = scan_result_detections(result, min_recurrence_days=threshold * 0.99)
    shared = scan_result_detections(result, min_recurrence_days=threshold * 0.99, tests_per_day=3)
    assert any(d.p_value == p for d in just)
    assert not any(d.p_value == p for d in shared)


@pytest.mark.parametrize("replicas", [99, 199, 999])
def test_the_recurrence_shown_never_exceeds_what_the_replicas_support(replicas: int) -> None:
    rng = np.random.default_rng(2)
    geo = geography()
    counts = simulate_counts(rng, np.full(SIDE * SIDE, 0.2), 40)
    counts[:8, -4:] += 9  # overwhelming: the Gumbel p is astronomically small
    result = space_time_permutation_scan(
        counts, geo.neighbourhoods(10), max_cells=10, max_days=7, replicas=replicas, seed=3
    )
    cap = supported_recurrence_days(replicas)
    for kind in ("gumbel", "monte_carlo"):
        found = scan_result_detections(result, min_recurrence_days=1, p_value=kind)  # type: ignore[arg-type]
        assert found
        limit = supported_recurrence_days(replicas, kind)
        for d in found:
            assert d.recurrence_interval_days is not None
            assert d.recurrence_interval_days <= limit <= cap
    best = scan_result_detections(result, min_recurrence_days=1)[0]
    assert 1.0 / best.p_value > cap  # the raw Gumbel p claimed far more than that
    words = recurrence_words(best.recurrence_interval_days or math.nan)
    assert words[0] == ("century" if cap >= 36_500 else "decade" if cap >= 3_650 else "year")


def test_recurrence_words_are_coarse() -> None:
    assert recurrence_words(89_297_900_000) == ("century", 100)
    assert recurrence_words(40_000) == ("century", 100)
    assert recurrence_words(5_000) == ("decade", 10)
    assert recurrence_words(400) == ("year", 1)
    assert recurrence_words(123.4) == ("days", 120)
    assert recurrence_words(0.2) == ("days", 1)


def test_gi_confidence_classes_use_permutations_on_sparse_counts() -> None:
    from maps.early_warning import gi_confidence_classes

    geo = geography()
    rng = np.random.default_rng(4)
    dense = rng.poisson(20.0, SIDE * SIDE).astype(float)
    block = [i * SIDE + j for i in range(3, 6) for j in range(3, 6)]
    dense[block] += 40
    classes, z, kind = gi_confidence_classes(dense, geo.queen)
    assert kind == "normal" and set(np.unique(classes)) <= {-3, -2, -1, 0, 1, 2, 3}
    assert classes[block[4]] == 3 and z[block[4]] > 3
    # Nested levels: every 99 % cell is also significant at 95 and 90 %.
    assert np.all((np.abs(classes) == 3) <= (np.abs(z) > 1.64))
    sparse = rng.poisson(0.3, SIDE * SIDE).astype(float)
    sparse_classes, _z, sparse_kind = gi_confidence_classes(sparse, geo.queen, seed=1)
    assert sparse_kind == "permutation"
    # No cluster: the permutation p flags (almost) nothing.
    assert np.count_nonzero(sparse_classes > 0) <= 4


def test_ebp_llr_matches_the_formula_and_finds_a_planted_excess() -> None:
    from maps.early_warning import ebp_llr, own_baselines

    geo = geography()
    nn = geo.neighbourhoods(5).indices
    rng = np.random.default_rng(8)
    history = rng.poisson(1.0, (SIDE * SIDE, 60))
    base = own_baselines(history)
    assert base.shape == (SIDE * SIDE,) and np.all(base > 0)
    recent = rng.poisson(1.0, (SIDE * SIDE, 7))
    recent[nn[50, :3], -2:] += 6
    llr = ebp_llr(recent, base, nn, max_days=7)
    assert llr.shape == (7, SIDE * SIDE, 5) and np.all(llr >= 0)
    w, centre, k = np.unravel_index(int(np.argmax(llr)), llr.shape)
    assert set(nn[centre, : k + 1].tolist()) & set(nn[50, :3].tolist())
    # One cylinder by hand: cell 0 alone, the last day.
    o, e = float(recent[0, -1]), float(base[0]) * recent[:, -1].sum() / base.sum()
    expected = o * math.log(o / e) - (o - e) if o > e else 0.0
    assert llr[0, 0, 0] == pytest.approx(expected)


def test_the_small_map_of_an_alert_is_numbers_only_inside_its_box() -> None:
    from maps.city_map import geometry_svg_path

    square = {
        "type": "Polygon",
        "coordinates": [
            [[119.0, 35.0], [119.1, 35.0], [119.1, 35.1], [119.0, 35.1], [119.0, 35.0]]
        ],
    }
    d = geometry_svg_path(square)
    assert d.startswith("M") and d.endswith("Z")
    numbers = [
        float(x)
        for part in d.replace("M", " ").replace("L", " ").replace("Z", " ").split()
        for x in part.split(",")
    ]
    assert all(0 <= x <= 120 for x in numbers[::2]) and all(0 <= y <= 90 for y in numbers[1::2])
    assert (
        geometry_svg_path(None) == ""
        and geometry_svg_path({"type": "Point", "coordinates": [1, 2]}) == ""
    )


def test_the_own_baseline_scan_finds_a_planted_excess_and_stays_quiet_without() -> None:
    from maps.early_warning import ebp_detections, inject_cluster

    geo = geography()
    nb = geo.neighbourhoods(20)
    rng = np.random.default_rng(21)
    rates = background_rates(population(rng), reports_per_day=120.0)
    counts = simulate_counts(rng, rates, 97)
    quiet = ebp_detections(counts, nb, replicas=49, seed=1)
    centre = int(np.argsort(rates)[SIDE * SIDE // 2])
    cluster = nb.indices[centre, :5]
    loud = inject_cluster(rng, counts, rates, cluster, 92, 5, relative_risk=8.0)
    found = ebp_detections(loud, nb, replicas=49, seed=1)
    assert len(quiet) <= 1
    hit = [d for d in found if set(d.cells) & set(cluster.tolist())]
    assert hit and hit[0].method == "ebp" and hit[0].last_day == 96
    assert hit[0].observed > 2 * hit[0].expected
    assert hit[0].recurrence_interval_days is not None
    assert 60 <= hit[0].recurrence_interval_days <= supported_recurrence_days(49)


def test_the_scan_and_the_own_baseline_scan_make_one_alert_per_hotspot() -> None:
    from datetime import date

    from fieldapp.services.hotspots import same_hotspot
    from maps.early_warning import ActiveAlert

    day = date(2030, 1, 10)
    live = [
        ActiveAlert(7, "scan", frozenset({1, 2, 3}), day),
        ActiveAlert(9, "ebp", frozenset({40, 41}), day),
    ]
    verdicts = same_hotspot(
        [
            ("ebp", frozenset({3, 4})),  # over the live scan alert: keeps it alive
            ("scan", frozenset({41})),  # over the live EBP alert: the same
            ("scan", frozenset({20, 21})),  # new place: a new alert
            ("ebp", frozenset({21, 22})),  # this run's scan detection covers it
            ("ebp", frozenset({60})),  # nobody's: a new alert
            ("gi_star", frozenset({1})),  # a map analysis opted in: its own alerts
        ],
        live,
    )
    assert verdicts == [7, 9, None, 0, None, None]
