"""What an officer may see of their own reports once sent (issue #14, item 14): where each
stands, who handles it, and what happened to it; and their own check-ins, so a new phone
shows today's as done when the server has it.

Only the reporting officer's own reports (another officer's, or a report that does not
exist, is the same 404: an id says nothing about reports one may not see). The timeline shows
the steps that changed the case's state, in the officer's words (the state each step led
to, `fieldapp.labels.STATE_LABELS`), with what the officer needs to know: the reason of a
rejection, the case a duplicate was merged into, the department it was assigned to, the
outcome it was closed with. Internal notes (progress notes, extensions, supervision) are not
shown: they are the handlers' working record, not the reporter's.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any, Final

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from fieldapp.domain import CHINA_TZ
from fieldapp.labels import OUTCOME_LABELS, STATE_LABELS
from fieldapp.models import Area, CaseEvent, Checkin, Department, Report, User
from fieldapp.services.errors import Forbidden, NotFound

#: Check-in days a phone asks for at most (the officer's recent week is what it shows).
MAX_CHECKIN_DAYS: Final = 31


def _officer(user: User) -> None:
    if user.role != "officer":
        raise Forbidden(_("Only grid officers have reports of their own."))


def _own(session: Session, officer: User, report_id: uuid.UUID) -> Report:
    report = session.get(Report, report_id)
    if report is None or report.officer_id != officer.id:
        raise NotFound(_("No such report of yours."))
    return report


def _name(session: Session, model: Any, key: int | None) -> str | None:
    if key is None:
        return None
    row = session.get(model, key)
    return row.name if row is not None else None


def event_entry(
    action: str,
    to_status: str | None,
    from_status: str | None,
    reason: str | None,
    data: dict[str, Any],
    names: dict[str, str | None],
) -> dict[str, Any] | None:
    """One timeline entry for the officer, or None for a step they do not see (one that
    left the state unchanged: a progress note, an extension, supervision). Pure."""
    if to_status is None or to_status == from_status:
        return None
    entry: dict[str, Any] = {
        "action": action,
        "status": to_status,
        "label": str(STATE_LABELS.get(to_status, to_status)),
        "detail": None,
    }
    if to_status == "rejected" and reason:
        entry["detail"] = _("Reason: %(reason)s", reason=reason)
    elif to_status == "merged":
        title = names.get("merged_into_title")
        entry["detail"] = (
            _("Merged into the case “%(title)s” (the same dispute).", title=title)
            if title
            else _("Merged into another case (the same dispute).")
        )
        entry["merged_into"] = data.get("into")
    elif to_status == "assigned" and names.get("department"):
        entry["detail"] = names["department"]  # the label already says 已交办
    elif to_status == "closed" and data.get("outcome"):
        entry["detail"] = str(OUTCOME_LABELS.get(data["outcome"], data["outcome"]))
    return entry


def report_progress(session: Session, officer: User, report_id: uuid.UUID) -> dict[str, Any]:
    """The officer's own report: its state, who handles it and its timeline (oldest first)."""
    _officer(officer)
    report = _own(session, officer, report_id)
    department = _name(session, Department, report.department_id)
    merged_title = None
    if report.merged_into_id is not None:
        target = session.get(Report, report.merged_into_id)
        merged_title = target.title if target is not None else None
    names = {"department": department, "merged_into_title": merged_title}
    events = session.execute(
        select(CaseEvent).where(CaseEvent.report_id == report.id).order_by(CaseEvent.at)
    ).scalars()
    timeline: list[dict[str, Any]] = [
        {
            "at": report.reported_at.astimezone(CHINA_TZ).isoformat(),
            "action": "report",
            "status": "reported",
            "label": _("Reported"),
            "detail": None,
        }
    ]
    for event in events:
        data = dict(event.data or {})
        if event.to_status == "assigned" and data.get("department"):
            code = data["department"]
            found = session.execute(
                select(Department.name).where(Department.code == code)
            ).scalar_one_or_none()
            names = {**names, "department": found or department}
        entry = event_entry(
            event.action, event.to_status, event.from_status, event.reason, data, names
        )
        if entry is not None:
            entry["at"] = event.at.astimezone(CHINA_TZ).isoformat()
            timeline.append(entry)
    owner_name = _name(session, Area, report.owner_area_id)
    return {
        "id": str(report.id),
        "title": report.title,
        "status": report.status,
        "status_label": str(STATE_LABELS.get(report.status, report.status)),
        "reported_at": report.reported_at.astimezone(CHINA_TZ).isoformat(),
        "handled_by": {
            "area": owner_name,
            "township": _name(session, Area, report.township_id),
            "department": department,
        },
        "outcome": report.outcome,
        "outcome_label": str(OUTCOME_LABELS[report.outcome]) if report.outcome else None,
        "merged_into": (
            {"id": str(report.merged_into_id), "title": merged_title}
            if report.merged_into_id
            else None
        ),
        "timeline": timeline,
    }


def checkin_days(session: Session, officer: User, *, now: datetime, days: int = 7) -> list[str]:
    """The China days (ISO) of the officer's check-ins in the last `days` days, today
    included, newest first."""
    _officer(officer)
    days = max(1, min(days, MAX_CHECKIN_DAYS))
    today: date = now.astimezone(CHINA_TZ).date()
    found = session.execute(
        select(Checkin.day)
        .where(Checkin.officer_id == officer.id, Checkin.day > today - timedelta(days=days))
        .order_by(Checkin.day.desc())
    ).scalars()
    return [d.isoformat() for d in found]
