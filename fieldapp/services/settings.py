"""Settings an administrator changes without a deploy (issue #17.4): report categories, the
deadline policy (versioned), the group-incident threshold and the business-day calendar.

**Reaching every process.** Each server and worker process caches what it reads on the hot
path (the category taxonomy, the current policy, the calendar). Every change here bumps the
single row of `settings_revision` in the same transaction. A process re-reads that number at
most once every `check_seconds` (the app's SETTINGS_CHECK_SECONDS, default 5 s: one indexed
one-row read, not per request) and drops its caches when the number moved; the process that
made the change drops its own at once. So a change reaches every process within
SETTINGS_CHECK_SECONDS.

**Versions.** A deadline policy is never edited: a change appends a new version with who and
when. A case stores the version it was given at intake (`reports.deadline_policy_version`)
and keeps it for life: its handling deadline, extension limit and the rest come from that
version, whatever was saved later. NULL means the case was filed before any version was
saved, under the configured policy (`DEADLINE_POLICY`), which stays the fallback.

**Calendar.** Holidays and make-up working days are one table for every version (they are
facts of the year, not rules). A policy with `business_days` on counts its day limits in
working days on that calendar; with it off (the default) day limits are calendar days and
the calendar is not used.

The form parsers are plain functions (no database) so they can be tested alone; they raise
`InvalidInput` naming every bad field, and the writers change nothing before all is valid."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from fieldapp.deadlines import (
    STEPS,
    DeadlinePolicy,
    policy_from_json,
    policy_to_json,
)
from fieldapp.domain import SEVERITIES
from fieldapp.models import (
    AppSetting,
    CalendarDay,
    Category,
    DeadlinePolicyVersion,
    Report,
    SettingsRevision,
    User,
)
from fieldapp.services import audit
from fieldapp.services.errors import Conflict, InvalidInput, NotFound

GROUP_THRESHOLD_KEY = "group_incident_threshold"
DEFAULT_CHECK_SECONDS = 5.0

# Bounds of what the settings page accepts; beyond them it is a typo, not a policy.
MAX_LIMIT_HOURS = 720
MAX_LIMIT_DAYS = 365
MAX_EXTENSION_DAYS = 180
MAX_GROUP_THRESHOLD = 10_000
CATEGORY_CODE = re.compile(r"^[a-z][a-z0-9_]{1,31}$")
MAX_NAME_ZH = 50
MAX_NAME_EN = 80
MAX_NOTE = 200
MAX_DAY_NAME = 60


# --- the per-process cache -------------------------------------------------------------------


@dataclass(frozen=True)
class Current:
    """The settings new work is done under."""

    policy: DeadlinePolicy
    policy_version: int | None
    group_threshold: int


class SettingsCache:
    """What one process knows of the settings, valid for one revision. Thread-safe enough for
    gunicorn threads: the worst race builds the same snapshot twice."""

    def __init__(
        self,
        check_seconds: float = DEFAULT_CHECK_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.check_seconds = check_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._revision: int | None = None
        self._checked_at = float("-inf")
        self._data: dict[str, Any] = {}

    def revision(self, session: Session) -> int:
        """The revision, read from the database at most every `check_seconds`; when it
        moved, everything cached is dropped."""
        now = self.clock()
        if self._revision is not None and now - self._checked_at < self.check_seconds:
            return self._revision
        found = session.execute(
            select(SettingsRevision.revision).where(SettingsRevision.id == 1)
        ).scalar_one_or_none()
        revision = int(found or 0)
        with self._lock:
            if revision != self._revision:
                self._data = {}
                self._revision = revision
            self._checked_at = now
        return revision

    def get(self, session: Session, key: str, build: Callable[[], Any]) -> Any:
        """The cached value of `key` for the current revision, built once per revision."""
        revision = self.revision(session)
        data = self._data
        if key not in data:
            value = build()
            with self._lock:
                if self._revision == revision:
                    self._data[key] = value
            return value
        return data[key]

    def invalidate(self) -> None:
        """Forget everything now (the process that changed the settings)."""
        with self._lock:
            self._data = {}
            self._revision = None
            self._checked_at = float("-inf")


cache = SettingsCache()


def configure(check_seconds: float) -> None:
    """Set this process's check interval (from the app's SETTINGS_CHECK_SECONDS)."""
    cache.check_seconds = check_seconds


# --- reading ---------------------------------------------------------------------------------


def calendar(session: Session) -> tuple[frozenset[date], frozenset[date]]:
    """(holidays, make-up working days), cached per revision."""

    def build() -> tuple[frozenset[date], frozenset[date]]:
        rows = session.execute(select(CalendarDay.day, CalendarDay.kind)).all()
        return (
            frozenset(d for d, kind in rows if kind == "holiday"),
            frozenset(d for d, kind in rows if kind == "workday"),
        )

    result: tuple[frozenset[date], frozenset[date]] = cache.get(session, "calendar", build)
    return result


def _stored_policy(session: Session, version: int) -> dict[str, Any] | None:
    def build() -> dict[str, Any] | None:
        return session.execute(
            select(DeadlinePolicyVersion.policy).where(DeadlinePolicyVersion.version == version)
        ).scalar_one_or_none()

    found: dict[str, Any] | None = cache.get(session, f"policy:{version}", build)
    return found


def latest_policy_version(session: Session) -> int | None:
    """The newest saved version, or None when none was ever saved."""

    def build() -> int | None:
        return session.execute(select(func.max(DeadlinePolicyVersion.version))).scalar()

    found: int | None = cache.get(session, "latest_version", build)
    return found


def policy_for_version(
    session: Session, version: int | None, fallback: DeadlinePolicy
) -> DeadlinePolicy:
    """The policy of `version` on the current calendar; `fallback` (the configured policy)
    for None or a version that does not exist."""
    holidays, workdays = calendar(session)
    stored = _stored_policy(session, version) if version is not None else None
    base = fallback if stored is None else policy_from_json(stored, fallback)
    return base.with_calendar(holidays | fallback.holidays, workdays | fallback.workdays)


def policy_for_case(session: Session, report: Report, fallback: DeadlinePolicy) -> DeadlinePolicy:
    """The policy a case was given (a case keeps its version for life)."""
    return policy_for_version(session, report.deadline_policy_version, fallback)


def group_threshold(session: Session, fallback: int) -> int:
    """The group-incident threshold (people), `fallback` (config) until one is saved."""

    def build() -> int | None:
        value = session.execute(
            select(AppSetting.value).where(AppSetting.key == GROUP_THRESHOLD_KEY)
        ).scalar_one_or_none()
        return int(value) if isinstance(value, int) else None

    found: int | None = cache.get(session, GROUP_THRESHOLD_KEY, build)
    return fallback if found is None else found


def current(session: Session, *, policy: DeadlinePolicy, threshold: int) -> Current:
    """The settings new reports are filed under; `policy` and `threshold` are the configured
    values, which apply until an administrator saves their own. Built once per revision (it
    is read by every report)."""

    def build() -> tuple[DeadlinePolicy, Current]:
        version = latest_policy_version(session)
        return policy, Current(
            policy=policy_for_version(session, version, policy),
            policy_version=version,
            group_threshold=group_threshold(session, threshold),
        )

    # Keyed by the configured policy object (one per app; policies are not hashable). The
    # entry keeps that object, so an id reused by another policy is never mistaken for it.
    key = f"current:{id(policy)}:{threshold}"
    configured, found = cache.get(session, key, build)
    if configured is not policy:
        cache.invalidate()
        configured, found = cache.get(session, key, build)
    result: Current = found
    return result


def policy_history(session: Session) -> list[dict[str, Any]]:
    """Every saved version, newest first, with who saved it."""
    rows = session.execute(
        select(DeadlinePolicyVersion, User.display_name, User.username)
        .outerjoin(User, User.id == DeadlinePolicyVersion.created_by)
        .order_by(DeadlinePolicyVersion.version.desc())
    ).all()
    return [
        {
            "version": v.version,
            "policy": v.policy,
            "created_at": v.created_at,
            "created_by": name or username or "",
            "note": v.note or "",
            "cases": 0,
        }
        for v, name, username in rows
    ]


def cases_per_version(session: Session) -> dict[int | None, int]:
    """How many cases were given each version (None: the configured policy)."""
    rows = session.execute(
        select(Report.deadline_policy_version, func.count()).group_by(
            Report.deadline_policy_version
        )
    ).all()
    return {v: int(n) for v, n in rows}


def all_categories(session: Session) -> list[dict[str, Any]]:
    """Every category, active and retired, with how many reports use it."""
    used = dict(
        session.execute(select(Report.category, func.count()).group_by(Report.category)).all()
    )
    rows = session.execute(select(Category).order_by(Category.sort_order, Category.code)).scalars()
    return [
        {
            "code": c.code,
            "name_zh": c.name_zh,
            "name_en": c.name_en,
            "active": c.active,
            "sort_order": c.sort_order,
            "reports": int(used.get(c.code, 0)),
        }
        for c in rows
    ]


def calendar_days(session: Session, year: int) -> list[CalendarDay]:
    """The year's holidays and make-up working days, in date order."""
    return list(
        session.execute(
            select(CalendarDay)
            .where(CalendarDay.day >= date(year, 1, 1), CalendarDay.day <= date(year, 12, 31))
            .order_by(CalendarDay.day)
        ).scalars()
    )


# --- parsing (pure) --------------------------------------------------------------------------


def _text(form: Mapping[str, Any], key: str) -> str:
    value = form.get(key)
    return value.strip() if isinstance(value, str) else ""


def _whole_number(raw: str, low: int, high: int) -> int | None:
    if not re.fullmatch(r"[0-9]{1,7}", raw):  # ASCII digits only (not ٣ or ３)
        return None
    value = int(raw)
    return value if low <= value <= high else None


def parse_policy_form(form: Mapping[str, Any]) -> dict[str, Any]:
    """The policy JSON from the settings form: for each step and severity a whole number
    (`<step>_<severity>_value`) and a unit (`<step>_<severity>_unit`: hours or days), the
    longest extension in days, and whether days are working days."""
    fields: dict[str, str] = {}
    out: dict[str, Any] = {}
    for step in STEPS:
        table: dict[str, dict[str, float | int]] = {}
        for severity in SEVERITIES:
            name = f"{step}_{severity}"
            unit = _text(form, f"{name}_unit")
            if unit not in ("hours", "days"):
                fields[f"{name}_unit"] = _("Choose hours or days.")
                continue
            high = MAX_LIMIT_HOURS if unit == "hours" else MAX_LIMIT_DAYS
            value = _whole_number(_text(form, f"{name}_value"), 1, high)
            if value is None:
                fields[f"{name}_value"] = _("A whole number from 1 to %(high)d.", high=high)
                continue
            table[severity] = (
                {"hours": value, "days": 0}
                if unit == "hours"
                else {
                    "hours": 0,
                    "days": value,
                }
            )
        out[step] = table
    extension = _whole_number(_text(form, "max_extension_days"), 0, MAX_EXTENSION_DAYS)
    if extension is None:
        fields["max_extension_days"] = _(
            "A whole number from 0 to %(high)d.", high=MAX_EXTENSION_DAYS
        )
    out["max_extension_days"] = extension
    out["business_days"] = _text(form, "business_days") in ("1", "on", "true", "yes")
    note = _text(form, "note")
    if len(note) > MAX_NOTE:
        fields["note"] = _("At most %(n)d characters.", n=MAX_NOTE)
    if fields:
        raise InvalidInput(_("Check the fields."), fields)
    return out


def parse_threshold(form: Mapping[str, Any]) -> int:
    """The group-incident threshold from a form field `group_threshold`."""
    value = _whole_number(_text(form, "group_threshold"), 2, MAX_GROUP_THRESHOLD)
    if value is None:
        raise InvalidInput(
            _("Check the fields."),
            {
                "group_threshold": _(
                    "A whole number of people from 2 to %(high)d.", high=MAX_GROUP_THRESHOLD
                )
            },
        )
    return value


@dataclass(frozen=True)
class CategoryInput:
    code: str
    name_zh: str
    name_en: str


def parse_category(form: Mapping[str, Any], *, with_code: bool) -> CategoryInput:
    """A category's code (when adding) and its names in both languages."""
    fields: dict[str, str] = {}
    code = _text(form, "code")
    if with_code and not CATEGORY_CODE.match(code):
        fields["code"] = _(
            "2 to 32 characters: lower-case letters, digits and _, starting with a letter."
        )
    name_zh = _text(form, "name_zh")
    name_en = _text(form, "name_en")
    if not name_zh:
        fields["name_zh"] = _("Required.")
    elif len(name_zh) > MAX_NAME_ZH:
        fields["name_zh"] = _("At most %(n)d characters.", n=MAX_NAME_ZH)
    if not name_en:
        fields["name_en"] = _("Required.")
    elif len(name_en) > MAX_NAME_EN:
        fields["name_en"] = _("At most %(n)d characters.", n=MAX_NAME_EN)
    if fields:
        raise InvalidInput(_("Check the fields."), fields)
    return CategoryInput(code, name_zh, name_en)


@dataclass(frozen=True)
class DayInput:
    day: date
    kind: str
    name: str


def parse_calendar_day(form: Mapping[str, Any]) -> DayInput:
    """A holiday or make-up working day: `day` (ISO date), `kind`, `name`."""
    fields: dict[str, str] = {}
    raw = _text(form, "day")
    day = None
    try:
        day = date.fromisoformat(raw)
        if not 2000 <= day.year <= 2100:
            raise ValueError
    except ValueError:
        fields["day"] = _("A date like %(example)s.", example="2026-10-01")
    kind = _text(form, "kind")
    if kind not in ("holiday", "workday"):
        fields["kind"] = _("Choose holiday or make-up working day.")
    name = _text(form, "name")
    if not name:
        fields["name"] = _("Required.")
    elif len(name) > MAX_DAY_NAME:
        fields["name"] = _("At most %(n)d characters.", n=MAX_DAY_NAME)
    if not fields and day is not None and kind == "workday" and day.weekday() < 5:
        fields["day"] = _("A make-up working day is a Saturday or Sunday.")
    if fields or day is None:
        raise InvalidInput(_("Check the fields."), fields)
    return DayInput(day, kind, name)


# --- writing ---------------------------------------------------------------------------------


def _record_change(
    session: Session,
    actor: User,
    action: str,
    object_type: str,
    object_id: Any,
    *,
    remote_addr: str | None,
    details: dict[str, Any] | None = None,
) -> None:
    """Every settings change, once: its audit record, and the revision that tells every
    process the settings changed (both in the caller's transaction)."""
    audit.record(
        session,
        actor_id=actor.id,
        action=action,
        object_type=object_type,
        object_id=object_id,
        remote_addr=remote_addr,
        details=details,
    )
    session.execute(
        update(SettingsRevision)
        .where(SettingsRevision.id == 1)
        .values(revision=SettingsRevision.revision + 1, changed_at=func.now())
    )
    session.flush()


def changed() -> None:
    """After the commit: this process forgets its cached settings at once (the others within
    SETTINGS_CHECK_SECONDS)."""
    cache.invalidate()


def save_policy(
    session: Session,
    actor: User,
    form: Mapping[str, Any],
    *,
    remote_addr: str | None,
) -> int:
    """A new policy version from the form; returns its number. New reports get it; cases
    already given a version keep theirs."""
    data = parse_policy_form(form)
    note = _text(form, "note") or None
    # The row lock serialises two admins saving at once: each gets its own number.
    session.execute(select(SettingsRevision.id).where(SettingsRevision.id == 1).with_for_update())
    latest = session.execute(select(func.max(DeadlinePolicyVersion.version))).scalar() or 0
    version = int(latest) + 1
    session.add(DeadlinePolicyVersion(version=version, policy=data, created_by=actor.id, note=note))
    _record_change(
        session,
        actor,
        "settings.deadline_policy",
        "deadline_policy",
        version,
        remote_addr=remote_addr,
        details={"policy": data, "note": note},
    )
    return version


def set_group_threshold(
    session: Session, actor: User, form: Mapping[str, Any], *, remote_addr: str | None
) -> int:
    """Save the group-incident threshold; applies to reports filed from now on."""
    value = parse_threshold(form)
    row = session.get(AppSetting, GROUP_THRESHOLD_KEY)
    before = None if row is None else row.value
    if row is None:
        session.add(AppSetting(key=GROUP_THRESHOLD_KEY, value=value, updated_by=actor.id))
    else:
        row.value = value
        row.updated_by = actor.id
        row.updated_at = func.now()
    _record_change(
        session,
        actor,
        "settings.group_threshold",
        "setting",
        GROUP_THRESHOLD_KEY,
        remote_addr=remote_addr,
        details={"from": before, "to": value},
    )
    return value


def add_category(
    session: Session, actor: User, form: Mapping[str, Any], *, remote_addr: str | None
) -> Category:
    """A new active category at the end of the list."""
    data = parse_category(form, with_code=True)
    if session.get(Category, data.code) is not None:
        raise InvalidInput(
            _("Check the fields."), {"code": _("This code is taken. Choose another.")}
        )
    last = session.execute(select(func.max(Category.sort_order))).scalar() or 0
    category = Category(
        code=data.code,
        name_zh=data.name_zh,
        name_en=data.name_en,
        sort_order=min(int(last) + 1, 32767),
        active=True,
    )
    session.add(category)
    _record_change(
        session,
        actor,
        "settings.category_add",
        "category",
        data.code,
        remote_addr=remote_addr,
        details={"name_zh": data.name_zh, "name_en": data.name_en},
    )
    return category


def _category(session: Session, code: str) -> Category:
    # A code from the URL that no category could have (or that PostgreSQL could not even
    # compare, such as one with NUL) is simply not found.
    if not CATEGORY_CODE.match(code):
        raise NotFound(_("No such category."))
    category = session.get(Category, code, with_for_update=True)
    if category is None:
        raise NotFound(_("No such category."))
    return category


def rename_category(
    session: Session, actor: User, code: str, form: Mapping[str, Any], *, remote_addr: str | None
) -> Category:
    """New names in both languages; the code (what reports store) never changes."""
    data = parse_category(form, with_code=False)
    category = _category(session, code)
    before = {"name_zh": category.name_zh, "name_en": category.name_en}
    category.name_zh = data.name_zh
    category.name_en = data.name_en
    _record_change(
        session,
        actor,
        "settings.category_rename",
        "category",
        code,
        remote_addr=remote_addr,
        details={"from": before, "to": {"name_zh": data.name_zh, "name_en": data.name_en}},
    )
    return category


def set_category_active(
    session: Session, actor: User, code: str, active: bool, *, remote_addr: str | None
) -> Category:
    """Retire (hidden from new reports, still on old ones) or bring back a category. There
    is no delete: reports keep pointing at their category."""
    category = _category(session, code)
    if category.active == active:
        raise Conflict(
            _("The category is already active.")
            if active
            else _("The category is already retired.")
        )
    if not active:
        others = session.execute(
            select(func.count()).where(Category.active.is_(True), Category.code != code)
        ).scalar_one()
        if not others:
            raise Conflict(_("The last active category cannot be retired."))
    category.active = active
    _record_change(
        session,
        actor,
        "settings.category_reinstate" if active else "settings.category_retire",
        "category",
        code,
        remote_addr=remote_addr,
    )
    return category


def add_calendar_day(
    session: Session, actor: User, form: Mapping[str, Any], *, remote_addr: str | None
) -> CalendarDay:
    """A holiday or make-up working day (replacing what that date had)."""
    data = parse_calendar_day(form)
    row = session.get(CalendarDay, data.day, with_for_update=True)
    before = None if row is None else {"kind": row.kind, "name": row.name}
    if row is None:
        row = CalendarDay(day=data.day, kind=data.kind, name=data.name, source="")
        session.add(row)
    else:
        row.kind, row.name, row.source = data.kind, data.name, ""
    _record_change(
        session,
        actor,
        "settings.calendar_set",
        "calendar_day",
        data.day.isoformat(),
        remote_addr=remote_addr,
        details={"from": before, "to": {"kind": data.kind, "name": data.name}},
    )
    return row


def remove_calendar_day(
    session: Session, actor: User, raw_day: str, *, remote_addr: str | None
) -> None:
    """Take a date off the calendar (it is an ordinary day again)."""
    try:
        day = date.fromisoformat(raw_day)
    except ValueError:
        raise NotFound(_("No such day in the calendar.")) from None
    row = session.get(CalendarDay, day)
    if row is None:
        raise NotFound(_("No such day in the calendar."))
    before = {"kind": row.kind, "name": row.name}
    session.execute(delete(CalendarDay).where(CalendarDay.day == day))
    _record_change(
        session,
        actor,
        "settings.calendar_remove",
        "calendar_day",
        day.isoformat(),
        remote_addr=remote_addr,
        details={"from": before},
    )


def describe_limit(limit: Mapping[str, Any]) -> tuple[int, str]:
    """(value, unit) of a stored limit for the form: hours when it has hours, else days."""
    hours = float(limit.get("hours", 0) or 0)
    days = int(limit.get("days", 0) or 0)
    if days:
        return days, "days"
    return int(hours), "hours"


def policy_json(policy: DeadlinePolicy) -> dict[str, Any]:
    """`deadlines.policy_to_json`, re-exported for the pages."""
    return policy_to_json(policy)
