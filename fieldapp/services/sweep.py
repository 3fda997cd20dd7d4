"""The deadline sweep (Celery beat, every few minutes): notify owners once when a case turns
yellow or red, and escalate overdue red cases per policy. Set-based: each UPDATE touches only
the cases whose light changed since the last sweep, so a second sweep finds nothing to do."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from fieldapp.deadlines import SWEEP_REASON, DeadlinePolicy
from fieldapp.models import CaseEvent, Report
from fieldapp.services import audit, cases, notifications
from fieldapp.workflow import Action, IllegalTransition, Relation, State, decide

# Raw SQL: two set-based UPDATEs over the partial index on open cases' due times; the ORM
# would load every candidate row. RETURNING gives exactly the cases that changed light.
_TO_RED = text(
    """
    UPDATE reports SET notified_light = 'red'
    WHERE due_at IS NOT NULL AND due_at <= :now AND notified_light <> 'red'
    RETURNING id, severity, owner_level, owner_area_id, title, version, due_at
    """
)
_TO_YELLOW = text(
    """
    UPDATE reports SET notified_light = 'yellow'
    WHERE due_at IS NOT NULL AND due_at > :now AND notified_light = 'green'
      AND step_started_at + (due_at - step_started_at) * :fraction <= :now
    RETURNING id, severity, owner_level, owner_area_id, title, version, due_at
    """
)


@dataclass
class SweepResult:
    turned_yellow: int = 0
    turned_red: int = 0
    notified: int = 0
    escalated: int = 0

    def as_dict(self) -> dict[str, int]:
        return self.__dict__.copy()


def sweep(session: Session, *, now: datetime, policy: DeadlinePolicy) -> SweepResult:
    result = SweepResult()
    red = session.execute(_TO_RED, {"now": now}).all()
    yellow = session.execute(_TO_YELLOW, {"now": now, "fraction": policy.warning_fraction}).all()
    result.turned_red, result.turned_yellow = len(red), len(yellow)
    for light, rows in (("red", red), ("yellow", yellow)):
        result.notified += _notify_owners(session, light, rows)
    if policy.escalate_overdue_red:
        for row in red:
            if row.severity == "red" and row.owner_level != "city":
                result.escalated += _escalate(session, row.id, now, policy)
    return result


# One INSERT … SELECT for all changed cases and their owners (owner rules as in
# cases.owner_ids); the unique key (user, kind, subject) makes a repeat a no-op. The subject
# includes the due time, so a case may warn again after an extension.
_NOTIFY_OWNERS = text(
    """
    INSERT INTO notifications (user_id, kind, subject_id, text, created_at)
    SELECT u.id, :kind, r.id::text || ':' || floor(extract(epoch FROM r.due_at))::bigint,
           left(:label || r.case_number || ' ' || r.title, 300), now()
    FROM reports r
    JOIN users u ON u.active AND (
         (r.owner_level = 'township' AND u.role = 'coordinator' AND u.area_id = r.owner_area_id)
      OR (r.owner_level = 'county' AND u.role = 'county' AND u.area_id = r.owner_area_id)
      OR (r.owner_level = 'city' AND u.role = 'city'))
    WHERE r.id = ANY(:ids)
    ON CONFLICT ON CONSTRAINT uq_notifications_once DO NOTHING
    RETURNING id
    """
)


def _notify_owners(session: Session, light: str, rows: Sequence[Any]) -> int:
    if not rows:
        return 0
    label = "红灯（已超期）：" if light == "red" else "黄灯（即将到期）："
    inserted = session.execute(
        _NOTIFY_OWNERS, {"kind": f"light.{light}", "label": label, "ids": [r.id for r in rows]}
    ).all()
    notifications.queue_delivery(session, [row[0] for row in inserted])
    return len(inserted)


def _escalate(session: Session, report_id: Any, now: datetime, policy: DeadlinePolicy) -> int:
    report = session.get(Report, report_id)
    if report is None or report.due_at is None:
        return 0
    try:
        # The sweep escalates for the owner, through the same table as every other step: a
        # case being handled goes back to "accepted" at the new level (its department is
        # released), and a case awaiting the closing review is not escalated by the clock.
        decision = decide(State(report.status), Action.ESCALATE, frozenset({Relation.OWNER}))
    except IllegalTransition:
        return 0
    values = cases.escalation_values(session, report, now, policy)
    values["status"] = decision.to_state.value
    from_status = report.status
    for key, value in values.items():
        setattr(report, key, value)
    report.version += 1
    session.add(
        CaseEvent(
            report_id=report.id,
            actor_id=None,
            at=now,
            action="escalate",
            from_status=from_status,
            to_status=report.status,
            reason=SWEEP_REASON,
            data={"automatic": True, "to_level": report.owner_level},
        )
    )
    audit.record(
        session,
        actor_id=None,
        action="case.escalate.auto",
        object_type="report",
        object_id=report.id,
        details={"to_level": report.owner_level},
    )
    session.flush()
    notifications.notify(
        session,
        cases.owner_ids(session, report),
        "case.escalate",
        f"{report.id}:{report.version}",
        f"逾期上交：{report.case_number} {report.title}",
    )
    return 1
