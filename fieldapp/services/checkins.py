"""Zero reporting (零报告): the daily check-in that tells silence from calm."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from fieldapp.contract.checkins import CheckinInput
from fieldapp.domain import CHINA_TZ
from fieldapp.models import Checkin, User
from fieldapp.services import audit
from fieldapp.services.errors import Forbidden


def check_in(
    session: Session,
    officer: User,
    body: CheckinInput,
    *,
    now: datetime,
    remote_addr: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """Record (or update) the officer's check-in for a day; returns (json, created). The body
    is already valid (`fieldapp.contract.checkins`); only who may check in is decided here."""
    if officer.role != "officer":
        raise Forbidden(_("Only grid officers check in."))
    day = body.date or now.astimezone(CHINA_TZ).date()
    nothing, count = body.nothing_to_report, body.count
    existed = session.execute(
        select(Checkin.id).where(Checkin.officer_id == officer.id, Checkin.day == day)
    ).first()
    # Upsert: a phone that retries, or an officer who first said "nothing" and then found
    # something, updates the same row.
    session.execute(
        pg_insert(Checkin)
        .values(
            officer_id=officer.id,
            day=day,
            nothing_to_report=nothing,
            count=count,
            checked_in_at=now,
        )
        .on_conflict_do_update(
            constraint="uq_checkins_officer_day",
            set_={"nothing_to_report": nothing, "count": count, "checked_in_at": now},
        )
    )
    audit.record(
        session,
        actor_id=officer.id,
        action="checkin",
        object_type="user",
        object_id=officer.id,
        remote_addr=remote_addr,
        details={"day": day.isoformat(), "count": count},
    )
    return {"date": day.isoformat(), "nothing_to_report": nothing, "count": count}, not existed
