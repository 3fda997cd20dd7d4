"""Silent cells (零报告 tells silence from calm): the officers, and the cells they watch, with
no check-in and no report for N whole days.

An officer is *silent* when their last sign of work (a daily check-in, or a report they filed)
is more than N whole China days before today, or when they never sent either: with N = 3 on
6 December, an officer last heard from on 2 December is silent (3, 4 and 5 December passed
with nothing), one last heard from on 3 December is not yet. A cell is silent when it has at
least one officer, all its officers are silent and nobody filed a report in it since.

Coordinators see their township, county staff their county, city staff and admins the city.
The coordinator's once-a-day notification is `notify_coordinators` (a Celery beat task calls
it); the inbox's uniqueness per (user, kind, subject) keeps it to one per coordinator per day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

from flask_babel import gettext as _
from sqlalchemy import text
from sqlalchemy.orm import Session

from fieldapp.crypto import keyring_outside_app
from fieldapp.domain import CHINA_TZ
from fieldapp.models import Area, User
from fieldapp.services import notifications
from fieldapp.services.errors import Forbidden, InvalidInput
from fieldapp.services.party_data import user_phone

#: Who may see the silent officers: coordinators (their township), county and city staff.
SILENT_ROLES: Final = frozenset({"coordinator", "county", "city", "admin"})
#: Whole days without a check-in or a report after which an officer counts as silent.
DEFAULT_SILENT_DAYS: Final = 3
#: The inbox kind of the daily notification (one per coordinator per China day).
NOTIFICATION_KIND: Final = "silent.daily"


@dataclass(frozen=True)
class SilentOfficer:
    """One silent officer, the cells they watch, and when they were last heard from."""

    officer_id: int
    name: str
    username: str
    phone: str | None
    cells: list[str]
    township: str
    last_checkin: date | None
    last_report: date | None
    days_silent: int | None
    """Whole days since the last check-in or report; None when there never was one."""


@dataclass(frozen=True)
class SilentSummary:
    officers: list[SilentOfficer]
    silent_cells: int
    days: int
    since: date
    """The first day of the silence window: activity on or after it means not silent."""


def cutoff(today: date, days: int) -> date:
    """The first day that counts as recent: N whole days before today (today excluded)."""
    return today - timedelta(days=days)


def days_silent(today: date, last: date | None) -> int | None:
    """Whole days between the last activity and today (exclusive of both); None: never."""
    if last is None:
        return None
    return max((today - last).days - 1, 0)


def check_days(days: int) -> int:
    """The configured N, which must be 1..60 (a typo in the setting must not silence or
    alarm everybody)."""
    if not 1 <= days <= 60:
        raise InvalidInput(
            _("Check the parameters."),
            {"days": _("Must be between 1 and 60.")},
            code="invalid_parameters",
        )
    return days


def _scope_area(session: Session, user: User) -> tuple[str | None, int | None]:
    """(level, area id) the reader may see; (None, None) for the whole city."""
    if user.role not in SILENT_ROLES:
        raise Forbidden(_("This page is for coordinators, county and city staff."))
    if user.role in ("city", "admin") or user.area_id is None:
        if user.role == "coordinator":  # a coordinator without a township sees nothing
            return "township", -1
        return None, None
    area = session.get(Area, user.area_id)
    if area is None:
        return "township", -1
    return area.level, area.id


_SILENT_SQL: Final = """
WITH watched AS (
    SELECT oc.user_id, c.id AS cell_id, c.name AS cell_name, c.township_id
    FROM officer_cells oc
    JOIN cells c ON c.id = oc.cell_id
    JOIN users u ON u.id = oc.user_id AND u.role = 'officer' AND u.active
    WHERE (CAST(:township_id AS integer) IS NULL OR c.township_id = :township_id)
      AND (CAST(:county_id AS integer) IS NULL OR c.county_id = :county_id)
),
officers AS (
    SELECT w.user_id,
           (SELECT max(k.day) FROM checkins k WHERE k.officer_id = w.user_id) AS last_checkin,
           -- max() of the column itself: read off ix_reports_officer_reported's end
           (SELECT (max(r.reported_at) AT TIME ZONE :tz)::date
              FROM reports r WHERE r.officer_id = w.user_id) AS last_report
    FROM (SELECT DISTINCT user_id FROM watched) w
),
silent AS (
    SELECT o.* FROM officers o
    WHERE coalesce(greatest(o.last_checkin, o.last_report), DATE '1900-01-01') < :since
)
SELECT s.user_id, u.display_name, u.username, u.phone, s.last_checkin, s.last_report,
       array_agg(w.cell_name ORDER BY w.cell_name) AS cells,
       min(t.name) AS township,
       (SELECT count(*) FROM (
            SELECT w2.cell_id FROM watched w2
            GROUP BY w2.cell_id
            HAVING bool_and(w2.user_id IN (SELECT user_id FROM silent))
               AND NOT EXISTS (
                   SELECT 1 FROM reports r2
                   WHERE r2.cell_id = w2.cell_id AND r2.reported_at >= :since_at)
        ) sc) AS silent_cells
FROM silent s
JOIN users u ON u.id = s.user_id
JOIN watched w ON w.user_id = s.user_id
JOIN areas t ON t.id = w.township_id
GROUP BY s.user_id, u.display_name, u.username, u.phone, s.last_checkin, s.last_report
ORDER BY coalesce(greatest(s.last_checkin, s.last_report), DATE '1900-01-01'), min(t.name),
         u.display_name
"""


def silent_officers(
    session: Session, user: User, *, now: datetime, days: int = DEFAULT_SILENT_DAYS
) -> SilentSummary:
    """The silent officers in the reader's area (township, county or city), longest silent
    first, and how many of its cells are silent."""
    check_days(days)
    level, area_id = _scope_area(session, user)
    today = now.astimezone(CHINA_TZ).date()
    since = cutoff(today, days)
    since_at = datetime.combine(since, datetime.min.time(), tzinfo=CHINA_TZ)
    rows = session.execute(
        text(_SILENT_SQL),
        {
            "township_id": area_id if level == "township" else None,
            "county_id": area_id if level == "county" else None,
            "tz": str(CHINA_TZ),
            "since": since,
            "since_at": since_at,
        },
    ).all()
    ring = keyring_outside_app()
    officers = [
        SilentOfficer(
            officer_id=r.user_id,
            name=r.display_name or r.username,
            username=r.username,
            phone=user_phone(ring, r.phone),  # staff phones are stored encrypted
            cells=list(r.cells),
            township=r.township,
            last_checkin=r.last_checkin,
            last_report=r.last_report,
            days_silent=days_silent(today, _latest(r.last_checkin, r.last_report)),
        )
        for r in rows
    ]
    cells = int(rows[0].silent_cells) if rows else 0
    return SilentSummary(officers=officers, silent_cells=cells, days=days, since=since)


def _latest(a: date | None, b: date | None) -> date | None:
    return max((d for d in (a, b) if d is not None), default=None)


def notify_coordinators(session: Session, *, now: datetime, days: int) -> int:
    """Tell each active coordinator with silent officers in their township, once per China
    day (the inbox keeps one notification per user, kind and subject). Returns how many
    notifications were new. The caller commits."""
    today = now.astimezone(CHINA_TZ).date()
    coordinators = session.query(User).filter(User.role == "coordinator", User.active).all()
    created = 0
    for coordinator in coordinators:
        summary = silent_officers(session, coordinator, now=now, days=days)
        if not summary.officers:
            continue
        names = "、".join(o.name for o in summary.officers[:5])
        more = "等" if len(summary.officers) > 5 else ""
        message = (
            f"{len(summary.officers)}名网格员连续{days}天以上无签到、无上报：{names}{more}；"
            f"涉及{summary.silent_cells}个网格。"
        )
        created += notifications.notify(
            session, [coordinator.id], NOTIFICATION_KIND, f"silent:{today.isoformat()}", message
        )
    return created
