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

The case a report was merged into is named by its case number and state, which tell the
officer where the dispute is handled and say nothing of it. Its title, like its
description, is someone else's report unless the officer filed that case too: it is given
only when `scope` lets the officer read that case (`merge_targets`), and the timeline's
sentence never carries it.
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
from fieldapp.services import scope
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


def merge_targets(session: Session, viewer: User, ids: set[uuid.UUID]) -> dict[str, dict[str, Any]]:
    """The cases `ids` (those the viewer's report was merged into), by id as text: each
    one's case number and state, and its title only if the viewer may read that case
    (`scope.report_filter`: for an officer, a case they filed themselves), else None."""
    if not ids:
        return {}
    rows = session.execute(
        select(
            Report.id,
            Report.case_number,
            Report.status,
            Report.title,
            scope.report_filter(viewer).label("readable"),
        ).where(Report.id.in_(ids))
    )
    return {
        str(row.id): {
            "id": str(row.id),
            "case_number": row.case_number,
            "status": row.status,
            "status_label": str(STATE_LABELS.get(row.status, row.status)),
            "title": row.title if row.readable else None,
        }
        for row in rows
    }


def _merge_detail(target: dict[str, Any] | None, case_number: str | None) -> str:
    """The merge step's sentence: the kept case's number and its state now, never its title
    (the sentence is the same whoever filed that case)."""
    number = (target or {}).get("case_number") or case_number
    if number and target is not None:
        return _(
            "Merged into case %(number)s (the same dispute), which is now “%(state)s”.",
            number=number,
            state=target["status_label"],
        )
    if number:
        return _("Merged into case %(number)s (the same dispute).", number=number)
    return _("Merged into another case (the same dispute).")


def event_entry(
    action: str,
    to_status: str | None,
    from_status: str | None,
    reason: str | None,
    data: dict[str, Any],
    names: dict[str, str | None],
    targets: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any] | None:
    """One timeline entry for the officer, or None for a step they do not see (one that
    left the state unchanged: a progress note, an extension, supervision). `targets`: the
    cases merged into, as `merge_targets` gives them. Pure."""
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
        into = data.get("into")
        target = (targets or {}).get(into) if into else None
        entry["detail"] = _merge_detail(target, data.get("into_case_number"))
        entry["merged_into"] = into
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
    names: dict[str, str | None] = {"department": department}
    events = list(
        session.execute(
            select(CaseEvent).where(CaseEvent.report_id == report.id).order_by(CaseEvent.at)
        ).scalars()
    )
    # Every case this report was ever merged into (a merge undone and done again names two).
    into = {(e.data or {}).get("into") for e in events if e.to_status == "merged"}
    ids = {uuid.UUID(i) for i in into if isinstance(i, str)}
    if report.merged_into_id is not None:
        ids.add(report.merged_into_id)
    targets = merge_targets(session, officer, ids)
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
            event.action, event.to_status, event.from_status, event.reason, data, names, targets
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
        "merged_into": (targets.get(str(report.merged_into_id)) if report.merged_into_id else None),
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
