"""The case workflow service: every transition goes through `act()`, which checks the actor's
role and area, asks the pure state machine (`fieldapp.workflow.decide`), applies the effects,
writes the append-only event and the audit record, and bumps the version — all in the
caller's transaction. Two people acting at once: the second gets a conflict (optimistic
concurrency on `reports.version`), and nothing is lost."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from fieldapp import deadlines
from fieldapp.deadlines import DeadlinePolicy
from fieldapp.models import Area, CaseEvent, Department, Report, SupervisionOrder, User
from fieldapp.services import audit, notifications, reports, settings
from fieldapp.services.errors import Conflict, Forbidden, InvalidInput, NotFound
from fieldapp.workflow import (
    OPEN_STATES,
    REQUIRES_OUTCOME,
    Action,
    IllegalTransition,
    NotYours,
    Outcome,
    Relation,
    Satisfaction,
    State,
    decide,
    next_level,
)

# Notes and summaries are also required for these (besides workflow.REQUIRES_REASON).
NEEDS_TEXT = frozenset(
    {
        Action.REJECT,
        Action.RETURN,
        Action.SEND_BACK,
        Action.ESCALATE,
        Action.REQUEST_EXTENSION,
        Action.DENY_EXTENSION,
        Action.PROGRESS,
        Action.REQUEST_CLOSING,
        Action.SUPERVISE,
    }
)
OWNER_ROLE_BY_LEVEL = {"township": "coordinator", "county": "county", "city": "city"}


def relations(user: User, report: Report) -> frozenset[Relation]:
    """How `user` stands to this case (owner, department, supervisor, reporter)."""
    found = set()
    owner_role = OWNER_ROLE_BY_LEVEL.get(report.owner_level)
    if user.role == owner_role and (
        report.owner_level == "city" or user.area_id == report.owner_area_id
    ):
        found.add(Relation.OWNER)
    if (
        user.role == "department"
        and report.department_id is not None
        and user.department_id == report.department_id
    ):
        found.add(Relation.DEPARTMENT)
    if user.role == "city":
        found.add(Relation.SUPERVISOR)
    if user.role == "officer" and user.id == report.officer_id:
        found.add(Relation.REPORTER)
    return frozenset(found)


def act(
    session: Session,
    user: User,
    report_id: uuid.UUID,
    action_name: str,
    body: Any,
    *,
    now: datetime,
    policy: DeadlinePolicy,
    remote_addr: str | None = None,
) -> dict[str, Any]:
    """Take `action_name` on a case; returns the case JSON after the transition."""
    try:
        action = Action(action_name)
    except ValueError:
        raise NotFound(
            _(
                "Unknown action. Possible actions: %(actions)s.",
                actions=", ".join(a.value for a in Action),
            )
        ) from None
    if not isinstance(body, dict):
        raise InvalidInput(_("The body must be a JSON object."), {}, code="invalid_action")
    report = reports.get_report(session, user, report_id)
    version = body.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise InvalidInput(
            _("Send the case version you saw, so that changes by others are not overwritten."),
            {"version": _("Required: the case's current version number.")},
            code="invalid_action",
        )
    if version != report.version:
        raise Conflict(_stale_message(session, report))
    state = State(report.status)
    try:
        decision = decide(state, action, relations(user, report))
    except IllegalTransition as err:
        allowed = ", ".join(_action_label(a) for a in err.allowed) or _("none")
        raise Conflict(
            _(
                "“%(action)s” is not possible while the case is “%(state)s”. You can: %(allowed)s.",
                action=_action_label(action),
                state=_state_label(state),
                allowed=allowed,
            )
        ) from None
    except NotYours:
        raise Forbidden(_("This step is not yours to take on this case.")) from None

    reason = body.get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > 2000):
        raise InvalidInput(
            _("Check the fields."),
            {"reason": _("Text of at most 2,000 characters.")},
            code="invalid_action",
        )
    reason = reason.strip() if isinstance(reason, str) else None
    if action in NEEDS_TEXT and not reason:
        raise InvalidInput(
            _("Check the fields."), {"reason": _("Required for this step.")}, code="invalid_action"
        )

    values: dict[str, Any] = {"status": decision.to_state.value}
    data: dict[str, Any] = {}
    notify_owner_ids: list[int] = []
    effect = _EFFECTS.get(action)
    if effect is not None:
        # The case's own policy version (it keeps the rules it was given at intake).
        case_policy = settings.policy_for_case(session, report, policy)
        effect(_Step(session, user, report, body, now, case_policy, values, data))
    if action in REQUIRES_OUTCOME:
        _close(report, body, now, values, data)

    # The version in the WHERE clause makes the update lose cleanly to a concurrent one.
    result = session.execute(
        update(Report)
        .where(Report.id == report.id, Report.version == version)
        .values(version=version + 1, **values)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        raise Conflict(_("Someone else changed this case a moment ago. Reload it and try again."))
    session.add(
        CaseEvent(
            report_id=report.id,
            actor_id=user.id,
            at=now,
            action=action.value,
            from_status=decision.from_state.value,
            to_status=decision.to_state.value,
            reason=reason,
            data=data,
        )
    )
    audit.record(
        session,
        actor_id=user.id,
        action=f"case.{action.value}",
        object_type="report",
        object_id=report.id,
        remote_addr=remote_addr,
        details=data,
    )
    session.flush()
    session.refresh(report)
    if action in (
        Action.ESCALATE,
        Action.SUPERVISE,
        Action.REQUEST_CLOSING,
        Action.REQUEST_EXTENSION,
        Action.RETURN,
    ):
        notify_owner_ids = owner_ids(session, report)
    if notify_owner_ids:
        notifications.notify(
            session,
            notify_owner_ids,
            f"case.{action.value}",
            f"{report.id}:{report.version}",
            f"{_action_label(action)}：{report.title}",
        )
    if action is Action.ASSIGN and report.department_id:
        handlers = list(
            session.execute(
                select(User.id).where(
                    User.role == "department",
                    User.department_id == report.department_id,
                    User.active,
                )
            ).scalars()
        )
        notifications.notify(
            session,
            handlers,
            "case.assign",
            f"{report.id}:{report.version}",
            f"新交办：{report.title}",
        )
    return case_json(session, report, user, now=now, policy=policy)


def owner_ids(session: Session, report: Report) -> list[int]:
    role = OWNER_ROLE_BY_LEVEL[report.owner_level]
    stmt = select(User.id).where(User.role == role, User.active)
    if report.owner_level != "city":
        stmt = stmt.where(User.area_id == report.owner_area_id)
    return list(session.execute(stmt).scalars())


@dataclass(frozen=True)
class _Step:
    """What an action's effect reads (the case, the request, the clock, the policy) and where
    it writes: `values` for the report's columns, `data` for the event."""

    session: Session
    user: User
    report: Report
    body: dict[str, Any]
    now: datetime
    policy: DeadlinePolicy
    values: dict[str, Any]
    data: dict[str, Any]


# --- effects per action ----------------------------------------------------------------------


def _accept(step: _Step) -> None:
    step.values["accepted_at"] = step.now
    step.values["accepted_on_time"] = step.report.due_at is None or step.now <= step.report.due_at
    # The handling clock (15 days by default) runs from acceptance, so time spent waiting
    # for assignment counts against the case, as it does for the people in the dispute.
    step.values.update(_clock("handling", step.report.severity, step.now, step.policy))


def _reject(step: _Step) -> None:
    step.values.update(step=None, due_at=None, closed_at=step.now)


def _merge(step: _Step) -> None:
    try:
        target_id = uuid.UUID(str(step.body.get("into", "")))
    except ValueError:
        raise InvalidInput(
            _("Check the fields."),
            {"into": _("The id of the case to merge into.")},
            code="invalid_action",
        ) from None
    if target_id == step.report.id:
        raise InvalidInput(
            _("Check the fields."),
            {"into": _("A case cannot merge into itself.")},
            code="invalid_action",
        )
    target = step.session.get(Report, target_id)
    if target is None or Relation.OWNER not in relations(step.user, target):
        raise InvalidInput(
            _("Check the fields."), {"into": _("Not a case you own.")}, code="invalid_action"
        )
    if State(target.status) not in OPEN_STATES:
        raise InvalidInput(
            _("Check the fields."), {"into": _("That case is not open.")}, code="invalid_action"
        )
    step.values.update(merged_into_id=target.id, step=None, due_at=None, closed_at=step.now)
    step.data["into"] = str(target.id)
    # The main case's record shows what was merged into it.
    step.session.add(
        CaseEvent(
            report_id=target.id,
            actor_id=step.user.id,
            at=step.now,
            action="merged_in",
            from_status=target.status,
            to_status=target.status,
            data={"duplicate": str(step.report.id)},
        )
    )


def _assign(step: _Step) -> None:
    department = _department(step.session, step.body.get("department"), step.report)
    step.values["department_id"] = department.id
    step.data["department"] = department.code
    due = _optional_due(step.body, step.now)
    if due is not None:
        step.values.update(
            due_at=due, step="handling", step_started_at=step.now, notified_light="green"
        )
        step.data["due_at"] = due.isoformat()


def _return(step: _Step) -> None:
    step.data["department_id"] = step.report.department_id
    step.values["department_id"] = None


def _request_extension(step: _Step) -> None:
    if step.report.extension_days_requested:
        raise Conflict(_("An extension request is already waiting for approval."))
    days = step.body.get("days")
    left = step.policy.max_extension_days - step.report.extension_days_granted
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= left:
        raise InvalidInput(
            _("Check the fields."),
            {"days": _("Between 1 and %(left)d days.", left=max(left, 0))},
            code="invalid_action",
        )
    step.values["extension_days_requested"] = days
    step.data["days"] = days


def _approve_extension(step: _Step) -> None:
    days = step.report.extension_days_requested
    if not days:
        raise Conflict(_("There is no extension request to decide."))
    step.values["extension_days_requested"] = None
    step.values["extension_days_granted"] = step.report.extension_days_granted + days
    if step.report.due_at is not None:
        # Working days when the case's policy counts them (its calendar), else calendar days.
        step.values["due_at"] = step.policy.add_days(step.report.due_at, days)
        step.values["notified_light"] = "green"
    step.data["days"] = days


def _deny_extension(step: _Step) -> None:
    if not step.report.extension_days_requested:
        raise Conflict(_("There is no extension request to decide."))
    step.values["extension_days_requested"] = None


def _escalate(step: _Step) -> None:
    step.values.update(escalation_values(step.session, step.report, step.now, step.policy))
    step.data["to_level"] = step.values["owner_level"]


def escalation_values(
    session: Session, report: Report, now: datetime, policy: DeadlinePolicy
) -> dict[str, Any]:
    """Ownership moves up one level; the department assignment ends and a new clock starts."""
    level = next_level(report.owner_level)
    if level is None:
        raise Conflict(_("The case is already at city level; it cannot go higher."))
    area_id = report.county_id if level == "county" else _city_id(session, report.county_id)
    step = "acceptance" if report.status == State.REPORTED else "handling"
    return {
        "owner_level": level,
        "owner_area_id": area_id,
        "department_id": None,
        **_clock(step, report.severity, now, settings.policy_for_case(session, report, policy)),
    }


def _supervise(step: _Step) -> None:
    due = _optional_due(step.body, step.now)
    if due is None:
        raise InvalidInput(
            _("Check the fields."),
            {"due_at": _("Required: when it must be done.")},
            code="invalid_action",
        )
    step.session.add(
        SupervisionOrder(
            report_id=step.report.id,
            issued_by=step.user.id,
            issued_at=step.now,
            due_at=due,
            note=str(step.body.get("reason", "")).strip(),
        )
    )
    step.data["due_at"] = due.isoformat()


def _follow_up(step: _Step) -> None:
    try:
        rating = Satisfaction(str(step.body.get("satisfaction")))
    except ValueError:
        raise InvalidInput(
            _("Check the fields."),
            {"satisfaction": _("One of: satisfied, basically_satisfied, dissatisfied.")},
            code="invalid_action",
        ) from None
    step.values["satisfaction"] = rating.value
    step.data["satisfaction"] = rating.value


def _close(
    report: Report,
    body: dict[str, Any],
    now: datetime,
    values: dict[str, Any],
    data: dict[str, Any],
) -> None:
    try:
        outcome = Outcome(str(body.get("outcome")))
    except ValueError:
        raise InvalidInput(
            _("Check the fields."),
            {"outcome": _("One of: resolved, stabilised, escalated.")},
            code="invalid_action",
        ) from None
    values.update(
        outcome=outcome.value,
        closed_at=now,
        step=None,
        due_at=None,
        closed_on_time=report.due_at is None or now <= report.due_at,
    )
    data["outcome"] = outcome.value


_EFFECTS = {
    Action.ACCEPT: _accept,
    Action.REJECT: _reject,
    Action.MERGE: _merge,
    Action.ASSIGN: _assign,
    Action.RETURN: _return,
    Action.REQUEST_EXTENSION: _request_extension,
    Action.APPROVE_EXTENSION: _approve_extension,
    Action.DENY_EXTENSION: _deny_extension,
    Action.ESCALATE: _escalate,
    Action.SUPERVISE: _supervise,
    Action.FOLLOW_UP: _follow_up,
}


def _clock(step: str, severity: str, now: datetime, policy: DeadlinePolicy) -> dict[str, Any]:
    return {
        "step": step,
        "step_started_at": now,
        "due_at": policy.due(step, severity, now),
        "notified_light": "green",
    }


def _department(session: Session, value: Any, report: Report) -> Department:
    stmt = select(Department)
    if isinstance(value, int) and not isinstance(value, bool):
        stmt = stmt.where(Department.id == value)
    elif isinstance(value, str) and value.strip():
        stmt = stmt.where(Department.code == value.strip())
    else:
        raise InvalidInput(
            _("Check the fields."),
            {"department": _("Required: a department.")},
            code="invalid_action",
        )
    department = session.execute(stmt).scalar_one_or_none()
    allowed_areas = {report.county_id, _city_id(session, report.county_id)}
    if department is None or department.area_id not in allowed_areas:
        raise InvalidInput(
            _("Check the fields."),
            {"department": _("Not a department of this county or the city.")},
            code="invalid_action",
        )
    return department


def _optional_due(body: dict[str, Any], now: datetime) -> datetime | None:
    raw = body.get("due_at")
    if raw is None:
        return None
    try:
        due = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            _("Check the fields."),
            {
                "due_at": _(
                    "A date and time, e.g. %(example)s.", example="2026-12-10T18:00:00+08:00"
                )
            },
            code="invalid_action",
        ) from None
    if due.tzinfo is None:
        due = due.replace(tzinfo=deadlines.CHINA_TZ)
    if due <= now:
        raise InvalidInput(
            _("Check the fields."), {"due_at": _("Must be in the future.")}, code="invalid_action"
        )
    return due


def _city_id(session: Session, county_id: int) -> int:
    parent = session.execute(select(Area.parent_id).where(Area.id == county_id)).scalar_one()
    return int(parent or 0)


def _stale_message(session: Session, report: Report) -> str:
    last = session.execute(
        select(CaseEvent.action, User.display_name)
        .outerjoin(User, User.id == CaseEvent.actor_id)
        .where(CaseEvent.report_id == report.id)
        .order_by(CaseEvent.at.desc(), CaseEvent.id.desc())
        .limit(1)
    ).first()
    who = (last[1] or _("the system")) if last else _("someone else")
    return _(
        "This case was changed by %(who)s after you opened it. Reload it and try again.", who=who
    )


# --- reading ---------------------------------------------------------------------------------


def case_json(
    session: Session, report: Report, viewer: User, *, now: datetime, policy: DeadlinePolicy
) -> dict[str, Any]:
    out = reports.report_json(session, report, viewer)
    out.update(case_fields(report, viewer, now, policy))
    return out


def case_fields(
    report: Report, viewer: User, now: datetime, policy: DeadlinePolicy
) -> dict[str, Any]:
    light = deadlines.light(
        report.step_started_at or report.reported_at, report.due_at, now, policy.warning_fraction
    )
    state = State(report.status)
    from fieldapp.workflow import allowed_actions

    return {
        "owner_level": report.owner_level,
        "department_id": report.department_id,
        "step": report.step,
        "due_at": report.due_at.isoformat() if report.due_at else None,
        "light": light.value if state in OPEN_STATES else None,
        "seconds_left": int((report.due_at - now).total_seconds()) if report.due_at else None,
        "accepted_on_time": report.accepted_on_time,
        "closed_at": report.closed_at.isoformat() if report.closed_at else None,
        "closed_on_time": report.closed_on_time,
        "outcome": report.outcome,
        "satisfaction": report.satisfaction,
        "merged_into": str(report.merged_into_id) if report.merged_into_id else None,
        "extension_days_requested": report.extension_days_requested,
        "allowed_actions": [a.value for a in allowed_actions(state, relations(viewer, report))],
    }


def events(session: Session, viewer: User, report_id: uuid.UUID) -> list[dict[str, Any]]:
    report = reports.get_report(session, viewer, report_id)
    rows = session.execute(
        select(CaseEvent, User.display_name, User.role)
        .outerjoin(User, User.id == CaseEvent.actor_id)
        .where(CaseEvent.report_id == report.id)
        .order_by(CaseEvent.at, CaseEvent.id)
    ).all()
    return [
        {
            "id": e.id,
            "at": e.at.isoformat(),
            "action": e.action,
            "from": e.from_status,
            "to": e.to_status,
            "reason": e.reason,
            "data": e.data,
            "actor": {"id": e.actor_id, "display_name": name, "role": role} if e.actor_id else None,
        }
        for e, name, role in rows
    ]


_ACTION_LABELS = {
    Action.ACCEPT: "受理",
    Action.REJECT: "不予受理",
    Action.MERGE: "合并",
    Action.RESOLVE_ON_SITE: "自办自结",
    Action.ASSIGN: "交办",
    Action.SIGN_FOR: "签收",
    Action.RETURN: "退办",
    Action.PROGRESS: "办理进展",
    Action.REQUEST_EXTENSION: "申请延期",
    Action.APPROVE_EXTENSION: "批准延期",
    Action.DENY_EXTENSION: "驳回延期",
    Action.REQUEST_CLOSING: "申请办结",
    Action.APPROVE_CLOSING: "审核办结",
    Action.SEND_BACK: "退回重办",
    Action.ESCALATE: "上交",
    Action.SUPERVISE: "督办",
    Action.FOLLOW_UP: "回访",
}
_STATE_LABELS = {
    State.REPORTED: "待受理",
    State.ACCEPTED: "已受理",
    State.REJECTED: "不予受理",
    State.MERGED: "已合并",
    State.ASSIGNED: "已交办",
    State.SIGNED_FOR: "已签收",
    State.IN_PROGRESS: "办理中",
    State.CLOSING_REQUESTED: "待审核",
    State.CLOSED: "已办结",
}


def _action_label(action: Action) -> str:
    return _label(action, _ACTION_LABELS)


def _state_label(state: State) -> str:
    return _label(state, _STATE_LABELS)


def _label(value: Action | State, chinese: dict[Any, str]) -> str:
    """The Chinese term officials use, or the code spelled out in English."""
    from fieldapp.i18n import language

    if language() == "en":
        return value.value.replace("_", " ")
    return chinese[value]
