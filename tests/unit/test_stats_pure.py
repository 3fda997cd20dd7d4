"""The pure parts of the statistics: periods and their predecessors, China-time buckets,
summing up the hierarchy, and the KPI formulas, score and ranks. No database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fieldapp import kpi
from fieldapp.stats import (
    bucket_keys,
    bucket_start,
    china_day,
    day_start,
    parse_period,
    range_period,
    split_list,
    sum_up,
    whole_months,
)


@pytest.mark.parametrize(
    ("text", "start", "end", "label"),
    [
        ("2026-10", date(2026, 10, 1), date(2026, 11, 1), "2026-10"),
        ("2026-12", date(2026, 12, 1), date(2027, 1, 1), "2026-12"),
        ("2026-Q3", date(2026, 7, 1), date(2026, 10, 1), "2026-Q3"),
        ("2026-q4", date(2026, 10, 1), date(2027, 1, 1), "2026-Q4"),
        ("2026", date(2026, 1, 1), date(2027, 1, 1), "2026"),
    ],
)
def test_periods_parse(text: str, start: date, end: date, label: str) -> None:
    period = parse_period(text)
    assert (period.start, period.end, period.label) == (start, end, label)


@pytest.mark.parametrize("text", ["2026-13", "2026-Q5", "26-10", "2026-10-01", "", "Q3", "0000"])
def test_bad_periods_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_period(text)


def test_the_previous_period_is_the_previous_calendar_unit() -> None:
    assert parse_period("2026-03").previous().label == "2026-02"
    assert parse_period("2026-01").previous().label == "2025-12"
    assert parse_period("2026-Q1").previous().label == "2025-Q4"
    assert parse_period("2026").previous().label == "2025"
    # A custom range: the same number of days just before (10 Oct–19 Oct is 10 days).
    custom = range_period(date(2026, 10, 10), date(2026, 10, 19))
    assert custom.days == 10
    before = custom.previous()
    assert (before.start, before.end) == (date(2026, 9, 30), date(2026, 10, 10))


def test_days_start_at_midnight_in_china() -> None:
    # 2026-11-01 00:00 Beijing is 2026-10-31 16:00 UTC.
    assert day_start(date(2026, 11, 1)).astimezone(UTC) == datetime(2026, 10, 31, 16, tzinfo=UTC)
    assert china_day(datetime(2026, 10, 31, 16, 30, tzinfo=UTC)) == date(2026, 11, 1)


def test_buckets_cover_the_window_with_every_bucket() -> None:
    assert bucket_keys(date(2026, 10, 30), date(2026, 11, 2), "day") == [
        "2026-10-30",
        "2026-10-31",
        "2026-11-01",
        "2026-11-02",
    ]
    # 2026-10-28 is a Wednesday: its week starts Monday 26 October.
    assert bucket_keys(date(2026, 10, 28), date(2026, 11, 9), "week") == [
        "2026-10-26",
        "2026-11-02",
        "2026-11-09",
    ]
    assert bucket_keys(date(2026, 11, 15), date(2027, 1, 3), "month") == [
        "2026-11-01",
        "2026-12-01",
        "2027-01-01",
    ]


@given(st.dates(date(2000, 1, 1), date(2100, 1, 1)), st.sampled_from(["day", "week", "month"]))
def test_every_day_falls_in_a_listed_bucket(day: date, bucket: str) -> None:
    keys = bucket_keys(day - timedelta(days=40), day + timedelta(days=3), bucket)
    assert bucket_start(day, bucket).isoformat() in keys
    assert keys == sorted(set(keys))


def test_sum_up_adds_children_per_parent() -> None:
    counts = {1: {"a": 2, "b": 1}, 2: {"a": 3}, 3: {"b": 5}, 4: {"a": 9}}
    parents: dict[int, int | None] = {1: 10, 2: 10, 3: 11, 4: None}
    assert sum_up(counts, parents) == {10: {"a": 5, "b": 1}, 11: {"b": 5}}


def test_split_list() -> None:
    assert split_list(" red, orange,,red ") == ("red", "orange")
    assert split_list(None) == () and split_list("") == ()


# --- KPIs ------------------------------------------------------------------------------------


def test_a_kpi_without_a_denominator_has_no_value() -> None:
    assert kpi.value(kpi.KPI_BY_KEY["resolution"], {"resolved": 0, "closed": 0}) is None
    assert kpi.value(kpi.KPI_BY_KEY["resolution"], {"resolved": 2, "closed": 3}) == 2 / 3
    per_10k = kpi.KPI_BY_KEY["reports_per_10k"]
    assert kpi.value(per_10k, {"reports": 7, "population": 20_000}) == pytest.approx(3.5)
    assert kpi.value(per_10k, {"reports": 7, "population": None}) is None


def test_the_score_reweights_over_the_kpis_with_a_value() -> None:
    # Everything perfect (and no repeats) scores 100; reports per 10k is not scored.
    perfect = {
        "acceptance_on_time": 1.0,
        "closed_on_time": 1.0,
        "resolution": 1.0,
        "satisfaction": 1.0,
        "checkin_compliance": 1.0,
        "repeat_place": 0.0,
        "reports_per_10k": 999.0,
    }
    assert kpi.score(perfect) == pytest.approx(100.0)
    # Only check-ins known (0.5): 100 × 0.15 × 0.5 / 0.15 = 50.
    only_checkins = {k: None for k in perfect} | {"checkin_compliance": 0.5}
    assert kpi.score(only_checkins) == pytest.approx(50.0)
    # Repeat rate counts as 1 − rate: 0.2×1 + 0.1×(1 − 0.5) over weights 0.3 → 83.33.
    mixed = {k: None for k in perfect} | {"acceptance_on_time": 1.0, "repeat_place": 0.5}
    assert kpi.score(mixed) == pytest.approx(100 * 0.25 / 0.3)
    assert kpi.score({k: None for k in perfect}) is None


def test_ranks_share_ties_and_put_no_score_last() -> None:
    assert kpi.ranks([80.0, 95.5, 80.001, None, 60.0]) == [2, 1, 2, None, 4]
    assert kpi.rank_change(2, 5) == 3 and kpi.rank_change(None, 1) is None


def test_the_weights_add_up_and_every_count_is_named() -> None:
    assert sum(k.weight for k in kpi.KPIS) == pytest.approx(1.0)
    assert "population" not in kpi.COUNT_NAMES
    assert {"reports", "accepted_on_time", "acceptance_due", "checkin_days"} <= set(kpi.COUNT_NAMES)


NOW = datetime(2031, 4, 10, 4, tzinfo=UTC)
PAST, FUTURE = NOW - timedelta(days=1), NOW + timedelta(days=1)


@pytest.mark.parametrize(
    ("status", "accepted_at", "accepted_on_time", "closed_on_time", "due_at", "expected"),
    [
        ("accepted", PAST, True, None, FUTURE, "on_time"),
        ("in_progress", PAST, False, None, FUTURE, "late"),
        ("closed", None, None, True, None, "on_time"),  # resolved straight from the report
        ("closed", None, None, False, None, "late"),
        ("reported", None, None, None, PAST, "late"),  # overdue: late, not missing
        ("reported", None, None, None, FUTURE, None),  # pending
        ("rejected", None, None, None, None, None),
        ("merged", PAST, True, None, None, None),
    ],
)
def test_acceptance_rules(
    status: str,
    accepted_at: datetime | None,
    accepted_on_time: bool | None,
    closed_on_time: bool | None,
    due_at: datetime | None,
    expected: str | None,
) -> None:
    assert (
        kpi.acceptance_result(status, accepted_at, accepted_on_time, closed_on_time, due_at, NOW)
        == expected
    )


@pytest.mark.parametrize(
    ("status", "step", "closed_on_time", "due_at", "expected"),
    [
        ("closed", None, True, None, "on_time"),
        ("closed", None, False, None, "late"),
        ("in_progress", "handling", None, PAST, "late"),
        ("assigned", "handling", None, FUTURE, None),
        ("reported", "acceptance", None, PAST, None),  # late for acceptance, not for closing
        ("rejected", None, None, None, None),
    ],
)
def test_closing_rules(
    status: str,
    step: str | None,
    closed_on_time: bool | None,
    due_at: datetime | None,
    expected: str | None,
) -> None:
    assert kpi.closing_result(status, step, closed_on_time, due_at, NOW) == expected


@pytest.mark.parametrize(
    ("first", "end", "months", "rest"),
    [
        # A month: itself, nothing left over.
        (date(2026, 10, 1), date(2026, 11, 1), [date(2026, 10, 1)], []),
        # This month so far: no whole month, every day counted one by one.
        (date(2026, 11, 1), date(2026, 11, 26), [], [(date(2026, 11, 1), date(2026, 11, 26))]),
        # A quarter across the new year; a range with edges on both sides.
        (
            date(2026, 12, 1),
            date(2027, 3, 1),
            [date(2026, 12, 1), date(2027, 1, 1), date(2027, 2, 1)],
            [],
        ),
        (
            date(2027, 1, 20),
            date(2027, 3, 5),
            [date(2027, 2, 1)],
            [(date(2027, 1, 20), date(2027, 2, 1)), (date(2027, 3, 1), date(2027, 3, 5))],
        ),
        (date(2027, 1, 5), date(2027, 1, 5), [], []),
    ],
)
def test_whole_months_examples(
    first: date, end: date, months: list[date], rest: list[tuple[date, date]]
) -> None:
    assert whole_months(first, end) == (months, rest)


@given(
    first=st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)),
    length=st.integers(min_value=0, max_value=800),
)
def test_whole_months_cover_the_days_exactly_once(first: date, length: int) -> None:
    end = first + timedelta(days=length)
    months, rest = whole_months(first, end)
    days: list[date] = []
    for m in months:
        assert m.day == 1
        following = date(m.year + m.month // 12, m.month % 12 + 1, 1)
        days += [m + timedelta(days=i) for i in range((following - m).days)]
    for a, b in rest:
        assert a < b
        days += [a + timedelta(days=i) for i in range((b - a).days)]
    assert sorted(days) == [first + timedelta(days=i) for i in range(length)]
    # Whole months are never counted day by day: with one inside, each edge is shorter than a
    # month; without, the days hold no month's first day followed by its whole month.
    assert len(rest) <= 2
    if months:
        assert all((b - a).days < 31 for a, b in rest)
    else:
        assert rest == ([(first, end)] if length else []) and length < 62
