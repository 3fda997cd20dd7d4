"""Pure rules behind issue #14's city part: an area without reports is not scored (无数据)
and ranks after the others; silence is counted in whole China days; the navigation table
shows each role exactly the pages whose own rules admit it."""

from __future__ import annotations

from datetime import date

from fieldapp import kpi, navigation
from fieldapp.services import silent


def test_an_area_without_reports_has_no_score_even_with_perfect_check_ins() -> None:
    counts = dict.fromkeys(kpi.COUNT_NAMES, 0)
    counts.update(checkin_days=30, expected_checkin_days=30)
    values = kpi.values(counts)
    assert values["checkin_compliance"] == 1.0
    assert kpi.score(values) == 100.0  # what used to rank it first
    assert kpi.area_score(counts, values) is None
    busy = {**counts, "reports": 4, "closed": 2, "resolved": 1}
    assert kpi.area_score(busy, kpi.values(busy)) is not None


def test_unscored_areas_rank_after_the_scored() -> None:
    assert kpi.ranks([None, 80.0, 90.0, None]) == [None, 2, 1, None]


def test_silence_is_counted_in_whole_days_before_today() -> None:
    today = date(2026, 12, 6)
    assert silent.cutoff(today, 3) == date(2026, 12, 3)
    assert silent.days_silent(today, date(2026, 12, 2)) == 3  # the 3rd, 4th, 5th passed
    assert silent.days_silent(today, date(2026, 12, 6)) == 0
    assert silent.days_silent(today, None) is None


def test_every_role_has_pages_and_only_its_own() -> None:
    for role in ("officer", "coordinator", "county", "city", "department", "admin"):
        keys = [e.key for e in navigation.entries_for(role)]
        assert keys and "inbox" in keys, role
    assert [e.key for e in navigation.entries_for("officer")] == [
        "field",
        "inbox",
        "exports",
        "account",
    ]
    assert "map" not in [e.key for e in navigation.entries_for("coordinator")]
    assert navigation.entries_for(None) == []
    assert len({e.key for e in navigation.NAV}) == len(navigation.NAV)
