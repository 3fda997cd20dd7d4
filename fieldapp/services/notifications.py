"""The in-app inbox. Each notification is unique per (user, kind, subject), so producing it
twice stores it once."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from fieldapp.labels import SEVERITY_ZH
from fieldapp.models import Area, Notification, OutboxMessage, Report, User

DELIVER_TASK = "workers.tasks.deliver_notification"


def notify(session: Session, user_ids: list[int], kind: str, subject_id: str, text: str) -> int:
    """Store one notification per user, skipping those that already have it, and queue its
    outbound delivery (email/SMS) through the outbox in the same transaction."""
    if not user_ids:
        return 0
    inserted = session.execute(
        pg_insert(Notification)
        .values(
            [
                {"user_id": u, "kind": kind, "subject_id": subject_id, "text": text[:300]}
                for u in user_ids
            ]
        )
        .on_conflict_do_nothing(constraint="uq_notifications_once")
        .returning(Notification.id)
    ).all()
    queue_delivery(session, [row[0] for row in inserted])
    return len(inserted)


def queue_delivery(session: Session, notification_ids: list[int]) -> None:
    """One outbox message per new notification: each is its own task, sent once."""
    if notification_ids:
        session.execute(
            insert(OutboxMessage),
            [{"task": DELIVER_TASK, "payload": {"notification_id": n}} for n in notification_ids],
        )


KIND_SUBJECTS = {
    "report.new": "新报告",
    "report.duplicate": "疑似重复",
    "light.yellow": "即将到期",
    "light.red": "已超期",
}


def delivery_key(notification: Notification) -> str:
    """The idempotency key of a notification's outbound delivery: the same on every attempt
    (a worker killed between sending and committing leaves it to be sent again), different for
    every delivery. From the notification row, whose (user, kind, subject) is unique and which
    has exactly one delivery; its creation time keeps keys of two installations (or of a
    database rebuilt from scratch, whose ids start again at 1) apart."""
    created = notification.created_at.isoformat() if notification.created_at else ""
    facts = f"{notification.user_id}|{notification.kind}|{notification.subject_id}|{created}"
    digest = hashlib.sha256(facts.encode()).hexdigest()[:16]
    return f"fieldapp-notification-{notification.id}-{digest}"


def deliver(session: Session, notification_id: int, channels: list[Any]) -> bool:
    """Send one notification through the outbound channels; False if it was already sent."""
    notification = session.get(Notification, notification_id, with_for_update=True)
    if notification is None or notification.delivered_at is not None:
        return False
    user = session.get(User, notification.user_id)
    if user is None:
        return False
    subject = KIND_SUBJECTS.get(notification.kind, "案件提醒")
    key = delivery_key(notification)
    for channel in channels:
        channel.send(user, subject, notification.text, delivery_id=key)
    notification.delivered_at = datetime.now(UTC)
    return True


def new_report(session: Session, report_id: uuid.UUID, duplicates: int = 0) -> int:
    """Tell the coordinators of the report's township that it arrived: one message per new
    report, which also says when earlier reports nearby may be the same dispute (疑似重复) —
    two messages per report flooded the inbox."""
    report = session.get(Report, report_id)
    if report is None:
        return 0
    village = session.get(Area, report.village_id)
    return notify(
        session,
        _coordinators(session, report),
        NEW_REPORT_KIND,
        str(report.id),
        new_report_text(
            SEVERITY_ZH.get(report.severity, ""),
            village.name if village else "",
            report.case_number,
            report.title,
            duplicates,
        ),
    )


NEW_REPORT_KIND = "report.new"


def new_report_text(
    severity: str, place: str, case_number: str, title: str, duplicates: int
) -> str:
    """新橙色预警：海曲社区 · 东港-2026-000123 宅基地争执（疑似重复：2条相近报告）"""
    text = f"新{severity}预警：{place} · {case_number} {title}"
    if duplicates:
        text += f"（疑似重复：{duplicates}条相近报告）"
    return text


def _coordinators(session: Session, report: Report) -> list[int]:
    return list(
        session.execute(
            select(User.id).where(
                User.role == "coordinator", User.area_id == report.township_id, User.active
            )
        ).scalars()
    )


def inbox(session: Session, user: User, limit: int = 50) -> list[Notification]:
    return list(
        session.execute(
            select(Notification)
            .where(Notification.user_id == user.id)
            .order_by(Notification.created_at.desc())
            .limit(limit)
        ).scalars()
    )


def unread_count(session: Session, user: User) -> int:
    """The inbox badge's number."""
    return int(
        session.execute(
            select(func.count()).where(
                Notification.user_id == user.id, Notification.read_at.is_(None)
            )
        ).scalar_one()
    )


def mark_all_read(session: Session, user: User, *, now: datetime) -> int:
    """Mark every unread notification of the user read; returns how many."""
    result = session.execute(
        update(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=now)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def mark_read(session: Session, user: User, notification_id: int, *, now: datetime) -> str | None:
    """Mark one of the user's notifications read; returns its subject (None if not theirs)."""
    notification = session.get(Notification, notification_id)
    if notification is None or notification.user_id != user.id:
        return None
    if notification.read_at is None:
        notification.read_at = now
    return notification.subject_id
