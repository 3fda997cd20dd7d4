"""The report intake's model (fieldapp.contract.reports.ReportInput: what the phone sends,
validated from the raw JSON as the API does) and the privacy masks (no database)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from pydantic import ValidationError

from fieldapp.contract.base import validation_error
from fieldapp.contract.reports import ReportInput, body_hash, raw_body_hash
from fieldapp.errors import ApiError
from fieldapp.i18n import init_babel
from fieldapp.privacy import mask_id_number, mask_name, mask_phone

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def request_context() -> Iterator[None]:
    """Messages are translated per request: an English one here."""
    app = Flask(__name__)
    app.config["LANGUAGES"] = ("zh", "en")
    init_babel(app)
    with app.test_request_context("/?lang=en"):
        yield


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


def parse_report(value: object) -> ReportInput:
    """As the API parses it: the JSON text, validated in one pass; ApiError when refused."""
    try:
        return ReportInput.model_validate_json(json.dumps(value), context={"now": NOW})
    except ValidationError as exc:
        raise validation_error(ReportInput, exc) from None


def test_a_good_report_is_parsed_and_trimmed() -> None:
    parsed = parse_report(body())
    assert parsed.title == "标题" and parsed.crs == "wgs84" and parsed.parties == []
    assert parsed.occurred_at == datetime(2026, 11, 25, 10, 30, tzinfo=UTC)


def test_a_time_without_offset_is_china_time() -> None:
    parsed = parse_report(body(occurred_at="2026-11-25T08:00:00"))
    assert parsed.occurred_at == datetime(2026, 11, 25, 0, 0, tzinfo=UTC)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ApiError) as err:
        parse_report(body(lon=200, lat=float("nan"), severity="blue", title="", extra=1))
    assert {"lon", "lat", "severity", "title", "extra"} <= set(err.value.fields)
    assert err.value.code == "invalid_report" and err.value.status == 400
    assert err.value.fields["extra"] == "Unknown field; remove it."
    assert err.value.fields["severity"] == "One of: red, orange, yellow."


def test_booleans_are_not_numbers_nor_numbers_text() -> None:
    with pytest.raises(ApiError) as err:
        parse_report(body(lon=True, people_involved=True, address=42))
    assert {"lon", "people_involved", "address"} == set(err.value.fields)


def test_nul_is_refused_in_any_text() -> None:
    with pytest.raises(ApiError) as err:
        parse_report(body(description="a\x00b", parties=[{"name": "张\x00三"}]))
    assert {"description", "parties[0].name"} == set(err.value.fields)


def test_future_skew_is_tolerated_up_to_five_minutes() -> None:
    soon = (NOW + timedelta(minutes=4)).isoformat()
    later = (NOW + timedelta(minutes=6)).isoformat()
    assert parse_report(body(occurred_at=soon))
    with pytest.raises(ApiError) as err:
        parse_report(body(occurred_at=later))
    assert err.value.fields == {
        "occurred_at": "This time is in the future. Check the phone's clock."
    }


def test_id_numbers_are_normalised_and_checked() -> None:
    parsed = parse_report(body(parties=[{"name": "王五", "id_number": "37110219900101123x"}]))
    assert parsed.parties[0].id_number == "37110219900101123X"
    with pytest.raises(ApiError) as err:
        parse_report(body(parties=[{"name": "王五"}, {"name": "赵六", "phone": "138"}]))
    assert err.value.fields == {"parties[1].phone": "A phone number of digits."}


def test_blank_optional_text_is_absent() -> None:
    parsed = parse_report(body(address="  ", parties=[{"name": " 李四 ", "phone": ""}]))
    assert parsed.address is None and parsed.parties[0].phone is None
    assert parsed.parties[0].name == "李四"


def test_body_hash_ignores_key_order_but_not_values() -> None:
    a = {"x": 1, "y": "二"}
    assert body_hash(a) == body_hash({"y": "二", "x": 1})
    assert body_hash(a) != body_hash({"x": 2, "y": "二"})


def test_the_raw_body_hashes_as_the_parsed_body_did() -> None:
    """Reports stored before #18 were hashed from json.loads' dict; a phone resending one
    must still get its 200, not a 409."""
    value = body(lon=119.123456789012, accuracy_m=1e-7, parties=[{"name": "张三"}])
    raw = json.dumps(value, ensure_ascii=False).encode()
    assert raw_body_hash(raw) == body_hash(json.loads(raw))


def test_not_an_object() -> None:
    with pytest.raises(ApiError) as err:
        parse_report([1, 2])
    assert err.value.code == "invalid_report" and not err.value.fields


def test_masks_as_chinese_services_print_them() -> None:
    assert (
        mask_name("张三") == "张*" and mask_name("欧阳娜娜") == "欧***" and mask_name("李") == "李"
    )
    assert mask_id_number("371102199001011234") == "371102********1234"
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone(None) is None and mask_id_number("") == ""
