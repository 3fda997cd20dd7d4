"""Planning the cases of the reports (pure numpy, no database): `plan_workflow`.

*The case.* Every report gets a path through `fieldapp.workflow.TRANSITIONS` chosen by a few
random flags (resolved on site — mostly yellow —, rejected, merged as a duplicate, accepted
late, returned by a wrong department, extension, escalation to the county, sent back, closing
late or stalling), with event times anchored on the `DeadlinePolicy` due times. The flags of a
report pick a fixed action sequence; each sequence is checked with `workflow.decide()` when it
is built. The sequence is then replayed with the same effects as `fieldapp.services.cases`
(acceptance clock at intake, handling clock from acceptance, a new clock on escalation, due
time + extension days, on-time flags against the due time in force), truncated at the end of
the period: recent reports stay open in whatever state they had reached. Red cases that
overrun are escalated by "the sweep" (actor NULL, as `services.sweep` does), so no red case is
left overdue. About 2 % of reports are merged into an earlier open report of the same cell and
category from the last 7 days (the earlier case also gets the service's `merged_in` event).
Actors: the township coordinator (the county's staff after escalation) for owner steps, one
handler per department for department steps.

That the two agree is tested, not assumed: tests/integration/test_demo_replay.py replays one
generated case of every path through intake, `services.cases.act` and the sweep and compares
the columns and the events; tests/unit/test_demo_transitions.py checks every sequence `_steps`
can build against `workflow.TRANSITIONS`.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from fieldapp.deadlines import SWEEP_REASON, DeadlinePolicy
from fieldapp.demo.frame import CHINA_OFFSET_S, DAY_S, NO_TIME
from fieldapp.demo.reports import SEVERITY_BY_CODE, ReportPlan
from fieldapp.workflow import (
    OPEN_STATES,
    Action,
    Outcome,
    Relation,
    Satisfaction,
    State,
    decide,
)

Array = npt.NDArray[Any]

# --- the case model (shares per severity: yellow, orange, red) --------------------------------

ON_SITE = np.array([0.45, 0.06, 0.0])
REJECT = np.array([0.04, 0.03, 0.01])
LATE_ACCEPTANCE = np.array([0.05, 0.07, 0.04])
MANUAL_ESCALATION = np.array([0.02, 0.04, 0.10])
STABILISED = np.array([0.12, 0.15, 0.30])
ON_SITE_STABILISED = 0.05
RETURN_SHARE = 0.03
EXTENSION_SHARE = 0.04
EXTENSION_DAYS = np.array([7, 10, 15, 20, 30])
SEND_BACK_SHARE = 0.03
PROGRESS_NOTES = np.array([0.55, 0.35, 0.10])  # 1, 2 or 3 progress notes
CLOSE_LATE_SHARE = 0.08
STALLED_SHARE = 0.025
STALLED_DAYS = (20, 150)
FOLLOW_UP_SHARE = 0.85
SATISFACTION_SHARES = np.array([0.70, 0.22, 0.08])
MERGE_SHARE = 0.02
MERGE_WINDOW_S = 7 * DAY_S
SWEEP_LATENCY_S = 180
"""The deadline sweep runs every 3 minutes: automatic escalations come up to that late."""


DEPARTMENT_KEYWORDS: Mapping[str, tuple[str, ...]] = {
    # Which departments (by a word in their name) a category is usually assigned to.
    "marriage_family": ("司法", "民政"),
    "neighbours": ("司法",),
    "housing_land": ("自然资源", "住房"),
    "contract": ("司法", "市场监督"),
    "business": ("市场监督",),
    "damages": ("司法", "公安"),
    "forest_land": ("自然资源", "农业农村"),
    "expropriation": ("自然资源", "住房"),
    "pollution": ("生态环境",),
    "wages_labour": ("人力资源", "人社"),
    "consumer": ("市场监督",),
    "medical": ("卫生健康",),
    "traffic": ("公安", "交通"),
    "property_management": ("住房",),
    "village_affairs": ("农业农村", "民政"),
    "mass_finance": ("公安", "金融"),
    "other": ("信访", "司法"),
}

REASONS: Mapping[Action, tuple[str, ...]] = {
    Action.REJECT: ("不属于矛盾纠纷排查范围", "经核实情况不属实", "信息不全，无法核实"),
    Action.RETURN: ("非本部门职责范围，请重新交办",),
    Action.SEND_BACK: ("办结材料不全，请补充调解协议", "当事人仍有异议，请继续化解"),
    Action.ESCALATE: ("涉及多个部门，需区县统筹协调", "矛盾复杂，镇街层面难以化解"),
    Action.REQUEST_EXTENSION: ("需等待鉴定结果，申请延期", "当事人外出务工，申请延期"),
    Action.PROGRESS: (
        "已约谈双方当事人，正在调解",
        "已现场核实情况，组织双方协商",
        "已联系相关部门联合调处",
    ),
    Action.REQUEST_CLOSING: ("双方已达成调解协议，申请办结", "矛盾已化解，申请办结"),
}

DEPARTMENT_ACTIONS = frozenset(
    {
        Action.SIGN_FOR,
        Action.RETURN,
        Action.PROGRESS,
        Action.REQUEST_EXTENSION,
        Action.REQUEST_CLOSING,
    }
)


def actor_relation(action: Action) -> Relation:
    """How the generated actor of `action` stands to the case. The sweep's automatic
    escalation (actor NULL) acts for the owner."""
    return Relation.DEPARTMENT if action in DEPARTMENT_ACTIONS else Relation.OWNER


STATES: tuple[State, ...] = tuple(State)
ACTION_NAMES: tuple[str, ...] = (*(a.value for a in Action), "merged_in")
"""Event action codes: the workflow's actions, then the service's `merged_in` note on the case
a duplicate was merged into (not a transition: state unchanged, version not bumped)."""
MERGED_IN = len(ACTION_NAMES) - 1
OUTCOMES: tuple[Outcome, ...] = (Outcome.RESOLVED, Outcome.STABILISED)
SATISFACTIONS: tuple[Satisfaction, ...] = tuple(Satisfaction)
STEPS = (None, "acceptance", "handling")
LIGHTS = ("green", "yellow", "red")

STATE_CODE = {s: i for i, s in enumerate(STATES)}
ACTION_CODE = {a: i for i, a in enumerate(Action)}
REASON_TEXTS: tuple[str, ...] = (*(t for a in REASONS for t in REASONS[a]), SWEEP_REASON)
_REASON_BASE = {a: sum(len(REASONS[b]) for b in list(REASONS)[:i]) for i, a in enumerate(REASONS)}
_SWEEP_REASON = len(REASON_TEXTS) - 1


@dataclass(frozen=True, eq=False)  # arrays: compare them with numpy
class Workflow:
    """The cases at the end of the period (report columns) and their events.

    Report arrays are aligned with the ReportPlan. Times are epoch seconds, NO_TIME for NULL;
    codes index STATES, ESCALATION_LEVELS, STEPS, LIGHTS, OUTCOMES, SATISFACTIONS; -1 is NULL.
    Events are sorted by report, then time."""

    ids: Array  # str uuid per report
    status: Array
    owner_level: Array
    owner_area_id: Array
    department: Array  # index into frame.departments
    step: Array
    step_started_at: Array
    due_at: Array
    notified_light: Array
    extension_days_requested: Array  # 0 = NULL
    extension_days_granted: Array
    accepted_at: Array
    accepted_on_time: Array  # -1 NULL, 0 false, 1 true
    closed_at: Array
    closed_on_time: Array
    outcome: Array
    satisfaction: Array
    merged_into: Array  # report index
    version: Array
    ev_report: Array  # report index
    ev_at: Array
    ev_action: Array  # index into ACTION_NAMES
    ev_from: Array
    ev_to: Array
    ev_actor: Array  # user id, 0 = NULL (the system)
    ev_reason: Array  # index into reason texts, -1 = NULL
    ev_value: Array  # department / days / level / outcome / satisfaction / other report
    ev_automatic: Array  # bool: the sweep's escalation

    def status_counts(self) -> dict[str, int]:
        counts = np.bincount(self.status, minlength=len(STATES))
        return {s.value: int(c) for s, c in zip(STATES, counts, strict=True) if c}


# --- planning: the cases ---------------------------------------------------------------------


class _Deadlines:
    """`DeadlinePolicy.due` over arrays. Without a business-day calendar a limit is a fixed
    offset; with one, the offset depends only on the local date, computed once per date."""

    REF = datetime(2000, 1, 1, tzinfo=UTC)

    def __init__(self, policy: DeadlinePolicy) -> None:
        self.policy = policy

    def due(self, step: str, severity: Array, start: Array) -> Array:
        out = np.empty(start.shape, dtype=np.int64)
        for code, name in enumerate(SEVERITY_BY_CODE):
            mask = severity == code
            if not mask.any():
                continue
            limit = self.policy.limit(step, name)
            if not (self.policy.business_days and limit.days):
                offset = (self.policy.due(step, name, self.REF) - self.REF).total_seconds()
                out[mask] = start[mask] + int(offset)
                continue
            base = start[mask] + int(limit.hours * 3600)
            local_day = (base + CHINA_OFFSET_S) // DAY_S
            days, inverse = np.unique(local_day, return_inverse=True)
            shift = np.empty(days.size, dtype=np.int64)
            for i, d in enumerate(days):
                noon = datetime.fromtimestamp(int(d) * DAY_S + 4 * 3600, UTC)  # 12:00 in China
                shift[i] = int((self.policy.add_days(noon, limit.days) - noon).total_seconds())
            out[mask] = base + shift[inverse]
        return out


_BETWEEN = "~"


@dataclass(frozen=True)
class _Step:
    action: Action
    variant: str = ""  # assign: "wrong" | "primary"; escalate: "manual" | "system"
    anchor: str = _BETWEEN
    """The anchor time it happens at (t_sys, t_dec, t_xr, t_xa, t_h, t_c, t_f), or _BETWEEN:
    spread between the anchored steps before and after it."""


# Intake classes, escalation kinds and closing classes of the flags.
_ACCEPT, _REJECT, _ON_SITE, _MERGE = range(4)
_NO_ESC, _MANUAL_ESC, _SYSTEM_ESC = range(3)
_ON_TIME, _LATE, _STALLED = range(3)


def _steps(
    intake: int, e0: bool, ret: bool, ext: bool, esc: int, sb: bool, notes: int, follow: bool
) -> tuple[_Step, ...]:
    """The action sequence of a set of flags."""
    if intake == _MERGE:
        return (_Step(Action.MERGE, "", "t_dec"),)
    if intake == _REJECT:
        return (_Step(Action.REJECT, "", "t_dec"),)
    steps: list[_Step] = []
    if e0:
        steps.append(_Step(Action.ESCALATE, "system", "t_sys"))
    if intake == _ON_SITE:
        steps.append(_Step(Action.RESOLVE_ON_SITE, "", "t_dec"))
    else:
        steps.append(_Step(Action.ACCEPT, "", "t_dec"))
        if ret:
            steps += [_Step(Action.ASSIGN, "wrong"), _Step(Action.RETURN)]
        steps += [_Step(Action.ASSIGN, "primary"), _Step(Action.SIGN_FOR)]
        steps += [_Step(Action.PROGRESS)] * notes
        if ext:
            steps += [
                _Step(Action.REQUEST_EXTENSION, "", "t_xr"),
                _Step(Action.APPROVE_EXTENSION, "", "t_xa"),
            ]
        if esc != _NO_ESC:
            kind = "system" if esc == _SYSTEM_ESC else "manual"
            steps += [
                _Step(Action.ESCALATE, kind, "t_h"),
                _Step(Action.ASSIGN, "primary"),
                _Step(Action.SIGN_FOR),
                _Step(Action.PROGRESS),
                _Step(Action.REQUEST_CLOSING),
                _Step(Action.APPROVE_CLOSING, "", "t_c"),
            ]
        else:
            steps.append(_Step(Action.REQUEST_CLOSING))
            if sb:
                steps += [_Step(Action.SEND_BACK), _Step(Action.PROGRESS)]
                steps.append(_Step(Action.REQUEST_CLOSING))
            steps.append(_Step(Action.APPROVE_CLOSING, "", "t_h"))
    if follow:
        steps.append(_Step(Action.FOLLOW_UP, "", "t_f"))
    return tuple(steps)


def _states(steps: Sequence[_Step]) -> list[State]:
    """The state before each step and after the last, checked with the state machine: a
    sequence the table does not allow fails here, at planning time."""
    states = [State.REPORTED]
    for step in steps:
        states.append(
            decide(states[-1], step.action, frozenset({actor_relation(step.action)})).to_state
        )
    return states


class _Replay:
    """The report columns while a case's events are applied, with the effects of
    `fieldapp.services.cases` (and `services.sweep` for automatic escalations)."""

    def __init__(self, plan: ReportPlan, deadlines: _Deadlines, values: dict[str, Array]) -> None:
        n = len(plan)
        frame = plan.frame
        self.plan, self.deadlines, self.values = plan, deadlines, values
        self.severity = plan.severity
        self.status = np.full(n, STATE_CODE[State.REPORTED], dtype=np.int8)
        self.owner_level = np.zeros(n, dtype=np.int8)
        self.owner_area_id = frame.township_ids[plan.cell].copy()
        self.county_id = frame.county_ids[plan.cell]
        self.department = np.full(n, -1, dtype=np.int32)
        self.step = np.ones(n, dtype=np.int8)  # intake starts the acceptance clock
        self.step_started_at = plan.reported_at.copy()
        self.due_at = deadlines.due("acceptance", plan.severity, plan.reported_at)
        self.ext_requested = np.zeros(n, dtype=np.int16)
        self.ext_granted = np.zeros(n, dtype=np.int16)
        self.accepted_at = np.full(n, NO_TIME, dtype=np.int64)
        self.accepted_on_time = np.full(n, -1, dtype=np.int8)
        self.closed_at = np.full(n, NO_TIME, dtype=np.int64)
        self.closed_on_time = np.full(n, -1, dtype=np.int8)
        self.outcome = np.full(n, -1, dtype=np.int8)
        self.satisfaction = np.full(n, -1, dtype=np.int8)
        self.merged_into = np.full(n, -1, dtype=np.int32)
        self.version = np.ones(n, dtype=np.int32)
        township = frame.township_ids[plan.cell]
        self.coordinator = _lookup(frame.coordinator_of_township, township)
        self.staff = _lookup(frame.staff_of_county, self.county_id)
        # Indexed by department position; the extra last entry answers -1 (none) with 0.
        self.handler = np.array([d.handler_id or 0 for d in frame.departments] + [0], np.int64)
        self.events: list[dict[str, Array]] = []

    def apply(
        self, step: _Step, before: State, after: State, r: Array, t: Array, rng: np.random.Generator
    ) -> None:
        action = step.action
        value = np.full(r.size, -1, dtype=np.int64)
        reason = np.full(r.size, -1, dtype=np.int16)
        automatic = np.zeros(r.size, dtype=bool)
        if action in REASONS:
            reason = (_REASON_BASE[action] + rng.integers(0, len(REASONS[action]), r.size)).astype(
                np.int16
            )
        if action in DEPARTMENT_ACTIONS:
            actor = self.handler[self.department[r]]
            if action is Action.RETURN:
                value = self.department[r].astype(np.int64)
                self.department[r] = -1
            elif action is Action.REQUEST_EXTENSION:
                value = self.values["ext_days"][r]
                self.ext_requested[r] = value
        else:
            actor = np.where(self.owner_level[r] == 0, self.coordinator[r], self.staff[r])
        if action is Action.ACCEPT:
            self.accepted_at[r] = t
            self.accepted_on_time[r] = (self.due_at[r] == NO_TIME) | (t <= self.due_at[r])
            self._clock(r, t, "handling")
        elif action in (Action.REJECT, Action.MERGE):
            if action is Action.MERGE:
                value = self.values["merge_into"][r]
                self.merged_into[r] = value
            self._stop(r)
            self.closed_at[r] = t
        elif action in (Action.RESOLVE_ON_SITE, Action.APPROVE_CLOSING):
            value = self.values["outcome"][r]
            self.outcome[r] = value
            self.closed_on_time[r] = (self.due_at[r] == NO_TIME) | (t <= self.due_at[r])
            self.closed_at[r] = t
            self._stop(r)
        elif action is Action.ASSIGN:
            value = self.values["dept_" + step.variant][r]
            self.department[r] = value
        elif action is Action.APPROVE_EXTENSION:
            value = self.ext_requested[r].astype(np.int64)
            self.ext_granted[r] += value.astype(np.int16)
            self.ext_requested[r] = 0
            has_due = self.due_at[r] != NO_TIME
            self.due_at[r] = np.where(has_due, self.due_at[r] + value * DAY_S, NO_TIME)
        elif action is Action.ESCALATE:
            self.owner_level[r] += 1
            value = self.owner_level[r].astype(np.int64)
            # Only county level is generated (escalations never start above a township).
            self.owner_area_id[r] = self.county_id[r]
            self.department[r] = -1
            self._clock(r, t, "acceptance" if before is State.REPORTED else "handling")
            if step.variant == "system":
                actor = np.zeros(r.size, dtype=np.int64)
                automatic[:] = True
                reason[:] = _SWEEP_REASON
        elif action is Action.FOLLOW_UP:
            value = self.values["satisfaction"][r]
            self.satisfaction[r] = value
        self.status[r] = STATE_CODE[after]
        self.version[r] += 1
        self.events.append(
            {
                "report": r.astype(np.int32),
                "at": t,
                "action": np.full(r.size, ACTION_CODE[action], dtype=np.int8),
                "from": np.full(r.size, STATE_CODE[before], dtype=np.int8),
                "to": np.full(r.size, STATE_CODE[after], dtype=np.int8),
                "actor": actor.astype(np.int64),
                "reason": reason,
                "value": value,
                "automatic": automatic,
            }
        )

    def _clock(self, r: Array, t: Array, step: str) -> None:
        self.step[r] = STEPS.index(step)
        self.step_started_at[r] = t
        self.due_at[r] = self.deadlines.due(step, self.severity[r], t)

    def _stop(self, r: Array) -> None:
        self.step[r] = 0
        self.due_at[r] = NO_TIME


def _lookup(mapping: Mapping[int, int], keys: Array) -> Array:
    if not mapping:
        return np.zeros(keys.size, dtype=np.int64)
    table_keys = np.array(sorted(mapping), dtype=np.int64)
    table_values = np.array([mapping[k] for k in table_keys], dtype=np.int64)
    pos = np.clip(np.searchsorted(table_keys, keys), 0, table_keys.size - 1)
    return np.where(table_keys[pos] == keys, table_values[pos], 0)


def _choose_departments(plan: ReportPlan, rng: np.random.Generator) -> tuple[Array, Array]:
    """Per report: the department it is assigned to (one of its county whose name fits the
    category, else any of the county's) and a wrong one (for the 退办 path); -1 when the
    county has none (or only one, for the wrong one)."""
    frame = plan.frame
    n = len(plan)
    primary = np.full(n, -1, dtype=np.int64)
    wrong = np.full(n, -1, dtype=np.int64)
    county = frame.county_ids[plan.cell]
    by_county: dict[int, list[int]] = {}
    for i, d in enumerate(frame.departments):
        by_county.setdefault(d.county_id, []).append(i)
    for county_id, members in sorted(by_county.items()):
        in_county = county == county_id
        for c, name in enumerate(frame.categories):
            rows = np.flatnonzero(in_county & (plan.category == c))
            if not rows.size:
                continue
            words = DEPARTMENT_KEYWORDS.get(name, DEPARTMENT_KEYWORDS["other"])
            fits = [i for i in members if any(w in frame.departments[i].name for w in words)]
            pool = np.array(fits or members)
            primary[rows] = pool[rng.integers(0, pool.size, rows.size)]
            others = np.array(members)
            if others.size > 1:
                # Uniform among the county's other departments: skip over the primary.
                k = rng.integers(0, others.size - 1, rows.size)
                k += k >= np.searchsorted(others, primary[rows])
                wrong[rows] = others[k]
    return primary, wrong


def plan_workflow(
    plan: ReportPlan, *, policy: DeadlinePolicy | None = None, random_ids: bool = False
) -> Workflow:
    """Each report's case history up to the end of the period (see the module docstring)."""
    rng = np.random.default_rng([plan.seed, 2])
    n = len(plan)
    sev = plan.severity.astype(np.int64)
    red = sev == SEVERITY_BY_CODE.index("red")
    t0 = plan.reported_at
    as_of = plan.as_of
    deadlines = _Deadlines(policy or DeadlinePolicy())

    dept_primary, dept_wrong = _choose_departments(plan, rng)

    # --- flags ---
    u = rng.random(n)
    intake = np.full(n, _ACCEPT, dtype=np.int64)
    intake[u < ON_SITE[sev] + REJECT[sev]] = _REJECT
    intake[u < ON_SITE[sev]] = _ON_SITE
    # A county without departments has nowhere to assign to: its cases are handled on site.
    intake[(intake == _ACCEPT) & (dept_primary < 0)] = _ON_SITE
    late = (rng.random(n) < LATE_ACCEPTANCE[sev]) & (intake != _REJECT)
    # A red report not accepted in time is escalated by the sweep, then the county accepts.
    e0 = late & red & (intake == _ACCEPT)
    late &= ~(red & (intake == _ON_SITE))
    ret = (rng.random(n) < RETURN_SHARE) & (dept_wrong >= 0)
    ext = rng.random(n) < EXTENSION_SHARE
    sb = rng.random(n) < SEND_BACK_SHARE
    notes = 1 + rng.choice(3, size=n, p=PROGRESS_NOTES)
    follow = rng.random(n) < FOLLOW_UP_SHARE
    u = rng.random(n)
    close = np.where(
        u < STALLED_SHARE, _STALLED, np.where(u < STALLED_SHARE + CLOSE_LATE_SHARE, _LATE, _ON_TIME)
    )
    esc = np.where(rng.random(n) < MANUAL_ESCALATION[sev], _MANUAL_ESC, _NO_ESC)
    esc[e0] = _NO_ESC
    close[e0 | (esc == _MANUAL_ESC)] = _ON_TIME
    # The sweep escalates a red case the moment it is overdue; after that the county closes it.
    esc[red & (close != _ON_TIME)] = _SYSTEM_ESC
    close[esc == _SYSTEM_ESC] = _ON_TIME
    # Handling flags mean nothing for cases that are never accepted (fewer distinct groups).
    handled = intake == _ACCEPT
    ret &= handled
    ext &= handled
    sb &= handled
    esc[~handled] = _NO_ESC
    notes[~handled] = 1
    follow &= intake != _REJECT

    # --- anchor times ---
    due_acc = deadlines.due("acceptance", plan.severity, t0)
    acc_span = due_acc - t0
    t_dec = t0 + (acc_span * (0.03 + 0.87 * rng.random(n))).astype(np.int64)
    late_by = (np.maximum(acc_span, 12 * 3600) * (0.05 + 0.95 * rng.random(n))).astype(np.int64)
    t_dec = np.where(late & ~e0, due_acc + late_by, t_dec)
    t_sys = due_acc + rng.integers(0, SWEEP_LATENCY_S + 1, n)
    due_county = deadlines.due("acceptance", plan.severity, t_sys)
    t_e0 = t_sys + ((due_county - t_sys) * (0.05 + 0.85 * rng.random(n))).astype(np.int64)
    t_dec = np.where(e0, t_e0, t_dec)
    due_h = deadlines.due("handling", plan.severity, t_dec)
    ext_days = EXTENSION_DAYS[rng.integers(0, EXTENSION_DAYS.size, n)]
    ext_s = np.where(ext, ext_days * DAY_S, 0)
    span = due_h - t_dec
    # An extension is asked for and granted before the case is due (a red one would be
    # escalated by the sweep otherwise).
    t_xr = t_dec + (span * (0.4 + 0.5 * rng.random(n))).astype(np.int64)
    t_xa = t_xr + ((due_h - t_xr) * (0.05 + 0.45 * rng.random(n))).astype(np.int64)
    on_time = t_dec + (span * (0.02 + 0.93 * rng.beta(1.2, 2.8, n))).astype(np.int64)
    on_time_ext = due_h + (ext_s * (0.05 + 0.9 * rng.random(n))).astype(np.int64)
    late_close = due_h + ext_s + 3600 + rng.exponential(4 * DAY_S, n).astype(np.int64)
    stalled = due_h + ext_s + rng.integers(STALLED_DAYS[0] * DAY_S, STALLED_DAYS[1] * DAY_S, n)
    after = np.where(ext, t_xa, t_dec)
    manual = after + ((due_h + ext_s - after) * (0.1 + 0.7 * rng.random(n))).astype(np.int64)
    system = due_h + ext_s + rng.integers(0, SWEEP_LATENCY_S + 1, n)
    t_h = np.select(
        [esc == _MANUAL_ESC, esc == _SYSTEM_ESC, close == _LATE, close == _STALLED, ext],
        [manual, system, late_close, stalled, on_time_ext],
        on_time,
    )
    due_c = deadlines.due("handling", plan.severity, t_h)
    t_c = t_h + ((due_c - t_h) * (0.05 + 0.9 * rng.beta(1.5, 2.5, n))).astype(np.int64)
    t_close = np.where(intake == _ON_SITE, t_dec, np.where(esc != _NO_ESC, t_c, t_h))
    t_f = t_close + ((0.3 + 6.7 * rng.random(n)) * DAY_S).astype(np.int64)
    anchors = {
        "t_sys": t_sys,
        "t_dec": t_dec,
        "t_xr": t_xr,
        "t_xa": t_xa,
        "t_h": t_h,
        "t_c": t_c,
        "t_f": t_f,
    }

    # --- values the events carry ---
    stabilised = np.where(intake == _ON_SITE, ON_SITE_STABILISED, STABILISED[sev])
    values: dict[str, Array] = {
        "dept_primary": dept_primary,
        "dept_wrong": dept_wrong,
        "ext_days": ext_days.astype(np.int64),
        "outcome": (rng.random(n) < stabilised).astype(np.int64),
        "satisfaction": rng.choice(3, size=n, p=SATISFACTION_SHARES).astype(np.int64),
        "merge_into": np.full(n, -1, dtype=np.int64),
    }

    # --- sequences: one group per distinct set of flags, with its event times ---
    key = (
        intake
        + 4 * e0
        + 8 * ret
        + 16 * ext
        + 32 * esc
        + 128 * sb
        + 256 * (notes - 1)
        + 1024 * follow
    )
    groups = _groups(key, anchors, rng)

    # --- duplicates, merged into an earlier open case of the same cell and category ---
    t_merge = t0 + (acc_span * (0.02 + 0.78 * rng.random(n))).astype(np.int64)
    owner_stays = (esc == _NO_ESC) & ~e0
    dup, target = _choose_merges(plan, groups, owner_stays, t_merge, rng)
    target_state = _state_at(groups, target, t_merge[dup])
    values["merge_into"][dup] = target
    is_dup = np.zeros(n, dtype=bool)
    is_dup[dup] = True
    groups = [_Group(g.steps, g.rows[~is_dup[g.rows]], g.times[~is_dup[g.rows]]) for g in groups]
    merge_steps = _steps(_MERGE, False, False, False, _NO_ESC, False, 1, False)
    groups.append(_Group(merge_steps, dup, t_merge[dup][:, None]))

    replay = _Replay(plan, deadlines, values)
    for group in groups:
        states = _states(group.steps)
        for j, step in enumerate(group.steps):
            kept = group.times[:, j] <= as_of
            if not kept.any():
                break
            replay.apply(
                step, states[j], states[j + 1], group.rows[kept], group.times[kept, j], rng
            )

    # The case a duplicate went into records it, in the state it had then (cases._merge).
    done = t_merge[dup] <= as_of
    if done.any():
        into = target[done]
        replay.events.append(
            {
                "report": into.astype(np.int32),
                "at": t_merge[dup][done],
                "action": np.full(into.size, MERGED_IN, dtype=np.int8),
                "from": target_state[done],
                "to": target_state[done],
                "actor": replay.coordinator[into],
                "reason": np.full(into.size, -1, dtype=np.int16),
                "value": dup[done].astype(np.int64),
                "automatic": np.zeros(into.size, dtype=bool),
            }
        )
    events = _concat_events(replay.events)

    id_rng = np.random.default_rng(secrets.randbits(128) if random_ids else [plan.seed, 4])
    fraction = (policy or DeadlinePolicy()).warning_fraction
    return Workflow(
        ids=uuid_strings(id_rng.bytes(16 * n)),
        status=replay.status,
        owner_level=replay.owner_level,
        owner_area_id=replay.owner_area_id,
        department=replay.department,
        step=replay.step,
        step_started_at=replay.step_started_at,
        due_at=replay.due_at,
        notified_light=_lights(replay.step_started_at, replay.due_at, as_of, fraction),
        extension_days_requested=replay.ext_requested,
        extension_days_granted=replay.ext_granted,
        accepted_at=replay.accepted_at,
        accepted_on_time=replay.accepted_on_time,
        closed_at=replay.closed_at,
        closed_on_time=replay.closed_on_time,
        outcome=replay.outcome,
        satisfaction=replay.satisfaction,
        merged_into=replay.merged_into,
        version=replay.version,
        ev_report=events["report"],
        ev_at=events["at"],
        ev_action=events["action"],
        ev_from=events["from"],
        ev_to=events["to"],
        ev_actor=events["actor"],
        ev_reason=events["reason"],
        ev_value=events["value"],
        ev_automatic=events["automatic"],
    )


@dataclass(frozen=True, eq=False)  # arrays: compare them with numpy
class _Group:
    """Reports that share one action sequence, with their event times (rows × steps)."""

    steps: tuple[_Step, ...]
    rows: Array
    times: Array


def _groups(key: Array, anchors: Mapping[str, Array], rng: np.random.Generator) -> list[_Group]:
    if not key.size:
        return []
    uniq, inverse = np.unique(key, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    members = np.split(order, np.cumsum(np.bincount(inverse))[:-1])
    out = []
    for k, rows in zip(uniq.tolist(), members, strict=True):
        steps = _steps(
            intake=k & 3,
            e0=bool(k >> 2 & 1),
            ret=bool(k >> 3 & 1),
            ext=bool(k >> 4 & 1),
            esc=k >> 5 & 3,
            sb=bool(k >> 7 & 1),
            notes=(k >> 8 & 3) + 1,
            follow=bool(k >> 10 & 1),
        )
        out.append(_Group(steps, rows, _times(steps, rows, anchors, rng)))
    return out


def _times(
    steps: Sequence[_Step], rows: Array, anchors: Mapping[str, Array], rng: np.random.Generator
) -> Array:
    """Event times: anchored steps at their anchor; each run of unanchored steps at sorted
    random fractions between the anchored steps around it, squared so they bunch at its start
    (assignment and sign-for within hours of acceptance, notes later); then made strictly
    increasing by at least a second."""
    times = np.empty((rows.size, len(steps)), dtype=np.int64)
    for j, step in enumerate(steps):
        if step.anchor != _BETWEEN:
            times[:, j] = anchors[step.anchor][rows]
    j = 0
    while j < len(steps):
        if steps[j].anchor != _BETWEEN:
            j += 1
            continue
        k = j
        while steps[k].anchor == _BETWEEN:  # every sequence starts and ends anchored
            k += 1
        frac = np.sort(rng.random((rows.size, k - j)), axis=1) ** 2
        lo, hi = times[:, j - 1], times[:, k]
        times[:, j:k] = lo[:, None] + (frac * (hi - lo)[:, None]).astype(np.int64)
        j = k
    offset = np.arange(len(steps))
    return np.maximum.accumulate(times - offset, axis=1) + offset


def _choose_merges(
    plan: ReportPlan,
    groups: Sequence[_Group],
    owner_stays: Array,
    t_merge: Array,
    rng: np.random.Generator,
) -> tuple[Array, Array]:
    """Pairs (duplicate, earlier case): the previous report of the same cell and category
    within MERGE_WINDOW_S, still open and owned by the township when the duplicate is merged;
    about MERGE_SHARE of all reports. A duplicate is never itself merged into."""
    n = len(plan)
    t0 = plan.reported_at
    order = np.lexsort((t0, plan.category, plan.cell))
    a, b = order[:-1], order[1:]
    candidate = (
        (plan.cell[a] == plan.cell[b])
        & (plan.category[a] == plan.category[b])
        & (t0[b] > t0[a])
        & (t0[b] - t0[a] <= MERGE_WINDOW_S)
        & owner_stays[a]
    )
    dup, target = b[candidate], a[candidate]
    state = _state_at(groups, target, t_merge[dup])
    open_codes = np.array([STATE_CODE[s] for s in OPEN_STATES])
    ok = np.isin(state, open_codes)
    dup, target = dup[ok], target[ok]
    if not dup.size:
        return dup, target
    pick = rng.random(dup.size) < min(1.0, MERGE_SHARE * n / dup.size)
    dup, target = dup[pick], target[pick]
    keep = ~np.isin(target, dup)
    return dup[keep], target[keep]


def _state_at(groups: Sequence[_Group], reports: Array, at: Array) -> Array:
    """The state of each of `reports` at time `at` (aligned), from the full planned timelines."""
    if not reports.size:
        return np.zeros(0, dtype=np.int8)
    wanted = np.zeros(max(int(g.rows.max(initial=-1)) for g in groups) + 1, dtype=bool)
    wanted[reports] = True
    parts_r, parts_t, parts_s = [], [], []
    for g in groups:
        sel = wanted[g.rows]
        if not sel.any():
            continue
        after = np.array([STATE_CODE[s] for s in _states(g.steps)[1:]], dtype=np.int8)
        rows = g.rows[sel]
        parts_r.append(np.repeat(rows, len(g.steps)))
        parts_t.append(g.times[sel].ravel())
        parts_s.append(np.tile(after, rows.size))
    if not parts_r:
        return np.full(reports.size, STATE_CODE[State.REPORTED], dtype=np.int8)
    rep = np.concatenate(parts_r).astype(np.int64)
    tim = np.concatenate(parts_t)
    sta = np.concatenate(parts_s)
    base = min(int(tim.min()), int(at.min()))
    keys = (rep << 34) + (tim - base)  # times fit 34 bits (over 500 years of seconds)
    order = np.argsort(keys, kind="stable")
    keys, rep, sta = keys[order], rep[order], sta[order]
    pos = np.searchsorted(keys, (reports.astype(np.int64) << 34) + (at - base), side="right") - 1
    valid = (pos >= 0) & (rep[np.maximum(pos, 0)] == reports)
    return np.where(valid, sta[np.maximum(pos, 0)], STATE_CODE[State.REPORTED]).astype(np.int8)


def _lights(started: Array, due: Array, as_of: int, fraction: float) -> Array:
    """The light the sweep would have notified by the end of the period (so the first sweep
    after loading does not warn about every old case at once)."""
    light = np.zeros(due.size, dtype=np.int8)
    running = due != NO_TIME
    light[running & (started + (due - started) * fraction <= as_of)] = 1
    light[running & (due <= as_of)] = 2
    return light


_EVENT_DTYPES = {
    "report": np.int32,
    "at": np.int64,
    "action": np.int8,
    "from": np.int8,
    "to": np.int8,
    "actor": np.int64,
    "reason": np.int16,
    "value": np.int64,
    "automatic": np.bool_,
}


def _concat_events(parts: Sequence[Mapping[str, Array]]) -> dict[str, Array]:
    if not parts:
        return {k: np.zeros(0, dtype=t) for k, t in _EVENT_DTYPES.items()}
    events: dict[str, Array] = {
        k: np.concatenate([p[k] for p in parts]).astype(t) for k, t in _EVENT_DTYPES.items()
    }
    # By report, then time; a merged_in note after a transition in the same second.
    order = np.lexsort(
        (events["action"] == MERGED_IN, events["at"], events["report"].astype(np.int64))
    )
    return {k: v[order] for k, v in events.items()}


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_UUID_POSITIONS = np.r_[0:8, 9:13, 14:18, 19:23, 24:36]


def hex_digits(raw: Array) -> Array:
    """(n, k) bytes → (n, 2k) ASCII hex digits."""
    out = np.empty((raw.shape[0], raw.shape[1] * 2), dtype=np.uint8)
    out[:, 0::2] = _HEX[raw >> 4]
    out[:, 1::2] = _HEX[raw & 15]
    return out


def uuid_strings(raw: bytes) -> Array:
    """Version-4 UUID strings (as ASCII bytes, dtype S36) from 16 random bytes each."""
    n = len(raw) // 16
    b = np.frombuffer(raw, dtype=np.uint8).reshape(n, 16).copy()
    b[:, 6] = (b[:, 6] & 0x0F) | 0x40
    b[:, 8] = (b[:, 8] & 0x3F) | 0x80
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    out[:, _UUID_POSITIONS] = hex_digits(b)
    return out.view("S36").ravel()


def previous_at_same_place(
    cell: Array, category: Array, reported_at: Array, ids: Array, merged: Array
) -> Array:
    """reports.prev_place_at for a whole history (migration 0007 keeps it by triggers, which
    COPY skips): per report, the reported_at of the previous report of the same cell and
    category, merged duplicates left out and ties ordered by id (uuid order is the order of
    its lowercase hex text); NO_TIME for a place's first report and for merged ones."""
    out = np.full(cell.size, NO_TIME, dtype=np.int64)
    kept = np.flatnonzero(~merged)
    # Sorted by place, then time, then id: each report's predecessor is the entry before it
    # when that entry is of the same place.
    order = kept[np.lexsort((ids[kept], reported_at[kept], category[kept], cell[kept]))]
    same_place = (cell[order[1:]] == cell[order[:-1]]) & (
        category[order[1:]] == category[order[:-1]]
    )
    out[order[1:][same_place]] = reported_at[order[:-1][same_place]]
    return out
