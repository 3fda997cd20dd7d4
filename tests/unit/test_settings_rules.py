"""Settings without a deploy, the pure parts (no database): the policy form, the calendar in
the deadline arithmetic, a stored policy read back, the per-process cache's revision check,
and the audit viewer's filters."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from fieldapp.deadlines import DeadlinePolicy, Limit, policy_from_json, policy_to_json
from fieldapp.services import audit, settings
from fieldapp.services.errors import InvalidInput


def policy_form(**overrides: str) -> dict[str, str]:
    form = {
        "acceptance_red_value": "2",
        "acceptance_red_unit": "hours",
        "acceptance_orange_value": "24",
        "acceptance_orange_unit": "hours",
        "acceptance_yellow_value": "3",
        "acceptance_yellow_unit": "days",
        "handling_red_value": "15",
        "handling_red_unit": "days",
        "handling_orange_value": "15",
        "handling_orange_unit": "days",
        "handling_yellow_value": "15",
        "handling_yellow_unit": "days",
        "max_extension_days": "30",
    }
    form.update(overrides)
    return form


def test_the_default_form_is_the_design_policy() -> None:
    data = settings.parse_policy_form(policy_form())
    assert data == policy_to_json(DeadlinePolicy())


def test_every_bad_field_is_named_at_once() -> None:
    with pytest.raises(InvalidInput) as err:
        settings.parse_policy_form(
            policy_form(
                acceptance_red_value="0",
                acceptance_orange_unit="weeks",
                handling_yellow_value="2.5",
                handling_red_value="366",
                max_extension_days="-1",
                note="x" * 201,
            )
        )
    assert set(err.value.fields) == {
        "acceptance_red_value",
        "acceptance_orange_unit",
        "handling_yellow_value",
        "handling_red_value",
        "max_extension_days",
        "note",
    }
    assert "1" in err.value.fields["acceptance_red_value"]


@pytest.mark.parametrize("value", ["", " ", "abc", "1e3", "٣", "99999999", "3\x00"])
def test_a_limit_is_a_plain_whole_number(value: str) -> None:
    with pytest.raises(InvalidInput) as err:
        settings.parse_policy_form(policy_form(acceptance_yellow_value=value))
    assert "acceptance_yellow_value" in err.value.fields


def test_a_stored_policy_reads_back_over_the_configured_one() -> None:
    base = DeadlinePolicy(holidays=frozenset({date(2026, 10, 1)}))
    data = settings.parse_policy_form(
        policy_form(acceptance_orange_value="2", acceptance_orange_unit="days", business_days="on")
    )
    policy = policy_from_json(data, base)
    assert policy.limit("acceptance", "orange") == Limit(days=2)
    assert policy.limit("acceptance", "red") == Limit(hours=2)
    assert policy.business_days is True
    assert policy.holidays == base.holidays  # the calendar is not part of a version
    assert policy_to_json(policy) == data


def test_working_days_skip_holidays_and_count_make_up_days() -> None:
    """2026 National Day: 10-01..10-07 off, Sunday 09-20 and Saturday 10-10 worked (调休)."""
    holidays = frozenset(date(2026, 10, d) for d in range(1, 8))
    workdays = frozenset({date(2026, 9, 20), date(2026, 10, 10)})
    policy = DeadlinePolicy(business_days=True).with_calendar(holidays, workdays)
    start = datetime(2026, 9, 30, 2, 0, tzinfo=UTC)  # Wednesday 10:00 China time
    # Yellow acceptance, 3 working days: Oct 8 (Thu), Oct 9 (Fri), Oct 10 (Sat, 调休).
    due = policy.due("acceptance", "yellow", start)
    assert due == datetime(2026, 10, 10, 2, 0, tzinfo=UTC)
    assert policy.is_working_day(date(2026, 9, 20))  # a Sunday worked
    assert not policy.is_working_day(date(2026, 10, 5))  # a Monday off
    # Without the make-up days the same limit ends on Monday the 12th.
    plain = DeadlinePolicy(business_days=True).with_calendar(holidays, frozenset())
    assert plain.due("acceptance", "yellow", start) == datetime(2026, 10, 12, 2, 0, tzinfo=UTC)
    # Calendar days (the default) ignore the calendar.
    calendar_days = DeadlinePolicy().with_calendar(holidays, workdays)
    assert calendar_days.due("acceptance", "yellow", start) == start + timedelta(days=3)


def test_threshold_category_and_day_parsers() -> None:
    assert settings.parse_threshold({"group_threshold": " 8 "}) == 8
    for bad in ("1", "0", "-3", "x", "", "100001"):
        with pytest.raises(InvalidInput) as err:
            settings.parse_threshold({"group_threshold": bad})
        assert "group_threshold" in err.value.fields
    ok = settings.parse_category(
        {"code": "pets", "name_zh": "宠物纠纷", "name_en": "Pets"}, with_code=True
    )
    assert ok.code == "pets"
    with pytest.raises(InvalidInput) as err:
        settings.parse_category(
            {"code": "Bad Code", "name_zh": "", "name_en": "x" * 81}, with_code=True
        )
    assert set(err.value.fields) == {"code", "name_zh", "name_en"}
    day = settings.parse_calendar_day(
        {"day": "2026-10-10", "kind": "workday", "name": "国庆节调休"}
    )
    assert day.day == date(2026, 10, 10)
    with pytest.raises(InvalidInput) as err:
        settings.parse_calendar_day({"day": "2026-10-09", "kind": "workday", "name": "x"})
    assert "day" in err.value.fields  # a Friday cannot be a make-up working day
    with pytest.raises(InvalidInput) as err:
        settings.parse_calendar_day({"day": "2026-02-30", "kind": "party", "name": ""})
    assert set(err.value.fields) == {"day", "kind", "name"}


class FakeSession:
    """Answers the revision query with whatever `revision` holds (counts the reads)."""

    def __init__(self) -> None:
        self.revision = 0
        self.reads = 0

    def execute(self, _stmt: Any) -> FakeSession:
        self.reads += 1
        return self

    def scalar_one_or_none(self) -> int:
        return self.revision


def test_a_change_reaches_another_process_within_the_check_interval() -> None:
    clock = [100.0]
    session = FakeSession()
    other = settings.SettingsCache(check_seconds=5, clock=lambda: clock[0])
    builds: list[int] = []

    def build() -> int:
        builds.append(session.revision)
        return session.revision

    assert other.get(session, "x", build) == 0  # type: ignore[arg-type]
    session.revision = 1  # another process saved a change
    clock[0] += 4.9
    assert other.get(session, "x", build) == 0  # type: ignore[arg-type]  (not yet checked)
    reads = session.reads
    clock[0] += 0.2
    assert other.get(session, "x", build) == 1  # type: ignore[arg-type]
    assert session.reads == reads + 1
    assert builds == [0, 1]
    # Between checks nothing is read: one revision read per interval, not per request.
    for _ in range(100):
        other.get(session, "x", build)  # type: ignore[arg-type]
    assert session.reads == reads + 1
    other.invalidate()  # the process that made the change: at once
    session.revision = 2
    assert other.get(session, "x", build) == 2  # type: ignore[arg-type]


def test_audit_filters() -> None:
    f = audit.parse_filters(
        {
            "person": "t_admin",
            "object_type": "report",
            "object_id": "abc-1",
            "action": "case.",
            "from": "2026-12-01",
            "to": "2026-12-06",
            "page": "2",
        }
    )
    assert f.page == 2 and f.date_from == date(2026, 12, 1)
    assert f.query_args()["from"] == "2026-12-01"
    with pytest.raises(InvalidInput) as err:
        audit.parse_filters(
            {"person": "a b", "object_id": "1", "from": "2026-13-01", "to": "x", "page": "0"}
        )
    assert set(err.value.fields) == {"person", "object_type", "from", "to", "page"}
    with pytest.raises(InvalidInput) as err:
        audit.parse_filters({"from": "2026-12-06", "to": "2026-12-01"})
    assert "to" in err.value.fields
