"""The workflow state machine and deadline policy, exhaustively and with a frozen clock (no
database)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import product

import pytest

from fieldapp.deadlines import DeadlinePolicy, Light, light
from fieldapp.workflow import (
    DESTRUCTIVE_ACTIONS,
    HANDLING_STATES,
    OPEN_STATES,
    PRIMARY_ACTIONS,
    REQUIRES_REASON,
    RESTORES_STATE,
    TRANSITIONS,
    Action,
    IllegalTransition,
    NotYours,
    Relation,
    State,
    action_kind,
    allowed_actions,
    decide,
    next_level,
)

ALL_RELATION_SETS = [
    frozenset(combo)
    for n in range(len(Relation) + 1)
    for combo in __import__("itertools").combinations(list(Relation), n)
]


@pytest.mark.parametrize(("state", "action"), list(product(State, Action)))
def test_every_state_action_pair_behaves_as_the_table_says(state: State, action: Action) -> None:
    entry = TRANSITIONS.get((state, action))
    for relations in ALL_RELATION_SETS:
        if entry is None:
            with pytest.raises(IllegalTransition) as err:
                decide(state, action, relations)
            assert err.value.allowed == allowed_actions(state, relations)
            continue
        who, to_state = entry
        if who & relations:
            decision = decide(state, action, relations)
            assert decision.from_state == state
            assert decision.to_state == (to_state or state)
        else:
            with pytest.raises(NotYours):
                decide(state, action, relations)


def test_the_closed_loop_path() -> None:
    owner, dept = frozenset({Relation.OWNER}), frozenset({Relation.DEPARTMENT})
    path = [
        (Action.ACCEPT, owner, State.ACCEPTED),
        (Action.ASSIGN, owner, State.ASSIGNED),
        (Action.SIGN_FOR, dept, State.SIGNED_FOR),
        (Action.PROGRESS, dept, State.IN_PROGRESS),
        (Action.REQUEST_CLOSING, dept, State.CLOSING_REQUESTED),
        (Action.SEND_BACK, owner, State.IN_PROGRESS),
        (Action.REQUEST_CLOSING, dept, State.CLOSING_REQUESTED),
        (Action.APPROVE_CLOSING, owner, State.CLOSED),
        (Action.FOLLOW_UP, owner, State.CLOSED),
    ]
    state = State.REPORTED
    for action, who, expected in path:
        state = decide(state, action, who).to_state
        assert state == expected


def test_terminal_states_allow_nothing_but_follow_up_and_undoing_a_merge() -> None:
    everyone = frozenset(Relation)
    assert allowed_actions(State.REJECTED, everyone) == []
    # A merge can be undone by the owner (the state comes from the merge's event).
    assert allowed_actions(State.MERGED, everyone) == [Action.UNMERGE]
    assert allowed_actions(State.MERGED, frozenset({Relation.DEPARTMENT})) == []
    assert Action.UNMERGE in RESTORES_STATE
    assert allowed_actions(State.CLOSED, everyone) == [Action.FOLLOW_UP]
    assert State.CLOSED not in OPEN_STATES


def test_the_owner_can_reassign_a_case_while_a_department_has_it() -> None:
    owner = frozenset({Relation.OWNER})
    for state in HANDLING_STATES:
        assert Action.REASSIGN in allowed_actions(state, owner)
        assert decide(state, Action.REASSIGN, owner).to_state == State.ASSIGNED
        with pytest.raises(NotYours):
            decide(state, Action.REASSIGN, frozenset({Relation.DEPARTMENT}))
    for state in set(State) - HANDLING_STATES:
        assert Action.REASSIGN not in allowed_actions(state, frozenset(Relation))
    assert Action.REASSIGN in REQUIRES_REASON


# What each actor may do per state, written out: the buttons a person sees. A change to the
# table that changes these is a change people will notice.
EXPECTED_ALLOWED = {
    (State.REPORTED, Relation.OWNER): ["accept", "reject", "merge", "resolve_on_site", "escalate"],
    (State.ACCEPTED, Relation.OWNER): ["assign", "merge", "resolve_on_site", "escalate"],
    (State.ASSIGNED, Relation.OWNER): ["reassign", "escalate"],
    (State.ASSIGNED, Relation.DEPARTMENT): ["sign_for", "return"],
    (State.SIGNED_FOR, Relation.OWNER): [
        "approve_extension",
        "deny_extension",
        "reassign",
        "escalate",
    ],
    (State.IN_PROGRESS, Relation.DEPARTMENT): [
        "progress",
        "request_extension",
        "request_closing",
    ],
    (State.CLOSING_REQUESTED, Relation.OWNER): ["approve_closing", "send_back"],
    (State.MERGED, Relation.OWNER): ["unmerge"],
    (State.CLOSED, Relation.REPORTER): ["follow_up"],
}


@pytest.mark.parametrize(("state", "relation"), list(EXPECTED_ALLOWED))
def test_allowed_actions_per_state_are_right(state: State, relation: Relation) -> None:
    got = [a.value for a in allowed_actions(state, frozenset({relation}))]
    assert got == EXPECTED_ALLOWED[(state, relation)]


def test_one_primary_step_per_state_and_it_is_a_step_of_that_state() -> None:
    for state, action in PRIMARY_ACTIONS.items():
        assert (state, action) in TRANSITIONS, (state, action)
        assert action not in DESTRUCTIVE_ACTIONS
    for state in State:
        kinds = [action_kind(state, a) for a in allowed_actions(state, frozenset(Relation))]
        assert kinds.count("primary") <= 1, state
    assert action_kind(State.REPORTED, Action.ACCEPT) == "primary"
    assert action_kind(State.REPORTED, Action.REJECT) == "destructive"
    assert action_kind(State.REPORTED, Action.MERGE) == "destructive"
    assert action_kind(State.REPORTED, Action.ESCALATE) == "secondary"
    assert action_kind(State.ACCEPTED, Action.ACCEPT) == "secondary"  # not this state's


def test_supervision_is_only_for_the_city_and_changes_no_state() -> None:
    for state in OPEN_STATES:
        assert decide(state, Action.SUPERVISE, frozenset({Relation.SUPERVISOR})).to_state == state
        with pytest.raises(NotYours):
            decide(state, Action.SUPERVISE, frozenset({Relation.OWNER}))


def test_escalation_levels() -> None:
    assert next_level("township") == "county"
    assert next_level("county") == "city"
    assert next_level("city") is None


# --- deadlines --------------------------------------------------------------------------------

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)  # a Friday


@pytest.mark.parametrize(
    ("severity", "expected"),
    [("red", timedelta(hours=2)), ("orange", timedelta(hours=24)), ("yellow", timedelta(days=3))],
)
def test_default_acceptance_limits(severity: str, expected: timedelta) -> None:
    assert DeadlinePolicy().due("acceptance", severity, T0) == T0 + expected


def test_handling_is_fifteen_days() -> None:
    assert DeadlinePolicy().due("handling", "orange", T0) == T0 + timedelta(days=15)


def test_business_days_skip_weekends_and_holidays() -> None:
    policy = DeadlinePolicy(business_days=True, holidays=frozenset({date(2026, 11, 24)}))
    # Friday + 3 business days: Mon 23, (Tue 24 holiday), Wed 25, Thu 26.
    assert policy.due("acceptance", "yellow", T0).date() == date(2026, 11, 26)
    # Hour-based limits run on the wall clock even with a calendar.
    assert policy.due("acceptance", "red", T0) == T0 + timedelta(hours=2)


def test_light_with_a_frozen_and_advancing_clock() -> None:
    due = T0 + timedelta(hours=3)
    assert light(T0, due, T0) == Light.GREEN
    assert light(T0, due, T0 + timedelta(hours=1, minutes=59)) == Light.GREEN
    assert light(T0, due, T0 + timedelta(hours=2)) == Light.YELLOW  # exactly 2/3
    assert light(T0, due, T0 + timedelta(hours=2, minutes=59)) == Light.YELLOW
    assert light(T0, due, due) == Light.RED
    assert light(T0, None, T0 + timedelta(days=99)) == Light.GREEN
