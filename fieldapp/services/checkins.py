"""Zero reporting (零报告): the daily check-in that tells silence from calm."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from fieldapp import bounds
from fieldapp.domain import CHINA_TZ
from fieldapp.models import Checkin, User
from fieldapp.services import audit
from fieldapp.services.errors import Forbidden, InvalidInput

# A check-in may be sent late from a phone that was offline, but not for long-gone days.
MAX_DAYS_LATE = 7


def check_in(
    session: Session, officer: User, body: Any, *, now: datetime, remote_addr: str | None = None
) -> tuple[dict[str, Any], bool]:
    """Record (or update) the officer's check-in for a day; returns (json, created)."""
    if officer.role != "officer":
        raise Forbidden(_("Only grid officers check in."))
    day, nothing, count = _parse(body, now)
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


def _parse(body: Any, now: datetime) -> tuple[date, bool, int]:
    if not isinstance(body, dict):
        raise InvalidInput(_("The check-in must be a JSON object."), {}, code="invalid_checkin")
    errors: dict[str, str] = {}
    today = now.astimezone(CHINA_TZ).date()
    day = today
    raw_day = body.get("date")
    if raw_day is not None:
        try:
            day = bounds.parse_day(raw_day) or today
        except ValueError as exc:
            errors["date"] = str(exc)
        else:
            if day > today:
                errors["date"] = _("This date is in the future. Check the phone's clock.")
            elif day < today - timedelta(days=MAX_DAYS_LATE):
                errors["date"] = _("Too late to check in for this day.")
    nothing = body.get("nothing_to_report")
    if not isinstance(nothing, bool):
        errors["nothing_to_report"] = _("true or false.")
    count = body.get("count", 0)
    if isinstance(count, bool) or not isinstance(count, int) or count < 0 or count > 10_000:
        errors["count"] = _("A whole number, 0 or more.")
    elif nothing is True and count:
        errors["count"] = _("“Nothing to report” goes with a count of 0.")
    if errors:
        raise InvalidInput(_("Some fields need correcting."), errors, code="invalid_checkin")
    return day, bool(nothing), int(count)
