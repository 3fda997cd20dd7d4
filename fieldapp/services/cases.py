"""The case workflow service: every transition goes through `act()`, which checks the actor's
role and area, asks the pure state machine (`fieldapp.workflow.decide`), applies the effects,
writes the append-only event and the audit record, and bumps the version — all in the
caller's transaction. Two people acting at once: the second gets a conflict (optimistic
concurrency on `reports.version`), and nothing is lost."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from pydantic import ValidationError
from sqlalchemy import false, select, update
from sqlalchemy.orm import Session

from fieldapp import bounds, deadlines
from fieldapp.contract.base import field_errors
from fieldapp.contract.cases import CaseAction
from fieldapp.deadlines import DeadlinePolicy
from fieldapp.labels import action_label, state_label
from fieldapp.models import Area, CaseEvent, Department, Report, SupervisionOrder, User
from fieldapp.services import audit, notifications, reports, scope, settings
from fieldapp.services.errors import Conflict, Forbidden, InvalidInput, NotFound
from fieldapp.workflow import (
    OPEN_STATES,
    REQUIRES_OUTCOME,
    RESTORES_STATE,
    Action,
    IllegalTransition,
    NotYours,
    Relation,
    State,
    decide,
    next_level,
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


def action_named(name: str) -> Action:
    """The workflow step called `name`; NotFound listing the steps otherwise."""
    try:
        return Action(name)
    except ValueError:
        raise NotFound(
            _(
                "Unknown action. Possible actions: %(actions)s.",
                actions=", ".join(a.value for a in Action),
            )
        ) from None


def read_action(action: Action, data: Mapping[str, Any], *, now: datetime) -> CaseAction:
    """A step's body from a page's form (already text and numbers) through the API's model,
    so a form is checked exactly as a JSON body is; InvalidInput naming each bad field."""
    try:
        return CaseAction.model_validate_json(
            json.dumps(dict(data)), context={"now": now, "action": action}
        )
    except ValidationError as exc:
        raise InvalidInput(
            str(CaseAction.error_summary),
            field_errors(exc, CaseAction.field_messages),
            code=CaseAction.error_code,
        ) from None


def act(
    session: Session,
    user: User,
    report_id: uuid.UUID,
    action: Action | str,
    body: CaseAction | Mapping[str, Any],
    *,
    now: datetime,
    policy: DeadlinePolicy,
    remote_addr: str | None = None,
) -> dict[str, Any]:
    """Take `action` on a case; returns the case JSON after the transition. `body` was
    checked for the step (CaseAction with the action in its context: the fields it needs are
    there); what needs the database (the case's version, the department, the case to merge
    into, the extension days left) is checked here. The pages and the demo replay pass a
    step's name and a form's fields: they go through the same model first."""
    if not isinstance(action, Action):
        action = action_named(action)
    if not isinstance(body, CaseAction):
        body = read_action(action, body, now=now)
    report = reports.get_report(session, user, report_id)
    version = body.version
    if version != report.version:
        raise Conflict(stale_message(session, report, user))
    state = State(report.status)
    try:
        decision = decide(state, action, relations(user, report))
    except IllegalTransition as err:
        allowed = ", ".join(action_label(a) for a in err.allowed) or _("none")
        raise Conflict(
            _(
                "“%(action)s” is not possible while the case is “%(state)s”. You can: %(allowed)s.",
                action=action_label(action),
                state=state_label(state),
                allowed=allowed,
            )
        ) from None
    except NotYours:
        raise Forbidden(_("This step is not yours to take on this case.")) from None

    reason = body.reason
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
    to_state = State(values["status"]) if action in RESTORES_STATE else decision.to_state

    # The version in the WHERE clause makes the update lose cleanly to a concurrent one.
    result = session.execute(
        update(Report)
        .where(Report.id == report.id, Report.version == version)
        .values(version=version + 1, **values)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        fresh = session.get(Report, report.id, populate_existing=True)
        raise Conflict(stale_message(session, fresh, user) if fresh else _("No such report."))
    session.add(
        CaseEvent(
            report_id=report.id,
            actor_id=user.id,
            at=now,
            action=action.value,
            from_status=decision.from_state.value,
            to_status=to_state.value,
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
            f"{action_label(action)}：{report.case_number} {report.title}",
        )
    if action is Action.REASSIGN and data.get("from_department_id"):
        # The department that had it is told too: it must stop working on it.
        notifications.notify(
            session,
            department_handler_ids(session, int(data["from_department_id"])),
            "case.reassigned_away",
            f"{report.id}:{report.version}",
            f"案件已改派其他部门：{report.case_number} {report.title}",
        )
    if action in (Action.ASSIGN, Action.REASSIGN) and report.department_id:
        handlers = department_handler_ids(session, report.department_id)
        notifications.notify(
            session,
            handlers,
            f"case.{action.value}",
            f"{report.id}:{report.version}",
            f"{'改派' if action is Action.REASSIGN else '新交办'}："
            f"{report.case_number} {report.title}",
        )
    return case_json(session, report, user, now=now, policy=policy)


def department_handler_ids(session: Session, department_id: int) -> list[int]:
    """The active handlers of a department (who are told of its new cases)."""
    return list(
        session.execute(
            select(User.id).where(
                User.role == "department", User.department_id == department_id, User.active
            )
        ).scalars()
    )


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
    body: CaseAction
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


def find_case_id(session: Session, value: Any) -> uuid.UUID | None:
    """A case named by its id or by its case number (东港-2026-000123, as people say it);
    None if it is neither. Only finds the id: whether the reader may see it is checked by
    whoever uses it."""
    # As typed or pasted: spaces anywhere, full-width or long dashes from an input method.
    text = "".join(str(value or "").split())
    for dash in ("－", "—", "–", "‐"):
        text = text.replace(dash, "-")
    if not text:
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        pass
    found: uuid.UUID | None = session.execute(
        select(Report.id).where(Report.case_number == text)
    ).scalar_one_or_none()
    return found


def _merge(step: _Step) -> None:
    target_id = find_case_id(step.session, step.body.into)
    if target_id is None:
        raise InvalidInput(
            _("Check the fields."),
            {"into": _("The case number (or id) of the case to keep.")},
            code="invalid_action",
        )
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
    step.data["into_case_number"] = target.case_number
    # What an undo (unmerge) puts back: the clock that was running.
    step.data["restore"] = {
        "step": step.report.step,
        "step_started_at": _iso(step.report.step_started_at),
        "due_at": _iso(step.report.due_at),
        "notified_light": step.report.notified_light,
    }
    # The main case's record shows what was merged into it.
    step.session.add(
        CaseEvent(
            report_id=target.id,
            actor_id=step.user.id,
            at=step.now,
            action="merged_in",
            from_status=target.status,
            to_status=target.status,
            data={"duplicate": str(step.report.id), "case_number": step.report.case_number},
        )
    )


def _unmerge(step: _Step) -> None:
    """Undo a merge: the case returns to the state the merge took it from, with its clock;
    both records keep the merge and now show the undo."""
    merge = step.session.execute(
        select(CaseEvent)
        .where(CaseEvent.report_id == step.report.id, CaseEvent.action == Action.MERGE.value)
        .order_by(CaseEvent.at.desc(), CaseEvent.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if merge is None:
        raise Conflict(_("This case's record has no merge to undo."))
    restore = dict((merge.data or {}).get("restore") or {})
    step.values.update(status=merge.from_status, merged_into_id=None, closed_at=None)
    if restore:
        step.values.update(
            step=restore.get("step"),
            step_started_at=_from_iso(restore.get("step_started_at"))
            or step.report.step_started_at,
            due_at=_from_iso(restore.get("due_at")),
            notified_light=restore.get("notified_light") or "green",
        )
    else:
        # A merge recorded without its clock (the demo history's): a new one from now, as
        # for the state it returns to.
        clock = "acceptance" if merge.from_status == State.REPORTED.value else "handling"
        step.values.update(_clock(clock, step.report.severity, step.now, step.policy))
    target_id = step.report.merged_into_id
    step.data["from"] = str(target_id) if target_id else None
    target = step.session.get(Report, target_id) if target_id else None
    if target is not None:
        step.data["from_case_number"] = target.case_number
        step.session.add(
            CaseEvent(
                report_id=target.id,
                actor_id=step.user.id,
                at=step.now,
                action="unmerged_out",
                from_status=target.status,
                to_status=target.status,
                data={"duplicate": str(step.report.id), "case_number": step.report.case_number},
            )
        )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _from_iso(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _assign(step: _Step) -> None:
    department = _department(step.session, step.body.department, step.report)
    step.values["department_id"] = department.id
    step.data["department"] = department.code
    due = step.body.due_at
    if due is not None:
        step.values.update(
            due_at=due, step="handling", step_started_at=step.now, notified_light="green"
        )
        step.data["due_at"] = due.isoformat()


def _reassign(step: _Step) -> None:
    """改派: another department takes the case over and must sign for it; the handling
    clock runs on (the people waiting do not start again)."""
    department = _department(step.session, step.body.department, step.report)
    if department.id == step.report.department_id:
        raise InvalidInput(
            _("Check the fields."),
            {"department": _("The case is with this department already; choose another.")},
            code="invalid_action",
        )
    previous = (
        step.session.get(Department, step.report.department_id)
        if step.report.department_id
        else None
    )
    step.values["department_id"] = department.id
    step.data["department"] = department.code
    step.data["from_department"] = previous.code if previous else None
    step.data["from_department_id"] = previous.id if previous else None


def _return(step: _Step) -> None:
    step.data["department_id"] = step.report.department_id
    step.values["department_id"] = None


def _request_extension(step: _Step) -> None:
    if step.report.extension_days_requested:
        raise Conflict(_("An extension request is already waiting for approval."))
    days = step.body.days
    left = step.policy.max_extension_days - step.report.extension_days_granted
    if days is None or not 1 <= days <= left:
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
    due = step.body.due_at
    assert due is not None  # required for this step (CaseAction)
    step.session.add(
        SupervisionOrder(
            report_id=step.report.id,
            issued_by=step.user.id,
            issued_at=step.now,
            due_at=due,
            note=step.body.reason or "",
        )
    )
    step.data["due_at"] = due.isoformat()


def _follow_up(step: _Step) -> None:
    rating = step.body.satisfaction
    assert rating is not None  # required for this step (CaseAction)
    step.values["satisfaction"] = rating.value
    step.data["satisfaction"] = rating.value


def _close(
    report: Report,
    body: CaseAction,
    now: datetime,
    values: dict[str, Any],
    data: dict[str, Any],
) -> None:
    outcome = body.outcome
    assert outcome is not None  # required for this step (CaseAction)
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
    Action.UNMERGE: _unmerge,
    Action.REASSIGN: _reassign,
}


def _clock(step: str, severity: str, now: datetime, policy: DeadlinePolicy) -> dict[str, Any]:
    return {
        "step": step,
        "step_started_at": now,
        "due_at": policy.due(step, severity, now),
        "notified_light": "green",
    }


def _department(session: Session, value: str | int | None, report: Report) -> Department:
    """The department named by code or id (CaseAction made sure one is named), if it is one of
    the case's county or of the city."""
    stmt = select(Department)
    if isinstance(value, str):
        stmt = stmt.where(Department.code == value)
    elif bounds.is_db_id(value):
        stmt = stmt.where(Department.id == value)
    else:
        stmt = stmt.where(false())  # beyond the id column's range: no such department
    department = session.execute(stmt).scalar_one_or_none()
    allowed_areas = {report.county_id, _city_id(session, report.county_id)}
    if department is None or department.area_id not in allowed_areas:
        raise InvalidInput(
            _("Check the fields."),
            {"department": _("Not a department of this county or the city.")},
            code="invalid_action",
        )
    return department


def _city_id(session: Session, county_id: int) -> int:
    parent = session.execute(select(Area.parent_id).where(Area.id == county_id)).scalar_one()
    return int(parent or 0)


def stale_message(session: Session, report: Report, user: User) -> str:
    """What changed a case since the reader opened it, truthfully: their own step (a second
    tab, a form sent twice) or someone else's, by name, with the step and the state now."""
    last = session.execute(
        select(CaseEvent.action, CaseEvent.actor_id, User.display_name)
        .outerjoin(User, User.id == CaseEvent.actor_id)
        .where(CaseEvent.report_id == report.id)
        .order_by(CaseEvent.at.desc(), CaseEvent.id.desc())
        .limit(1)
    ).first()
    state = state_label(report.status)
    if last is not None and last.actor_id == user.id:
        return _(
            "You already changed this case (%(action)s), in another tab or by sending the "
            "form twice; it is now “%(state)s”. What you typed is kept below: send it again "
            "only if it is still needed.",
            action=action_label(last.action),
            state=state,
        )
    if last is not None:
        return _(
            "%(who)s changed this case after you opened it (%(action)s); it is now "
            "“%(state)s”. What you typed is kept below: check the case and send it again "
            "if it is still needed.",
            who=last.display_name or _("the system"),
            action=action_label(last.action),
            state=state,
        )
    return _(
        "This case changed after you opened it; it is now “%(state)s”. What you typed is "
        "kept below: check the case and send it again if it is still needed.",
        state=state,
    )


# --- reading ---------------------------------------------------------------------------------


def merged_into(session: Session, viewer: User, report: Report) -> dict[str, str] | None:
    """The case a merged duplicate was merged into, if the viewer may see it."""
    if report.merged_into_id is None:
        return None
    row = session.execute(
        scope.visible_reports(
            select(Report.id, Report.title, Report.case_number).where(
                Report.id == report.merged_into_id
            ),
            viewer,
        )
    ).first()
    return {"id": str(row[0]), "title": row[1], "case_number": row[2]} if row else None


def merge_preview(session: Session, viewer: User, report: Report, into: Any) -> Report:
    """The case a merge of `report` would keep, checked as the merge checks it (so the
    confirmation shows exactly what will happen), or InvalidInput saying why not."""
    target_id = find_case_id(session, into)
    if target_id is None:
        raise InvalidInput(
            _("Check the fields."),
            {"into": _("The case number (or id) of the case to keep.")},
            code="invalid_action",
        )
    if target_id == report.id:
        raise InvalidInput(
            _("Check the fields."),
            {"into": _("A case cannot merge into itself.")},
            code="invalid_action",
        )
    target = session.get(Report, target_id)
    if target is None or Relation.OWNER not in relations(viewer, target):
        raise InvalidInput(
            _("Check the fields."), {"into": _("Not a case you own.")}, code="invalid_action"
        )
    if State(target.status) not in OPEN_STATES:
        raise InvalidInput(
            _("Check the fields."), {"into": _("That case is not open.")}, code="invalid_action"
        )
    return target


def assigned_department(session: Session, report: Report) -> Department | None:
    """The department the case is assigned to now, if any."""
    if report.department_id is None:
        return None
    return session.get(Department, report.department_id)


def departments_for_case(session: Session, report: Report) -> list[Department]:
    """The departments a case may be assigned to: its county's and the city's (the service
    refuses any other, this only keeps the select short)."""
    areas = {report.county_id, _city_id(session, report.county_id)} - {0}
    return list(
        session.execute(
            select(Department)
            .where(Department.area_id.in_(areas))
            .order_by(Department.level.desc(), Department.code)
        ).scalars()
    )


def departments_for_user(session: Session, user: User) -> list[Department]:
    """Departments for bulk assignment from the queue: those near the user's area."""
    stmt = select(Department).order_by(Department.level.desc(), Department.code)
    if user.role == "city":
        return list(session.execute(stmt).scalars())
    area = session.get(Area, user.area_id) if user.area_id else None
    if area is None:
        return []
    county_id = area.parent_id if user.role == "coordinator" else area.id
    if county_id is None:
        return []
    areas = {county_id, _city_id(session, county_id)} - {0}
    return list(session.execute(stmt.where(Department.area_id.in_(areas))).scalars())


def supervision_orders(
    session: Session, user: User, *, now: datetime, limit: int = 100
) -> list[dict[str, Any]]:
    """The supervision orders (督办) on the cases the user may see, newest first."""
    stmt = scope.visible_reports(
        select(
            SupervisionOrder,
            Report.id,
            Report.title,
            Report.status,
            Report.case_number,
            User.display_name,
        )
        .join(Report, Report.id == SupervisionOrder.report_id)
        .outerjoin(User, User.id == SupervisionOrder.issued_by),
        user,
    )
    rows = session.execute(
        stmt.order_by(SupervisionOrder.issued_at.desc(), SupervisionOrder.id.desc()).limit(limit)
    ).all()
    out = []
    for row in rows:
        order: SupervisionOrder = row[0]
        report_id, title, status, case_number, issued_by = row[1:]
        out.append(
            {
                "report_id": str(report_id),
                "case_number": case_number,
                "title": title,
                "status": status,
                "issued_by": issued_by,
                "issued_at": order.issued_at,
                "due_at": order.due_at,
                "note": order.note,
                "fulfilled_at": order.fulfilled_at,
                "late": order.fulfilled_at is None and order.due_at <= now,
            }
        )
    return out


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
    names = department_names(session, [e.data or {} for e, _n, _r in rows])
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
            # People read the department's name, never its code (371102-D13).
            "department_name": _department_name(names, (e.data or {}).get("department")),
            "from_department_name": _department_name(
                names,
                (e.data or {}).get("from_department") or (e.data or {}).get("department_id"),
            ),
        }
        for e, name, role in rows
    ]


def department_names(session: Session, data: list[dict[str, Any]]) -> dict[Any, str]:
    """Names of the departments events name, by code and by id, in one query."""
    codes = {d[k] for d in data for k in ("department", "from_department") if d.get(k)}
    ids = {d["department_id"] for d in data if isinstance(d.get("department_id"), int)}
    if not codes and not ids:
        return {}
    rows = session.execute(
        select(Department.id, Department.code, Department.name).where(
            Department.code.in_(codes) | Department.id.in_(ids)
        )
    ).all()
    return {**{r.code: r.name for r in rows}, **{r.id: r.name for r in rows}}


def _department_name(names: dict[Any, str], key: Any) -> str | None:
    if key is None or isinstance(key, bool):
        return None
    return names.get(key, str(key))
