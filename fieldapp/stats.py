"""Pure helpers of the statistics (roll-ups, KPIs, campaign): periods, buckets, filters and
summing counts up the hierarchy. No database, no Flask; the SQL lives in
`fieldapp.services.rollups`, the KPI formulas in `fieldapp.kpi`.

Days are calendar days in China time (Asia/Shanghai, UTC+8 all year): "to 2026-10-31" ends at
midnight Beijing time at the end of that day, not at midnight UTC."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

from fieldapp import bounds
from fieldapp.domain import CHINA_TZ
from fieldapp.domain import SEVERITIES as SEVERITIES  # the API's statistics list them

LEVELS: Final = ("city", "county", "township", "village", "cell")
BREAKDOWNS: Final = ("category", "severity", "status", "period")
#: The levels the KPI assessment (考评) ranks: GET /api/v1/kpis, the dashboards, the export.
KPI_LEVELS: Final = ("county", "township")
BUCKETS: Final = ("day", "week", "month")
#: Merged duplicates (状态 merged) are the same dispute as their main case: every statistic
#: leaves them out, unless a roll-up asks for status=merged explicitly.
MERGED: Final = "merged"


@dataclass(frozen=True)
class Period:
    """A period of whole China-time days: `start` included, `end` excluded."""

    kind: str  # month | quarter | year | range
    start: date
    end: date

    @property
    def label(self) -> str:
        if self.kind == "month":
            return f"{self.start.year}-{self.start.month:02d}"
        if self.kind == "quarter":
            return f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}"
        if self.kind == "year":
            return str(self.start.year)
        return f"{self.start.isoformat()}..{(self.end - timedelta(days=1)).isoformat()}"

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def previous(self) -> Period:
        """The period of equal length just before: the previous month, quarter or year (the
        calendar unit, so February follows January whatever their days), or for a custom
        range the same number of days immediately before it."""
        if self.kind == "month":
            return month_period(*_add_months(self.start.year, self.start.month, -1))
        if self.kind == "quarter":
            year, month = _add_months(self.start.year, self.start.month, -3)
            return Period("quarter", date(year, month, 1), self.start)
        if self.kind == "year":
            return Period("year", date(self.start.year - 1, 1, 1), self.start)
        return Period("range", self.start - timedelta(days=self.days), self.start)

    def start_at(self) -> datetime:
        return day_start(self.start)

    def end_at(self) -> datetime:
        return day_start(self.end)


def _add_months(year: int, month: int, delta: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + delta
    return index // 12, index % 12 + 1


def month_period(year: int, month: int) -> Period:
    next_year, next_month = _add_months(year, month, 1)
    return Period("month", date(year, month, 1), date(next_year, next_month, 1))


_PERIOD = re.compile(r"^(\d{4})(?:-(?:(\d{1,2})|[Qq]([1-4])))?$")


def parse_period(text: str) -> Period:
    """`2026-10` (a month), `2026-Q3` (a quarter) or `2026` (a year); ValueError otherwise."""
    match = _PERIOD.match(text.strip())
    if not match:
        raise ValueError(text)
    year = int(match.group(1))
    if not bounds.EARLIEST_DAY.year <= year <= bounds.LATEST_DAY.year:
        raise ValueError(text)
    if match.group(2):
        month = int(match.group(2))
        if not 1 <= month <= 12:
            raise ValueError(text)
        return month_period(year, month)
    if match.group(3):
        first = (int(match.group(3)) - 1) * 3 + 1
        end_year, end_month = _add_months(year, first, 3)
        return Period("quarter", date(year, first, 1), date(end_year, end_month, 1))
    return Period("year", date(year, 1, 1), date(year + 1, 1, 1))


def range_period(first: date, last: date) -> Period:
    """A custom period from `first` to `last`, both days included."""
    if last < first:
        raise ValueError("last before first")
    return Period("range", first, last + timedelta(days=1))


def whole_months(first: date, end: date) -> tuple[list[date], list[tuple[date, date]]]:
    """The days [first, end) as the calendar months wholly inside them (their first days)
    and the days left over at either edge ([a, b) ranges): what the per-month check-in
    totals answer, and what must still be counted day by day."""
    if end <= first:
        return [], []
    month = first if first.day == 1 else date(*_add_months(first.year, first.month, 1), 1)
    months: list[date] = []
    while (following := date(*_add_months(month.year, month.month, 1), 1)) <= end:
        months.append(month)
        month = following
    if not months:
        return [], [(first, end)]
    rest = [(first, months[0])] if first < months[0] else []
    if month < end:
        rest.append((month, end))
    return months, rest


def day_start(day: date) -> datetime:
    """Midnight China time at the start of `day` (an aware datetime)."""
    return datetime(day.year, day.month, day.day, tzinfo=CHINA_TZ)


def china_day(moment: datetime) -> date:
    return moment.astimezone(CHINA_TZ).date()


def bucket_start(day: date, bucket: str) -> date:
    """The first day of the bucket holding `day`: itself, its ISO week's Monday (PostgreSQL's
    `date_trunc('week', …)` also starts weeks on Monday), or the 1st of its month."""
    if bucket == "day":
        return day
    if bucket == "week":
        return day - timedelta(days=day.weekday())
    if bucket == "month":
        return day.replace(day=1)
    raise ValueError(bucket)


def bucket_keys(first: date, last: date, bucket: str) -> list[str]:
    """ISO dates of the starts of every bucket meeting [first, last], in order (so a chart
    gets a zero for a quiet week rather than a gap)."""
    keys: list[str] = []
    current = bucket_start(first, bucket)
    while current <= last:
        keys.append(current.isoformat())
        if bucket == "day":
            current += timedelta(days=1)
        elif bucket == "week":
            current += timedelta(days=7)
        else:
            year, month = _add_months(current.year, current.month, 1)
            current = date(year, month, 1)
    return keys


def level_index(level: str) -> int:
    return LEVELS.index(level)


def sum_up(
    counts: Mapping[int, Mapping[str, int]], parent_of: Mapping[int, int | None]
) -> dict[int, dict[str, int]]:
    """Counts of children added up per parent (children without a parent are dropped)."""
    out: dict[int, dict[str, int]] = {}
    for child, by_key in counts.items():
        parent = parent_of.get(child)
        if parent is None:
            continue
        target = out.setdefault(parent, {})
        for key, n in by_key.items():
            target[key] = target.get(key, 0) + n
    return out


def split_list(raw: str | None) -> tuple[str, ...]:
    """`a,b , c` → ("a", "b", "c"); empty or missing → ()."""
    if not raw:
        return ()
    return tuple(dict.fromkeys(p.strip() for p in raw.split(",") if p.strip()))
