"""The report history planner (fieldapp.demo.history), without a database: counts and
rates, the severity and people mix, points inside cells, every case history a legal path of
the workflow with columns matching an independent replay of the deadline rules, merges,
clusters, check-ins, COPY text and determinism."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pytest
import shapely

from fieldapp.deadlines import DeadlinePolicy
from fieldapp.demo import history as H
from fieldapp.demo.city import COUNTY_DEPARTMENTS
from fieldapp.demo.reports import PLAN_ARRAYS
from fieldapp.workflow import OPEN_STATES, Action, State, decide
from tests.support import small_city

END = date(2026, 3, 31)  # the period holds the 2026 Spring Festival (17 February)
DAYS = 150
N = 20_000


@pytest.fixture(scope="module")
def frame() -> H.CityFrame:
    return H.city_frame_from_features(small_city())


@pytest.fixture(scope="module")
def plan(frame: H.CityFrame) -> H.HistoryPlan:
    return H.plan_history(frame, reports=N, days=DAYS, end_date=END, seed=11)


def _dt(seconds: int) -> datetime:
    return datetime.fromtimestamp(int(seconds), UTC)


def _events_by_report(w: H.Workflow) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for k, r in enumerate(w.ev_report.tolist()):
        out.setdefault(r, []).append(k)
    return out


# --- reports ----------------------------------------------------------------------------------


def test_about_n_reports_in_the_period(plan: H.HistoryPlan) -> None:
    p = plan.reports
    assert abs(len(p) - N) < 5 * N**0.5
    assert p.start == END - timedelta(days=DAYS - 1)
    assert (p.reported_at >= H.day_start(p.start)).all()
    assert (p.reported_at < p.as_of).all()
    assert (p.occurred_at <= p.reported_at).all()
    assert (np.diff(p.reported_at) >= 0).all()  # loaded in filing order
    delay = p.reported_at - p.occurred_at
    assert np.median(delay) < 2 * 3600


def test_rates_are_proportional_to_population(frame: H.CityFrame) -> None:
    population = np.random.default_rng(1).integers(50, 2_000, len(frame.cell_codes)).astype(float)
    frame = replace(frame, population=population)
    p = H.plan_reports(frame, reports=200_000, days=DAYS, end_date=END, seed=3)
    counts = np.bincount(p.cell, minlength=len(frame.cell_codes))
    expected = len(p) * frame.population / frame.population.sum()
    z = (counts - expected) / np.sqrt(expected)
    assert np.abs(z).max() < 5
    assert np.corrcoef(counts, frame.population)[0, 1] > 0.99


def test_cells_without_an_officer_get_no_reports() -> None:
    codes = ["991101001001001", "991101001001002", "991101002001001"]
    frame = H.city_frame_from_features(small_city(), officer_cells={"a": codes[:2], "b": codes[2:]})
    p = H.plan_reports(frame, reports=2_000, days=30, end_date=END, seed=1)
    assert {frame.cell_codes[i] for i in np.unique(p.cell)} == set(codes)
    assert set(np.unique(p.officer).tolist()) == {1, 2}


def test_severity_people_and_categories(plan: H.HistoryPlan, frame: H.CityFrame) -> None:
    p = plan.reports
    shares = np.bincount(p.severity, minlength=3) / len(p)
    assert shares == pytest.approx(H.SEVERITY_SHARES, abs=0.015)
    assert ((p.people >= 1) & (p.people <= 4)).mean() > 0.85
    assert (p.people >= 5).mean() > 0.01
    by_category = np.bincount(p.category, minlength=len(frame.categories))
    top = frame.categories[int(by_category.argmax())]
    assert top == "neighbours"
    assert by_category[frame.categories.index("mass_finance")] < by_category.mean()


def test_points_are_inside_their_cells(plan: H.HistoryPlan, frame: H.CityFrame) -> None:
    p = plan.reports
    assert shapely.contains_xy(frame.geometries[p.cell], p.lon, p.lat).all()


def test_fewer_reports_on_sundays_more_before_the_spring_festival(frame: H.CityFrame) -> None:
    autumn = H.day_category_weights(date(2026, 11, 1), 28, frame.categories).sum(axis=1)
    weekdays = np.array([(date(2026, 11, 1) + timedelta(days=d)).weekday() for d in range(28)])
    assert autumn[weekdays == 6].max() < autumn[weekdays == 5].min()
    assert autumn[weekdays == 5].max() < autumn[weekdays == 2].min()
    table = H.day_category_weights(date(2026, 1, 1), 60, frame.categories)
    days = [date(2026, 1, 1) + timedelta(days=d) for d in range(60)]
    wages = frame.categories.index("wages_labour")
    before = days.index(date(2026, 2, 10))  # a week before 17 February
    early = days.index(date(2026, 1, 7))  # six weeks before
    assert table[before, wages] > 2 * table[early, wages]

    p = H.plan_reports(frame, reports=100_000, days=364, end_date=END, seed=2)
    weekday = np.array([(p.start + timedelta(days=int(d))).weekday() for d in range(364)])
    per_day = np.bincount(p.day, minlength=364)
    assert per_day[weekday == 6].mean() < 0.75 * per_day[weekday < 5].mean()


# --- cases ------------------------------------------------------------------------------------


def test_every_case_history_is_a_legal_path(plan: H.HistoryPlan) -> None:
    w = plan.workflow
    by_report = _events_by_report(w)
    transitions = np.zeros(len(plan.reports), dtype=np.int64)
    for r in range(len(plan.reports)):
        state = State.REPORTED
        last_at = plan.reports.reported_at[r]
        for k in by_report.get(r, []):
            assert w.ev_at[k] >= last_at
            last_at = w.ev_at[k]
            name = H.ACTION_NAMES[w.ev_action[k]]
            before, after = H.STATES[w.ev_from[k]], H.STATES[w.ev_to[k]]
            if name == "merged_in":  # a note on the case, not a transition
                assert before == after == state
                continue
            action = Action(name)
            assert before == state
            assert decide(state, action, frozenset({H.actor_relation(action)})).to_state == after
            state = after
            transitions[r] += 1
        assert H.STATES[w.status[r]] == state
    assert (w.version == 1 + transitions).all()


def _reference(plan: H.HistoryPlan, r: int, events: list[int], policy: DeadlinePolicy) -> dict:
    """The report columns by the rules of services.cases, with datetimes and the policy."""
    p, w = plan.reports, plan.workflow
    severity = H.SEVERITY_BY_CODE[p.severity[r]]
    reported = _dt(p.reported_at[r])
    s: dict[str, Any] = {
        "status": State.REPORTED,
        "level": 0,
        "area": int(p.frame.township_ids[p.cell[r]]),
        "department": -1,
        "step": "acceptance",
        "started": reported,
        "due": policy.due("acceptance", severity, reported),
        "accepted_at": None,
        "accepted_on_time": None,
        "closed_at": None,
        "closed_on_time": None,
        "requested": None,
        "granted": 0,
    }
    for k in events:
        name = H.ACTION_NAMES[w.ev_action[k]]
        if name == "merged_in":
            continue
        at, value = _dt(w.ev_at[k]), int(w.ev_value[k])
        action = Action(name)
        if action is Action.ACCEPT:
            s["accepted_at"] = at
            s["accepted_on_time"] = s["due"] is None or at <= s["due"]
            s.update(step="handling", started=at, due=policy.due("handling", severity, at))
        elif action in (Action.REJECT, Action.MERGE):
            s.update(step=None, due=None, closed_at=at)
        elif action in (Action.RESOLVE_ON_SITE, Action.APPROVE_CLOSING):
            s["closed_on_time"] = s["due"] is None or at <= s["due"]
            s.update(step=None, due=None, closed_at=at)
        elif action is Action.ASSIGN:
            s["department"] = value
        elif action is Action.RETURN:
            s["department"] = -1
        elif action is Action.REQUEST_EXTENSION:
            s["requested"] = value
        elif action is Action.APPROVE_EXTENSION:
            s["granted"] += s["requested"]
            s["due"] = s["due"] + timedelta(days=s["requested"])
            s["requested"] = None
        elif action is Action.ESCALATE:
            step = "acceptance" if s["status"] is State.REPORTED else "handling"
            s.update(level=s["level"] + 1, area=int(p.frame.county_ids[p.cell[r]]))
            s.update(department=-1, step=step, started=at, due=policy.due(step, severity, at))
        s["status"] = H.STATES[w.ev_to[k]]
    return s


def _check_columns(plan: H.HistoryPlan, policy: DeadlinePolicy, sample: int = 1_500) -> None:
    w = plan.workflow
    by_report = _events_by_report(w)
    rng = np.random.default_rng(0)
    rows = rng.choice(len(plan.reports), size=min(sample, len(plan.reports)), replace=False)

    def time_or_none(x: int) -> datetime | None:
        return None if x == H.NO_TIME else _dt(x)

    def flag(x: int) -> bool | None:
        return None if x < 0 else bool(x)

    for r in rows.tolist():
        s = _reference(plan, r, by_report.get(r, []), policy)
        got = {
            "status": H.STATES[w.status[r]],
            "level": int(w.owner_level[r]),
            "area": int(w.owner_area_id[r]),
            "department": int(w.department[r]),
            "step": H.STEPS[w.step[r]],
            "started": _dt(w.step_started_at[r]),
            "due": time_or_none(w.due_at[r]),
            "accepted_at": time_or_none(w.accepted_at[r]),
            "accepted_on_time": flag(w.accepted_on_time[r]),
            "closed_at": time_or_none(w.closed_at[r]),
            "closed_on_time": flag(w.closed_on_time[r]),
            "requested": int(w.extension_days_requested[r]) or None,
            "granted": int(w.extension_days_granted[r]),
        }
        assert got == s, r


def test_columns_follow_the_deadline_policy(plan: H.HistoryPlan) -> None:
    _check_columns(plan, DeadlinePolicy())


def test_columns_follow_a_business_day_policy(frame: H.CityFrame) -> None:
    policy = DeadlinePolicy(business_days=True, holidays=frozenset({date(2026, 2, 17)}))
    p = H.plan_reports(frame, reports=3_000, days=60, end_date=END, seed=4)
    h = H.HistoryPlan(p, H.plan_workflow(p, policy=policy), None)
    _check_columns(h, policy, sample=800)


def test_shares_of_paths_and_outcomes(plan: H.HistoryPlan) -> None:
    w, p = plan.workflow, plan.reports
    n = len(p)
    status = np.array([H.STATES[s].value for s in w.status])
    closed = status == "closed"
    assert 0.85 < closed.mean() < 0.97
    assert 0.015 < (status == "merged").mean() < 0.025
    assert 0.01 < (status == "rejected").mean() < 0.06
    on_time = w.closed_on_time[closed] == 1
    assert 0.8 < on_time.mean() < 0.97  # most on time, some late
    accepted = w.accepted_on_time >= 0
    assert 0.85 < (w.accepted_on_time[accepted] == 1).mean() < 0.99
    assert 0.005 < (w.owner_level == 1).mean() < 0.1  # some escalated to the county
    on_site = w.ev_action == H.ACTION_NAMES.index("resolve_on_site")
    assert (p.severity[w.ev_report[on_site]] == 0).mean() > 0.9  # mostly yellow
    rated = w.satisfaction >= 0
    assert 0.75 < rated[closed].mean() < 0.9
    shares = np.bincount(w.satisfaction[rated], minlength=3) / rated.sum()
    assert shares == pytest.approx(H.SATISFACTION_SHARES, abs=0.02)
    outcomes = np.bincount(w.outcome[w.outcome >= 0], minlength=2)
    assert outcomes[0] > 4 * outcomes[1] > 0  # mostly resolved, some stabilised
    # Recent reports are still open, in several states, with a clock running.
    open_codes = [H.STATES.index(s) for s in OPEN_STATES]
    still_open = np.isin(w.status, open_codes)
    assert 0 < still_open.mean() < 0.1
    states = {H.STATES[s] for s in np.unique(w.status[still_open])}
    assert {State.REPORTED, State.ACCEPTED, State.ASSIGNED, State.IN_PROGRESS} <= states
    assert (w.due_at[still_open] != H.NO_TIME).all()
    assert (w.step[still_open] > 0).all()
    overdue = still_open & (w.due_at <= p.as_of)
    assert overdue.any()
    assert (w.notified_light[overdue] == 2).all()
    assert n == w.status.size


def test_no_red_case_is_left_overdue_by_the_sweep(plan: H.HistoryPlan) -> None:
    w, p = plan.workflow, plan.reports
    open_codes = [H.STATES.index(s) for s in OPEN_STATES]
    red = p.severity == H.SEVERITY_BY_CODE.index("red")
    stale = red & np.isin(w.status, open_codes) & (w.due_at <= p.as_of - H.SWEEP_LATENCY_S)
    assert not stale.any()
    automatic = w.ev_automatic
    assert automatic.any()
    assert (w.ev_actor[automatic] == 0).all()
    assert (p.severity[w.ev_report[automatic]] == H.SEVERITY_BY_CODE.index("red")).all()


def test_duplicates_go_into_an_earlier_open_case(plan: H.HistoryPlan) -> None:
    w, p = plan.workflow, plan.reports
    merged = np.flatnonzero(w.status == H.STATES.index(State.MERGED))
    into = w.merged_into[merged]
    assert (into >= 0).all()
    assert (p.cell[into] == p.cell[merged]).all()
    assert (p.category[into] == p.category[merged]).all()
    gap = p.reported_at[merged] - p.reported_at[into]
    assert ((gap > 0) & (gap <= 7 * 86_400)).all()
    assert not np.isin(into, merged).any()
    notes = w.ev_action == H.MERGED_IN
    assert sorted(w.ev_report[notes].tolist()) == sorted(into.tolist())
    open_codes = [H.STATES.index(s) for s in OPEN_STATES]
    assert np.isin(w.ev_from[notes], open_codes).all()


def test_actors(plan: H.HistoryPlan, frame: H.CityFrame) -> None:
    w, p = plan.workflow, plan.reports
    township_of = p.frame.township_ids[p.cell[w.ev_report]]
    accept = w.ev_action == H.ACTION_NAMES.index("accept")
    coordinators = np.array([frame.coordinator_of_township[t] for t in township_of[accept]])
    staff = np.array(
        [frame.staff_of_county[c] for c in p.frame.county_ids[p.cell[w.ev_report[accept]]]]
    )
    actors = w.ev_actor[accept]
    assert ((actors == coordinators) | (actors == staff)).all()
    assert (actors == coordinators).mean() > 0.9
    sign = w.ev_action == H.ACTION_NAMES.index("sign_for")
    handlers = {d.handler_id for d in frame.departments}
    assert set(w.ev_actor[sign].tolist()) <= handlers
    assign = w.ev_action == H.ACTION_NAMES.index("assign")
    county_of_event = p.frame.county_ids[p.cell[w.ev_report[assign]]]
    assigned_county = np.array([frame.departments[d].county_id for d in w.ev_value[assign]])
    assert (assigned_county == county_of_event).all()
    wages = p.category[w.ev_report[assign]] == frame.categories.index("wages_labour")
    names = {frame.departments[d].name for d in w.ev_value[assign][wages]}
    assert names <= {"人力资源和社会保障局", *COUNTY_DEPARTMENTS}
    assert "人力资源和社会保障局" in names


# --- clusters -----------------------------------------------------------------------------------


def test_clusters_are_injected_where_asked(frame: H.CityFrame) -> None:
    base = H.plan_reports(frame, reports=5_000, days=DAYS, end_date=END, seed=5)
    spec = H.parse_cluster("991101001002002:2026-03-01:10:6:2")
    assert spec == H.ClusterSpec("991101001002002", date(2026, 3, 1), 10, 6.0, 2, "wages_labour")
    out = H.inject_clusters(base, [spec])
    injected = out.cluster >= 0
    assert len(out) == len(base) + injected.sum()
    assert 30 < injected.sum() < 100  # Poisson, mean 60
    (record,) = out.clusters
    assert record.reports == injected.sum()
    assert record.cell_codes[0] == "991101001002002" and len(record.cell_codes) == 3
    cells = {frame.cell_codes[i] for i in np.unique(out.cell[injected])}
    assert cells <= set(record.cell_codes)
    days = {out.start + timedelta(days=int(d)) for d in np.unique(out.day[injected])}
    assert min(days) >= date(2026, 3, 1) and max(days) <= date(2026, 3, 10)
    assert (out.category[injected] == frame.categories.index("wages_labour")).all()
    assert shapely.contains_xy(
        frame.geometries[out.cell[injected]], out.lon[injected], out.lat[injected]
    ).all()
    assert (np.diff(out.reported_at) >= 0).all()
    # The base reports are all still there, unchanged.
    assert np.array_equal(np.sort(out.occurred_at[~injected]), np.sort(base.occurred_at))
    assert record.as_dict()["cells"] == list(record.cell_codes)


def test_cluster_days_outside_the_period_are_dropped(frame: H.CityFrame) -> None:
    base = H.plan_reports(frame, reports=1_000, days=30, end_date=END, seed=5)
    late = H.ClusterSpec("991101001002002", END - timedelta(days=2), 10, 5.0, 0, "neighbours")
    out = H.inject_clusters(base, [late])
    (record,) = out.clusters
    assert record.last_day == END and record.first_day == END - timedelta(days=2)
    before = H.ClusterSpec("991101001002002", date(2020, 1, 1), 3, 5.0)
    assert H.inject_clusters(base, [before]).clusters[0].reports == 0
    with pytest.raises(H.HistoryError):
        H.inject_clusters(base, [H.ClusterSpec("nope", END, 1, 1.0)])


@pytest.mark.parametrize(
    "spec",
    ["x", "c:2026-13-01:3:1", "c:2026-01-01:0:1", "c:2026-01-01:3:-1", "c:2026-01-01:a:1"],
)
def test_bad_cluster_specs_are_explained(spec: str) -> None:
    with pytest.raises(ValueError, match="c|x"):
        H.parse_cluster(spec)


# --- check-ins, text, determinism ---------------------------------------------------------------


def test_checkins(frame: H.CityFrame, plan: H.HistoryPlan) -> None:
    c = plan.checkins
    assert c is not None
    p = plan.reports
    pairs = c.officer.astype(np.int64) * 10_000 + c.day
    assert np.unique(pairs).size == len(c)
    # The count is the officer's reports filed that (China) day.
    local_day = (p.reported_at - H.day_start(p.start)) // 86_400
    filed: dict[tuple[int, int], int] = {}
    for officer, day in zip(p.officer.tolist(), local_day.tolist(), strict=True):
        filed[officer, day] = filed.get((officer, day), 0) + 1
    rows = zip(c.officer.tolist(), c.day.tolist(), c.count.tolist(), strict=True)
    for officer, day, count in rows:
        assert filed.get((officer, day), 0) == count
    start = H.day_start(p.start) + c.day.astype(np.int64) * 86_400
    assert ((c.checked_in_at >= start) & (c.checked_in_at < start + 86_400)).all()

    many = replace(frame, officer_ids=np.arange(1, 3_001, dtype=np.int64))
    big = H.plan_checkins(replace(p, frame=many))
    per_officer = np.bincount(big.officer, minlength=3_001)[1:]
    missed = 1 - per_officer / p.days
    assert 0.015 < (missed > 0.3).mean() < 0.05  # ~3 % silent officers
    assert (missed > 0).mean() > 0.8  # everyone misses a few
    assert np.median(missed) < 0.05


def test_copy_text(plan: H.HistoryPlan) -> None:
    for category, texts in H.TEMPLATES.items():
        assert len(texts) == H.TEMPLATES_PER_CATEGORY, category
        for title, body in texts:
            assert not set(title + body) & set("\t\n\r\\"), category
            assert len(title) <= 100
    for table, columns in H.COPY_COLUMNS.items():
        rows, text = next(H.copy_pieces(plan, table))
        lines = text.rstrip("\n").split("\n")
        assert len(lines) == rows
        assert all(line.count("\t") == len(columns) - 1 for line in lines)
    _rows, text = next(H.copy_pieces(plan, "reports"))
    first = dict(zip(H.REPORT_COLUMNS, text.split("\n")[0].split("\t"), strict=True))
    point = shapely.from_wkb(bytes.fromhex(first["geom"]))
    assert (point.x, point.y) == (float(first["input_lon"]), float(first["input_lat"]))
    assert shapely.get_srid(point) == 4326
    assert first["description"].startswith("【示例】")
    assert len(first["body_hash"]) == 64 and len(first["id"]) == 36
    _rows, text = next(H.copy_pieces(plan, "case_events"))
    event = dict(zip(H.EVENT_COLUMNS, text.split("\n")[0].split("\t"), strict=True))
    assert event["from_status"] == "reported"


def test_same_seed_same_plan(frame: H.CityFrame) -> None:
    def make(seed: int, random_ids: bool = False) -> H.HistoryPlan:
        return H.plan_history(
            frame,
            reports=3_000,
            days=60,
            end_date=END,
            seed=seed,
            clusters=[H.ClusterSpec("991101001002002", date(2026, 3, 20), 5, 3.0)],
            random_ids=random_ids,
        )

    a, b, c = make(7), make(7), make(8)

    def arrays(h: H.HistoryPlan) -> dict[str, Any]:
        out = {f"r.{k}": getattr(h.reports, k) for k in PLAN_ARRAYS}
        out.update({f"w.{k}": v for k, v in vars(h.workflow).items()})
        assert h.checkins is not None
        out.update({f"c.{k}": v for k, v in vars(h.checkins).items()})
        return out

    for key, value in arrays(a).items():
        assert np.array_equal(value, arrays(b)[key]), key
    assert len(c.reports) != len(a.reports) or not np.array_equal(c.reports.lon, a.reports.lon)
    fresh = make(7, random_ids=True)
    assert not set(fresh.workflow.ids.tolist()) & set(a.workflow.ids.tolist())
    assert np.array_equal(fresh.workflow.status, a.workflow.status)
    assert len(set(a.workflow.ids.tolist())) == len(a.reports)


def test_an_empty_history(frame: H.CityFrame) -> None:
    h = H.plan_history(frame, reports=0, days=3, end_date=END)
    assert h.counts()["reports"] == h.counts()["events"] == 0
    assert not list(H.copy_pieces(h, "reports"))
    assert h.checkins is not None and 0 < len(h.checkins) <= 3 * len(frame.officer_ids)
