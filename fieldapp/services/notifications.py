"""The in-app inbox. Each notification is unique per (user, kind, subject), so producing it
twice stores it once."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from fieldapp.models import Area, Notification, Report, User

SEVERITY_ZH = {"red": "红色", "orange": "橙色", "yellow": "黄色"}


def notify(session: Session, user_ids: list[int], kind: str, subject_id: str, text: str) -> int:
    """Store one notification per user, skipping those that already have it."""
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
    return len(inserted)


def new_report(session: Session, report_id: uuid.UUID) -> int:
    """Tell the coordinators of the report's township that it arrived."""
    report = session.get(Report, report_id)
    if report is None:
        return 0
    coordinators = list(
        session.execute(
            select(User.id).where(
                User.role == "coordinator", User.area_id == report.township_id, User.active
            )
        ).scalars()
    )
    village = session.get(Area, report.village_id)
    place = village.name if village else ""
    text = f"新{SEVERITY_ZH.get(report.severity, '')}预警：{place} · {report.title}"
    return notify(session, coordinators, "report.new", str(report.id), text)


def inbox(session: Session, user: User, limit: int = 50) -> list[Notification]:
    return list(
        session.execute(
            select(Notification)
            .where(Notification.user_id == user.id)
            .order_by(Notification.created_at.desc())
            .limit(limit)
        ).scalars()
    )


def possible_duplicate(session: Session, report_id: uuid.UUID, candidates: int) -> int:
    report = session.get(Report, report_id)
    if report is None:
        return 0
    coordinators = list(
        session.execute(
            select(User.id).where(
                User.role == "coordinator", User.area_id == report.township_id, User.active
            )
        ).scalars()
    )
    text = f"疑似重复（{candidates} 条相近报告）：{report.title}"
    return notify(session, coordinators, "report.duplicate", str(report.id), text)
