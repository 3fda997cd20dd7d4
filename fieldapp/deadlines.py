"""Deadline policy and the warning light, as pure functions (DESIGN §1).

Deadlines are per step and severity and configurable. The warning light is always derived
from the clock — green, yellow from 2/3 of the allowed time, red when overdue — and never
stored, so it cannot go stale. An optional business-day calendar counts only working days for
day-based limits (hour-based ones, like the 2 h for red reports, run on the wall clock): a
working day is Monday to Friday unless it is a public holiday (`holidays`), and a weekend day
that is a make-up working day (调休上班, `workdays`) counts too.

A policy is stored as versions (fieldapp.services.settings) in the JSON of `policy_to_json`;
`policy_from_json` reads it back over a base policy (what the JSON does not hold)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from fieldapp.domain import CHINA_TZ, SEVERITIES


class Light(StrEnum):
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"


LIGHT_ORDER = {Light.GREEN: 0, Light.YELLOW: 1, Light.RED: 2}

#: The reason `services.sweep` writes on its automatic escalations of overdue red cases (and
#: the demo history with it): stored in Chinese, the record's language.
SWEEP_REASON: Final = "红色预警逾期，按规定自动上交"


@dataclass(frozen=True)
class Limit:
    hours: float = 0
    days: int = 0  # counted as business days when the policy has a calendar


@dataclass(frozen=True)
class DeadlinePolicy:
    """Defaults: acceptance red 2 h, orange 24 h, yellow 3 days; handling 15 days; an
    extension at most 30 days (信访工作条例 limits for petition-type matters)."""

    acceptance: Mapping[str, Limit] = field(
        default_factory=lambda: {
            "red": Limit(hours=2),
            "orange": Limit(hours=24),
            "yellow": Limit(days=3),
        }
    )
    handling: Mapping[str, Limit] = field(
        default_factory=lambda: {s: Limit(days=15) for s in SEVERITIES}
    )
    max_extension_days: int = 30
    warning_fraction: float = 2 / 3
    business_days: bool = False
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    """Weekend days that are working days (调休上班)."""
    escalate_overdue_red: bool = True
    """Overdue red cases are escalated one level by the sweep (上交)."""

    def limit(self, step: str, severity: str) -> Limit:
        table = self.acceptance if step == "acceptance" else self.handling
        return table[severity]

    def due(self, step: str, severity: str, start: datetime) -> datetime:
        """When `step` started at `start` is due."""
        limit = self.limit(step, severity)
        due = start + timedelta(hours=limit.hours)
        if limit.days:
            due = self.add_days(due, limit.days)
        return due

    def add_days(self, start: datetime, days: int) -> datetime:
        if not self.business_days:
            return start + timedelta(days=days)
        local = start.astimezone(CHINA_TZ)
        counted = 0
        while counted < days:
            local += timedelta(days=1)
            if self.is_working_day(local.date()):
                counted += 1
        return local.astimezone(start.tzinfo)

    def is_working_day(self, day: date) -> bool:
        """Monday to Friday unless a holiday; a make-up working day (调休) always."""
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def with_calendar(self, holidays: frozenset[date], workdays: frozenset[date]) -> DeadlinePolicy:
        """The same rules on another calendar."""
        return replace(self, holidays=holidays, workdays=workdays)


#: The steps a stored policy holds (with every one of SEVERITIES), in the order the settings
#: page shows them.
STEPS = ("acceptance", "handling")


def policy_to_json(policy: DeadlinePolicy) -> dict[str, Any]:
    """The editable part of a policy as JSON (one version's row). The calendar is not in it:
    holidays are facts of the year, kept in one table for every version."""
    return {
        step: {severity: _limit_json(policy.limit(step, severity)) for severity in SEVERITIES}
        for step in STEPS
    } | {
        "max_extension_days": policy.max_extension_days,
        "business_days": policy.business_days,
    }


def _limit_json(limit: Limit) -> dict[str, float | int]:
    return {"hours": limit.hours, "days": limit.days}


def policy_from_json(data: Mapping[str, Any], base: DeadlinePolicy) -> DeadlinePolicy:
    """`base` with the rules `data` (from `policy_to_json`) holds."""
    tables: dict[str, dict[str, Limit]] = {
        step: {
            severity: Limit(
                hours=float(data[step][severity].get("hours", 0)),
                days=int(data[step][severity].get("days", 0)),
            )
            for severity in SEVERITIES
        }
        for step in STEPS
    }
    return replace(
        base,
        acceptance=tables["acceptance"],
        handling=tables["handling"],
        max_extension_days=int(data.get("max_extension_days", base.max_extension_days)),
        business_days=bool(data.get("business_days", base.business_days)),
    )


def light(started: datetime, due: datetime | None, now: datetime, fraction: float = 2 / 3) -> Light:
    """The warning light of a step that started at `started` and is due at `due`."""
    if due is None:
        return Light.GREEN
    if now >= due:
        return Light.RED
    allowed = (due - started).total_seconds()
    elapsed = (now - started).total_seconds()
    if allowed <= 0 or elapsed >= fraction * allowed:
        return Light.YELLOW
    return Light.GREEN


def time_left(due: datetime | None, now: datetime) -> timedelta | None:
    return None if due is None else due - now
