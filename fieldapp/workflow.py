"""The case workflow as pure code: states, actions, who may take them, and where they lead
(DESIGN §1, the closed loop 发现 → 受理 → 交办 → 办理 → 审查 → 办结 → 回访).

`TRANSITIONS` is the explicit table (state × action × actor relation → new state). Services
call `decide()`; nothing else decides whether a transition is legal. Actor relations, not bare
roles, appear in the table, because the same coordinator may own one case and not another:

- owner: the staff who own the case now — the township's coordinator while it is at township
  level, the county's staff after escalation to the county, city staff at city level;
- department: a handler of the department the case is assigned to;
- supervisor: city staff (督办 supervision orders);
- reporter: the officer who filed it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    REPORTED = "reported"  # 上报, waiting for acceptance
    ACCEPTED = "accepted"  # 受理, owned, not yet assigned
    REJECTED = "rejected"  # 不予受理 (with a reason)
    MERGED = "merged"  # 合并 into another case (a duplicate)
    ASSIGNED = "assigned"  # 交办 to a department, waiting for sign-for
    SIGNED_FOR = "signed_for"  # 签收
    IN_PROGRESS = "in_progress"  # 办理中
    CLOSING_REQUESTED = "closing_requested"  # 申请办结, waiting for review (审查)
    CLOSED = "closed"  # 办结 with an outcome


class Action(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"
    MERGE = "merge"
    RESOLVE_ON_SITE = "resolve_on_site"  # 自办自结
    ASSIGN = "assign"
    SIGN_FOR = "sign_for"
    RETURN = "return"  # 退办: wrong department
    PROGRESS = "progress"  # a progress note
    REQUEST_EXTENSION = "request_extension"  # 延期申请
    APPROVE_EXTENSION = "approve_extension"
    DENY_EXTENSION = "deny_extension"
    REQUEST_CLOSING = "request_closing"
    APPROVE_CLOSING = "approve_closing"
    SEND_BACK = "send_back"
    ESCALATE = "escalate"  # 上交: ownership moves up one level
    SUPERVISE = "supervise"  # 督办
    FOLLOW_UP = "follow_up"  # 回访 with a satisfaction rating
    UNMERGE = "unmerge"  # 撤销合并: a merge undone, the case back in its state before it
    REASSIGN = "reassign"  # 改派: to another department, with a reason


class Relation(StrEnum):
    OWNER = "owner"
    DEPARTMENT = "department"
    SUPERVISOR = "supervisor"
    REPORTER = "reporter"


class Outcome(StrEnum):
    RESOLVED = "resolved"  # 化解
    STABILISED = "stabilised"  # 稳控
    ESCALATED = "escalated"  # 上交 (closed at this level by handing it up)


class Satisfaction(StrEnum):
    SATISFIED = "satisfied"  # 满意
    BASICALLY = "basically_satisfied"  # 基本满意
    DISSATISFIED = "dissatisfied"  # 不满意


OPEN_STATES = frozenset(
    {
        State.REPORTED,
        State.ACCEPTED,
        State.ASSIGNED,
        State.SIGNED_FOR,
        State.IN_PROGRESS,
        State.CLOSING_REQUESTED,
    }
)
HANDLING_STATES = frozenset({State.ASSIGNED, State.SIGNED_FOR, State.IN_PROGRESS})
ESCALATION_LEVELS = ("township", "county", "city")

OWN, DEPT, SUP, REP = Relation.OWNER, Relation.DEPARTMENT, Relation.SUPERVISOR, Relation.REPORTER

# (state, action) → (relations allowed, new state). A new state of None means "unchanged".
TRANSITIONS: dict[tuple[State, Action], tuple[frozenset[Relation], State | None]] = {
    (State.REPORTED, Action.ACCEPT): (frozenset({OWN}), State.ACCEPTED),
    (State.REPORTED, Action.REJECT): (frozenset({OWN}), State.REJECTED),
    (State.REPORTED, Action.MERGE): (frozenset({OWN}), State.MERGED),
    (State.REPORTED, Action.RESOLVE_ON_SITE): (frozenset({OWN}), State.CLOSED),
    (State.REPORTED, Action.ESCALATE): (frozenset({OWN}), State.REPORTED),
    (State.REPORTED, Action.SUPERVISE): (frozenset({SUP}), None),
    (State.ACCEPTED, Action.ASSIGN): (frozenset({OWN}), State.ASSIGNED),
    (State.ACCEPTED, Action.MERGE): (frozenset({OWN}), State.MERGED),
    (State.ACCEPTED, Action.RESOLVE_ON_SITE): (frozenset({OWN}), State.CLOSED),
    (State.ACCEPTED, Action.ESCALATE): (frozenset({OWN}), State.ACCEPTED),
    (State.ACCEPTED, Action.SUPERVISE): (frozenset({SUP}), None),
    (State.ASSIGNED, Action.SIGN_FOR): (frozenset({DEPT}), State.SIGNED_FOR),
    (State.ASSIGNED, Action.RETURN): (frozenset({DEPT}), State.ACCEPTED),
    (State.ASSIGNED, Action.REASSIGN): (frozenset({OWN}), State.ASSIGNED),
    (State.ASSIGNED, Action.ESCALATE): (frozenset({OWN}), State.ACCEPTED),
    (State.ASSIGNED, Action.SUPERVISE): (frozenset({SUP}), None),
    (State.SIGNED_FOR, Action.PROGRESS): (frozenset({DEPT}), State.IN_PROGRESS),
    (State.SIGNED_FOR, Action.REQUEST_EXTENSION): (frozenset({DEPT}), None),
    (State.SIGNED_FOR, Action.APPROVE_EXTENSION): (frozenset({OWN}), None),
    (State.SIGNED_FOR, Action.DENY_EXTENSION): (frozenset({OWN}), None),
    (State.SIGNED_FOR, Action.REQUEST_CLOSING): (frozenset({DEPT}), State.CLOSING_REQUESTED),
    (State.SIGNED_FOR, Action.REASSIGN): (frozenset({OWN}), State.ASSIGNED),
    (State.SIGNED_FOR, Action.ESCALATE): (frozenset({OWN}), State.ACCEPTED),
    (State.SIGNED_FOR, Action.SUPERVISE): (frozenset({SUP}), None),
    (State.IN_PROGRESS, Action.PROGRESS): (frozenset({DEPT}), None),
    (State.IN_PROGRESS, Action.REQUEST_EXTENSION): (frozenset({DEPT}), None),
    (State.IN_PROGRESS, Action.APPROVE_EXTENSION): (frozenset({OWN}), None),
    (State.IN_PROGRESS, Action.DENY_EXTENSION): (frozenset({OWN}), None),
    (State.IN_PROGRESS, Action.REQUEST_CLOSING): (frozenset({DEPT}), State.CLOSING_REQUESTED),
    (State.IN_PROGRESS, Action.REASSIGN): (frozenset({OWN}), State.ASSIGNED),
    (State.IN_PROGRESS, Action.ESCALATE): (frozenset({OWN}), State.ACCEPTED),
    (State.IN_PROGRESS, Action.SUPERVISE): (frozenset({SUP}), None),
    (State.CLOSING_REQUESTED, Action.APPROVE_CLOSING): (frozenset({OWN}), State.CLOSED),
    (State.CLOSING_REQUESTED, Action.SEND_BACK): (frozenset({OWN}), State.IN_PROGRESS),
    (State.CLOSING_REQUESTED, Action.SUPERVISE): (frozenset({SUP}), None),
    (State.CLOSED, Action.FOLLOW_UP): (frozenset({OWN, REP}), None),
    # The new state is the one the merge left (in its event): see RESTORES_STATE.
    (State.MERGED, Action.UNMERGE): (frozenset({OWN}), None),
}
RESTORES_STATE = frozenset({Action.UNMERGE})
"""Actions whose new state is not in the table but in the case's record: an undone merge
returns the case to the state the merge took it from (the service reads it from the merge's
event)."""

# The button hierarchy of the case page: at most one primary step per state (what the case
# waits for), and the steps that end or hand away a case, which look destructive and ask to
# confirm. The other allowed steps are secondary.
PRIMARY_ACTIONS: dict[State, Action] = {
    State.REPORTED: Action.ACCEPT,
    State.ACCEPTED: Action.ASSIGN,
    State.ASSIGNED: Action.SIGN_FOR,
    State.SIGNED_FOR: Action.PROGRESS,
    State.IN_PROGRESS: Action.REQUEST_CLOSING,
    State.CLOSING_REQUESTED: Action.APPROVE_CLOSING,
    State.MERGED: Action.UNMERGE,
    State.CLOSED: Action.FOLLOW_UP,
}
DESTRUCTIVE_ACTIONS = frozenset({Action.REJECT, Action.MERGE})

# What each action needs in its request, checked before the transition.
REQUIRES_REASON = frozenset(
    {
        Action.REJECT,
        Action.RETURN,
        Action.SEND_BACK,
        Action.ESCALATE,
        Action.REQUEST_EXTENSION,
        Action.DENY_EXTENSION,
        Action.REASSIGN,
    }
)
REQUIRES_OUTCOME = frozenset({Action.APPROVE_CLOSING, Action.RESOLVE_ON_SITE})


class IllegalTransition(Exception):
    def __init__(self, state: State, action: Action, allowed: list[Action]) -> None:
        super().__init__(f"{action} is not possible in state {state}")
        self.state, self.action, self.allowed = state, action, allowed


class NotYours(Exception):
    """The action exists in this state, but this actor may not take it."""

    def __init__(self, action: Action, who: frozenset[Relation]) -> None:
        super().__init__(f"{action} is for {', '.join(sorted(who))}")
        self.action, self.who = action, who


@dataclass(frozen=True)
class Decision:
    action: Action
    from_state: State
    to_state: State


def allowed_actions(state: State, relations: frozenset[Relation]) -> list[Action]:
    """Actions this actor may take in this state, in table order (for buttons and messages)."""
    return [a for (s, a), (who, _) in TRANSITIONS.items() if s == state and who & relations]


def decide(state: State, action: Action, relations: frozenset[Relation]) -> Decision:
    """The transition, or IllegalTransition / NotYours explaining what is allowed. For
    RESTORES_STATE actions `to_state` is the current state: the caller knows the real one."""
    entry = TRANSITIONS.get((state, action))
    if entry is None:
        raise IllegalTransition(state, action, allowed_actions(state, relations))
    who, to_state = entry
    if not who & relations:
        raise NotYours(action, who)
    return Decision(action, state, to_state or state)


def action_kind(state: State, action: Action) -> str:
    """How the case page shows a step's button: primary, destructive or secondary."""
    if PRIMARY_ACTIONS.get(state) is action:
        return "primary"
    if action in DESTRUCTIVE_ACTIONS:
        return "destructive"
    return "secondary"


def next_level(level: str) -> str | None:
    """The level ownership moves to on escalation (None above the city)."""
    index = ESCALATION_LEVELS.index(level)
    return ESCALATION_LEVELS[index + 1] if index + 1 < len(ESCALATION_LEVELS) else None
