"""Statistics use cases: live roll-ups, the KPI assessment table (考评), key backlog cases
(重点积案) and their campaign view. Scope first: a coordinator sees their township, county
staff their county, city staff and administrators everything; officers and department
handlers have no statistics. SQL is in `fieldapp.services.rollups`, formulas in `fieldapp.kpi`,
periods and buckets in `fieldapp.stats`."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import date, datetime, timedelta
from typing import Any, Final

from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from fieldapp import kpi
from fieldapp.contract.stats import KeyCaseInput
from fieldapp.domain import SEVERITIES
from fieldapp.labels import SEVERITY_CHOICES, STATE_LABELS, one_of
from fieldapp.models import CaseEvent, Category, Report, User
from fieldapp.services import audit, reports, rollups
from fieldapp.services.errors import Conflict, Forbidden, InvalidInput
from fieldapp.services.rollups import AreaInfo, RollupFilters
from fieldapp.stats import (
    MERGED,
    Period,
    bucket_keys,
    china_day,
    level_index,
    sum_up,
)
from fieldapp.workflow import OPEN_STATES, State

STATS_ROLES: Final = frozenset({"coordinator", "county", "city", "admin"})
#: Who may flag a case as a key case: its township's coordinators, its county's staff, city.
KEY_CASE_ROLES: Final = frozenset({"coordinator", "county", "city"})
#: Numbers in one roll-up answer at most (areas × breakdown keys): the whole city's cells by
#: day for a year would be 1.7 million, which no chart can show.
MAX_CELLS: Final = 200_000
#: Period buckets in one answer at most: three years of days, or weeks and months beyond.
MAX_BUCKETS: Final = 1100
STATES: Final = tuple(s.value for s in State)


def _area_json(area: AreaInfo | None) -> dict[str, Any] | None:
    if area is None:
        return None
    return {"code": area.code, "name": area.name, "level": area.level}


def check_reader(user: User) -> None:
    if user.role not in STATS_ROLES:
        raise Forbidden(_("Statistics are for coordinators, county and city staff."))


def resolve_within(session: Session, user: User, code: str | None) -> AreaInfo | None:
    """The area the answer is about: `code` if given (it must lie in the user's area), else
    the user's own area (None for city staff: everything)."""
    check_reader(user)
    if code:
        area = rollups.find_area(session, code)
        if area is None:
            raise InvalidInput(
                _("Check the parameters."),
                {"within": _("No area or cell has this code.")},
                code="invalid_parameters",
            )
        if user.role not in ("city", "admin") and user.area_id not in area.chain.values():
            raise Forbidden(_("This area is outside yours."), {"within": _("Outside your area.")})
        return area
    if user.role in ("city", "admin") or user.area_id is None:
        return None
    return rollups.find_area_by_id(session, user.area_id)


def check_level(level: str, within: AreaInfo | None) -> None:
    if within is not None and level_index(level) < level_index(within.level):
        raise InvalidInput(
            _("Check the parameters."),
            {
                "level": _(
                    "Must be at or below the level of “within” (%(level)s).", level=within.level
                )
            },
            code="invalid_parameters",
        )


# --- roll-ups --------------------------------------------------------------------------------


def rollup(
    session: Session,
    user: User,
    *,
    level: str,
    within_code: str | None,
    filters: RollupFilters,
    by: str | None,
    bucket: str,
) -> dict[str, Any]:
    """Counts of reports per area of `level` under `within`, every area included (zeros too),
    optionally broken down by category, severity, status or period bucket."""
    within = resolve_within(session, user, within_code)
    check_level(level, within)
    keys = _keys(session, filters, by, bucket)
    if by == "period" and len(keys) > MAX_BUCKETS:
        raise InvalidInput(
            _("Too many periods at once."),
            {"bucket": _("At most %(n)d buckets: choose week or month.", n=MAX_BUCKETS)},
            code="invalid_parameters",
        )
    areas = rollups.areas_below(session, level, within)
    if len(areas) * max(len(keys), 1) > MAX_CELLS:
        raise InvalidInput(
            _("Too much at once: narrow the window, the area or the level."),
            {"level": _("Too many areas × keys (at most %(n)d).", n=MAX_CELLS)},
            code="invalid_parameters",
        )
    counted = rollups.count_reports(session, user, level, within, filters, by, bucket)
    if level == "city":
        counted = sum_up(counted, rollups.county_parents(session))
    rows = []
    totals = dict.fromkeys(keys, 0)
    grand_total = 0
    for area in areas:
        found = counted.get(area.id, {})
        total = sum(found.values())
        counts = {k: found.get(k, 0) for k in keys}
        for k, n in counts.items():
            totals[k] += n
        grand_total += total
        rows.append(
            {
                "code": area.code,
                "name": area.name,
                "level": area.level,
                "parent_code": area.parent_code,
                "population": area.population,
                "total": total,
                "counts": counts,
            }
        )
    return {
        "level": level,
        "within": _area_json(within),
        "by": by,
        "bucket": bucket if by == "period" else None,
        "filters": {
            "from": filters.date_from.isoformat() if filters.date_from else None,
            "to": filters.date_to.isoformat() if filters.date_to else None,
            "category": list(filters.categories),
            "severity": list(filters.severities),
            "status": list(filters.statuses),
        },
        "keys": keys,
        "rows": rows,
        "totals": {"total": grand_total, "counts": totals},
    }


def category_codes(session: Session) -> list[str]:
    return list(session.execute(select(Category.code).order_by(Category.sort_order)).scalars())


def _keys(session: Session, filters: RollupFilters, by: str | None, bucket: str) -> list[str]:
    if by is None:
        return []
    if by == "category":
        return list(filters.categories) or category_codes(session)
    if by == "severity":
        return list(filters.severities) or list(SEVERITIES)
    if by == "status":
        return list(filters.statuses) or [s for s in STATES if s != MERGED]
    assert filters.date_from is not None and filters.date_to is not None
    return bucket_keys(filters.date_from, filters.date_to, bucket)


def validate_filters(session: Session, filters: RollupFilters) -> None:
    """Unknown codes in the filters are a 400 with the field named (not an empty answer)."""
    fields: dict[str, str] = {}
    unknown = set(filters.categories) - set(category_codes(session))
    if unknown:
        fields["category"] = _("Unknown category: %(codes)s.", codes=", ".join(sorted(unknown)))
    if set(filters.severities) - set(SEVERITIES):
        fields["severity"] = str(SEVERITY_CHOICES)
    if set(filters.statuses) - set(STATES):
        fields["status"] = one_of(STATE_LABELS, STATES)
    if fields:
        raise InvalidInput(_("Check the filters."), fields, code="invalid_parameters")


# --- KPIs --------------------------------------------------------------------------------------


def _kpi_block(counts: dict[str, int | None]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in kpi.KPIS:
        out[k.key] = {
            "value": kpi.rounded(kpi.value(k, counts)),
            "numerator": counts.get(k.numerator),
            "denominator": counts.get(k.denominator),
        }
    return out


def _period_json(period: Period) -> dict[str, Any]:
    return {
        "label": period.label,
        "kind": period.kind,
        "from": period.start.isoformat(),
        "to": (period.end - timedelta(days=1)).isoformat(),
    }


def kpi_table(
    session: Session,
    user: User,
    *,
    level: str,
    within_code: str | None,
    period: Period,
    now: datetime,
    cache_seconds: float = 0.0,
) -> dict[str, Any]:
    """The assessment table (考评) of the townships or counties under `within` for `period`:
    every KPI with numerator and denominator, the composite score, the rank within the
    table, and the same for the previous period of equal length with the changes.

    With `cache_seconds` > 0 an answer computed that recently for the same scope, level,
    area and period is returned as it was (its `as_of` says when it was computed): see
    `_KpiCache`. The scope checks run on every call."""
    within = resolve_within(session, user, within_code)
    check_level(level, within)
    if cache_seconds <= 0:
        return _kpi_table(session, user, level, within, period, now)
    key = _kpi_cache_key(session, user, level, within, period)
    cached = _KPI_CACHE.get(key)
    if cached is None:
        cached = _kpi_table(session, user, level, within, period, now)
        _KPI_CACHE.put(key, cached, cache_seconds)
    return cached


class _KpiCache:
    """Recent KPI tables, each kept a few seconds. Computing one reads every report of two
    periods (about 0.3 s at a million reports a year); a dashboard opened by many people at
    once, or refreshed, would compute the same table again and again. A few seconds keeps
    "a write shows within seconds" true. Per process (each gunicorn worker has its own),
    thread-safe, bounded."""

    MAX_ENTRIES = 256

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[Any, ...], tuple[float, dict[str, Any]]] = {}

    def get(self, key: tuple[Any, ...]) -> dict[str, Any] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] <= time.monotonic():
                return None
            return entry[1]

    def put(self, key: tuple[Any, ...], value: dict[str, Any], seconds: float) -> None:
        with self._lock:
            clock = time.monotonic()
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries = {k: e for k, e in self._entries.items() if e[0] > clock}
                if len(self._entries) >= self.MAX_ENTRIES:
                    self._entries.clear()
            self._entries[key] = (clock + seconds, value)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_KPI_CACHE: Final = _KpiCache()


def _kpi_cache_key(
    session: Session, user: User, level: str, within: AreaInfo | None, period: Period
) -> tuple[Any, ...]:
    # Everything the answer depends on: the database, what the user may see (city staff and
    # administrators everything; others their area: scope.report_filter), the table asked for.
    sees = ("all",) if user.role in ("city", "admin") else (user.role, user.area_id)
    database = session.get_bind().engine.url.render_as_string(hide_password=True)
    area = within.id if within is not None else None
    return (database, sees, level, area, period.kind, period.start, period.end)


def _kpi_table(
    session: Session,
    user: User,
    level: str,
    within: AreaInfo | None,
    period: Period,
    now: datetime,
) -> dict[str, Any]:
    previous = period.previous()
    periods = [period, previous]
    areas = rollups.areas_below(session, level, within)
    counted = rollups.kpi_counts(session, user, level, within, periods, now)
    today = china_day(now)
    windows = [(p.start, min(p.end, today)) for p in periods]
    officers, checkins = rollups.checkin_counts(session, level, within, windows)

    per_period: list[list[dict[str, int | None]]] = []
    for index, (first, end) in enumerate(windows):
        days = max((end - first).days, 0)
        rows = []
        for area in areas:
            counts: dict[str, int | None] = dict.fromkeys(kpi.COUNT_NAMES, 0)
            counts.update(counted[index].get(area.id, {}))
            counts["checkin_days"] = checkins[index].get(area.id, 0)
            counts["expected_checkin_days"] = officers.get(area.id, 0) * days
            counts["population"] = area.population
            rows.append(counts)
        per_period.append(rows)
    values = [[kpi.values(c) for c in rows] for rows in per_period]
    scores = [
        [kpi.area_score(c, v) for c, v in zip(rows, vs, strict=True)]
        for rows, vs in zip(per_period, values, strict=True)
    ]
    ranks = [kpi.ranks(s) for s in scores]

    out_rows = []
    for i, area in enumerate(areas):
        current_values, previous_values = values[0][i], values[1][i]
        out_rows.append(
            {
                "code": area.code,
                "name": area.name,
                "level": area.level,
                "parent_code": area.parent_code,
                "population": area.population,
                "kpis": _kpi_block(per_period[0][i]),
                "score": kpi.rounded(scores[0][i], 2),
                "rank": ranks[0][i],
                "previous": {
                    "kpis": _kpi_block(per_period[1][i]),
                    "score": kpi.rounded(scores[1][i], 2),
                    "rank": ranks[1][i],
                },
                "delta": {
                    "kpis": {
                        k.key: kpi.rounded(kpi.delta(current_values[k.key], previous_values[k.key]))
                        for k in kpi.KPIS
                    },
                    "score": kpi.rounded(kpi.delta(scores[0][i], scores[1][i]), 2),
                    "rank_change": kpi.rank_change(ranks[0][i], ranks[1][i]),
                },
            }
        )
    out_rows.sort(key=lambda r: (r["rank"] is None, r["rank"] or 0, r["code"]))
    return {
        "level": level,
        "within": _area_json(within),
        "period": _period_json(period),
        "previous_period": _period_json(previous),
        "as_of": now.isoformat(),
        "kpis": kpi.describe(),
        "rows": out_rows,
    }


# --- key backlog cases (重点积案) -------------------------------------------------------------


def _may_flag(user: User, report: Report) -> bool:
    if user.role == "city":
        return True
    if user.role == "county":
        return user.area_id == report.county_id
    if user.role == "coordinator":
        return user.area_id == report.township_id
    return False


def _key_json(report: Report) -> dict[str, Any]:
    return {
        "id": str(report.id),
        "is_key_case": report.is_key_case,
        "leader": report.key_leader,
        "target_date": report.key_target_date.isoformat() if report.key_target_date else None,
        "status": report.status,
    }


def set_key_case(
    session: Session,
    user: User,
    report_id: uuid.UUID,
    data: KeyCaseInput,
    *,
    now: datetime,
    remote_addr: str | None = None,
) -> dict[str, Any]:
    """Flag a case as a key backlog case (or change its leader and target date): recorded as
    a case event and in the audit log. `data` is validated by the contract; whether the date
    is in the past needs the case (its current target date may stay)."""
    report = reports.get_report(session, user, report_id)
    if user.role not in KEY_CASE_ROLES or not _may_flag(user, report):
        raise Forbidden(_("Only the case's coordinator, county staff or city staff may do this."))
    if report.status in (State.MERGED.value, State.REJECTED.value):
        raise Conflict(_("A merged or rejected report cannot be a key case."))
    if data.target_date < china_day(now) and data.target_date != report.key_target_date:
        raise InvalidInput(
            _("Check the fields."),
            {"target_date": _("Must not be in the past.")},
            code="invalid_parameters",
        )
    return _write_key(session, user, report, True, data.leader, data.target_date, now, remote_addr)


def clear_key_case(
    session: Session,
    user: User,
    report_id: uuid.UUID,
    *,
    now: datetime,
    remote_addr: str | None = None,
) -> dict[str, Any]:
    report = reports.get_report(session, user, report_id)
    if user.role not in KEY_CASE_ROLES or not _may_flag(user, report):
        raise Forbidden(_("Only the case's coordinator, county staff or city staff may do this."))
    if not report.is_key_case:
        raise Conflict(_("This case is not a key case."))
    return _write_key(session, user, report, False, None, None, now, remote_addr)


def _write_key(
    session: Session,
    user: User,
    report: Report,
    flag: bool,
    leader: str | None,
    target: date | None,
    now: datetime,
    remote_addr: str | None,
) -> dict[str, Any]:
    before = {
        "is_key_case": report.is_key_case,
        "leader": report.key_leader,
        "target_date": report.key_target_date.isoformat() if report.key_target_date else None,
    }
    after = {
        "is_key_case": flag,
        "leader": leader,
        "target_date": target.isoformat() if target else None,
    }
    # Not a workflow transition: the status and the version stay, so nobody's open case
    # page turns stale because a leader was named.
    session.execute(
        update(Report)
        .where(Report.id == report.id)
        .values(is_key_case=flag, key_leader=leader, key_target_date=target)
    )
    action = "key_case" if flag else "key_case_cleared"
    session.add(
        CaseEvent(
            report_id=report.id,
            actor_id=user.id,
            at=now,
            action=action,
            from_status=report.status,
            to_status=report.status,
            data={"before": before, "after": after},
        )
    )
    audit.record(
        session,
        actor_id=user.id,
        action=f"case.{action}",
        object_type="report",
        object_id=report.id,
        remote_addr=remote_addr,
        details={"before": before, "after": after},
    )
    session.flush()
    session.refresh(report)
    return _key_json(report)


def _summary(rows: list[rollups.KeyCaseRow], today: date) -> dict[str, Any]:
    assigned = len(rows)
    resolved = sum(1 for r in rows if _resolved(r))
    closed = sum(1 for r in rows if r.status == State.CLOSED.value)
    open_ = sum(1 for r in rows if r.status in OPEN_STATES)
    overdue = sum(1 for r in rows if _overdue(r, today))
    return {
        "assigned": assigned,
        "resolved": resolved,
        "resolved_rate": kpi.rounded(resolved / assigned) if assigned else None,
        "closed": closed,
        "open": open_,
        "overdue": overdue,
    }


def _resolved(row: rollups.KeyCaseRow) -> bool:
    return row.status == State.CLOSED.value and row.outcome == "resolved"


def _overdue(row: rollups.KeyCaseRow, today: date) -> bool:
    return row.status in OPEN_STATES and row.target_date is not None and row.target_date < today


def campaign(
    session: Session, user: User, *, within_code: str | None, now: datetime
) -> dict[str, Any]:
    """The key-case campaign (重点积案攻坚): "N assigned, M% resolved" for the area and per
    county (city) or township (county, township), the overdue ones, and the cases."""
    within = resolve_within(session, user, within_code)
    if within is not None and within.level in ("village", "cell"):
        raise InvalidInput(
            _("Check the parameters."),
            {"within": _("A city, county or township.")},
            code="invalid_parameters",
        )
    today = china_day(now)
    rows = rollups.key_cases(session, user, within)
    child_level = "county" if within is None or within.level == "city" else "township"
    areas = rollups.areas_below(session, child_level, within)
    by_area: dict[int, list[rollups.KeyCaseRow]] = {a.id: [] for a in areas}
    for row in rows:
        key = row.county_id if child_level == "county" else row.township_id
        by_area.setdefault(key, []).append(row)
    return {
        "within": _area_json(within),
        "as_of": today.isoformat(),
        "summary": _summary(rows, today),
        "areas": [
            {
                "code": a.code,
                "name": a.name,
                "level": a.level,
                **_summary(by_area.get(a.id, []), today),
            }
            for a in areas
        ],
        "cases": [
            {
                "id": r.id,
                "title": r.title,
                "status": r.status,
                "outcome": r.outcome,
                "severity": r.severity,
                "category": r.category,
                "leader": r.leader,
                "target_date": r.target_date.isoformat() if r.target_date else None,
                "resolved": _resolved(r),
                "overdue": _overdue(r, today),
                "days_overdue": (today - r.target_date).days
                if _overdue(r, today) and r.target_date
                else 0,
                "reported_at": r.reported_at.isoformat(),
                "closed_at": r.closed_at.isoformat() if r.closed_at else None,
                "township": {"code": r.township_code, "name": r.township_name},
                "county": {"code": r.county_code, "name": r.county_name},
            }
            for r in rows
        ],
    }
