"""The pure report parser and the privacy masks (no database)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from fieldapp.privacy import mask_id_number, mask_name, mask_phone
from fieldapp.services.errors import InvalidInput
from fieldapp.services.report_input import body_hash, parse_report

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
CATEGORIES = {"neighbours", "other"}


def body(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": str(uuid.UUID(int=7)),
        "lon": 119.5,
        "lat": 35.4,
        "occurred_at": "2026-11-25T18:30:00+08:00",
        "category": "neighbours",
        "severity": "yellow",
        "people_involved": 2,
        "title": "  标题  ",
        "description": "描述",
    }
    base.update(overrides)
    return base


def test_a_good_report_is_parsed_and_trimmed() -> None:
    parsed = parse_report(body(), now=NOW, categories=CATEGORIES)
    assert parsed.title == "标题" and parsed.crs == "wgs84" and parsed.parties == []
    assert parsed.occurred_at == datetime(2026, 11, 25, 10, 30, tzinfo=UTC)


def test_a_time_without_offset_is_china_time() -> None:
    parsed = parse_report(body(occurred_at="2026-11-25T08:00:00"), now=NOW, categories=CATEGORIES)
    assert parsed.occurred_at == datetime(2026, 11, 25, 0, 0, tzinfo=UTC)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(InvalidInput) as err:
        parse_report(
            body(lon=200, lat=float("nan"), severity="blue", title="", extra=1),
            now=NOW,
            categories=CATEGORIES,
        )
    assert {"lon", "lat", "severity", "title", "extra"} <= set(err.value.fields)
    assert err.value.code == "invalid_report"


def test_future_skew_is_tolerated_up_to_five_minutes() -> None:
    soon = (NOW + timedelta(minutes=4)).isoformat()
    later = (NOW + timedelta(minutes=6)).isoformat()
    assert parse_report(body(occurred_at=soon), now=NOW, categories=CATEGORIES)
    with pytest.raises(InvalidInput) as err:
        parse_report(body(occurred_at=later), now=NOW, categories=CATEGORIES)
    assert "occurred_at" in err.value.fields


def test_id_numbers_are_normalised_and_checked() -> None:
    parsed = parse_report(
        body(parties=[{"name": "王五", "id_number": "37110219900101123x"}]),
        now=NOW,
        categories=CATEGORIES,
    )
    assert parsed.parties[0].id_number == "37110219900101123X"


def test_body_hash_ignores_key_order_but_not_values() -> None:
    a = {"x": 1, "y": "二"}
    assert body_hash(a) == body_hash({"y": "二", "x": 1})
    assert body_hash(a) != body_hash({"x": 2, "y": "二"})


def test_not_an_object() -> None:
    with pytest.raises(InvalidInput):
        parse_report([1, 2], now=NOW, categories=CATEGORIES)


def test_masks_as_chinese_services_print_them() -> None:
    assert (
        mask_name("张三") == "张*" and mask_name("欧阳娜娜") == "欧***" and mask_name("李") == "李"
    )
    assert mask_id_number("371102199001011234") == "371102********1234"
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone(None) is None and mask_id_number("") == ""
