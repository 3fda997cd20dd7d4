"""Every action sequence the demo's case planner can build (`fieldapp.demo.cases._steps`, over
all combinations of its flags) is a path of the app's state machine, checked against
`workflow.TRANSITIONS` itself — the table the services decide with — including who may take
each step. The generated histories' events are checked the same way in
tests/unit/test_history_plan.py, and replayed through the services in
tests/integration/test_demo_replay.py."""

from __future__ import annotations

import itertools

from fieldapp.demo import cases as C
from fieldapp.workflow import TRANSITIONS, Action, State


def test_every_planned_sequence_is_a_path_of_the_state_machine() -> None:
    flags = itertools.product(
        (C._ACCEPT, C._REJECT, C._ON_SITE, C._MERGE),  # intake
        (False, True),  # escalated by the sweep before acceptance
        (False, True),  # returned by a wrong department
        (False, True),  # extension
        (C._NO_ESC, C._MANUAL_ESC, C._SYSTEM_ESC),
        (False, True),  # sent back once
        (1, 2, 3),  # progress notes
        (False, True),  # follow-up visit
    )
    seen: set[tuple[State, Action]] = set()
    for combination in flags:
        state = State.REPORTED
        for step in C._steps(*combination):
            assert (state, step.action) in TRANSITIONS, (combination, state, step.action)
            who, to_state = TRANSITIONS[(state, step.action)]
            assert C.actor_relation(step.action) in who, (combination, step.action)
            seen.add((state, step.action))
            state = to_state or state
        # Every planned case ends where the app can leave it: closed, rejected or merged.
        assert state in (State.CLOSED, State.REJECTED, State.MERGED), combination
        # The planner's own check (workflow.decide) agrees with the table.
        assert C._states(C._steps(*combination))[-1] == state
    # The planner uses every kind of step a case takes in the app except those it documents
    # as not generated (supervision, denied extensions, reassignment, undoing a merge).
    not_generated = {Action.SUPERVISE, Action.DENY_EXTENSION, Action.REASSIGN, Action.UNMERGE}
    assert {a for _s, a in seen} == set(Action) - not_generated
