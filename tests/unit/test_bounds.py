"""The shared limits of #15, without a database: the date window and offsets
(`fieldapp.bounds`), hostile JSON values (`fieldapp.errors.check_json_value`), formula
neutralising (`fieldapp.export_writers.neutralise`) and the photo proportions cap."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import pytest
from PIL import Image

from fieldapp import bounds, export_writers, imaging
from fieldapp.errors import MAX_JSON_DEPTH, ApiError, check_json_value


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2000-01-01", date(2000, 1, 1)),
        ("2100-12-31", date(2100, 12, 31)),
        (" 2026-11-25 ", date(2026, 11, 25)),
        ("", None),
        (None, None),
    ],
)
def test_days_inside_the_window_are_read(raw: str | None, expected: date | None) -> None:
    assert bounds.parse_day(raw) == expected


@pytest.mark.parametrize("raw", ["1999-12-31", "2101-01-01", "9999-12-31", "0001-01-01"])
def test_days_outside_the_window_are_refused_with_the_window(raw: str) -> None:
    with pytest.raises(ValueError, match="2000-01-01.*2100-12-31"):
        bounds.parse_day(raw)


@pytest.mark.parametrize("raw", ["2026-13-01", "tomorrow", 20261125, True, ["2026-11-25"]])
def test_what_is_no_day_is_refused(raw: object) -> None:
    with pytest.raises(ValueError, match="2026-11-25"):
        bounds.parse_day(raw)


@pytest.mark.parametrize(
    ("raw", "utc"),
    [
        ("2026-12-10T18:00:00+08:00", datetime(2026, 12, 10, 10, tzinfo=UTC)),
        ("2026-12-10T18:00:00Z", datetime(2026, 12, 10, 18, tzinfo=UTC)),
        ("2026-12-10T18:00:00-12:00", datetime(2026, 12, 11, 6, tzinfo=UTC)),
        ("2026-12-10T18:00:00+14:00", datetime(2026, 12, 10, 4, tzinfo=UTC)),
        ("2026-12-10T18:00", datetime(2026, 12, 10, 10, tzinfo=UTC)),  # bare: China time
    ],
)
def test_instants_are_normalised_to_utc(raw: str, utc: datetime) -> None:
    value = bounds.parse_instant(raw)
    assert value == utc and value is not None and value.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("9999-12-31T20:00:00Z", "2100-12-31"),
        ("9999-12-31T23:59:00-12:00", "2100-12-31"),  # converting it to UTC would overflow
        ("0001-01-01T00:00:00+14:00", "2000-01-01"),
        ("2026-12-10T18:00:00+14:30", "+14:00"),
        ("2026-12-10T18:00:00-12:30", "-12:00"),
        ("2026-12-10T18:00:00+23:00", "+14:00"),
        ("soon", "2026-11-25T09:30:00+08:00"),
        (1733824800, "2026-11-25T09:30:00+08:00"),
    ],
)
def test_instants_outside_the_window_or_offsets_are_refused(raw: object, words: str) -> None:
    with pytest.raises(ValueError, match=words.replace("+", r"\+")):
        bounds.parse_instant(raw)


def test_a_required_instant_says_so() -> None:
    assert bounds.parse_instant("  ") is None
    with pytest.raises(ValueError, match="Required"):
        bounds.parse_instant(None, required=True)


def test_ids_an_integer_column_can_hold() -> None:
    assert bounds.is_db_id(1) and bounds.is_db_id(2**31 - 1)
    assert not any(bounds.is_db_id(v) for v in (0, -1, 2**31, 2**70, True, "1", 1.0))


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"title": "a\x00"}, "title"),
        ({"parties": [{"name": "\ud800"}]}, "parties[0].name"),
        ({"n": 2**70}, "n"),
        ({"lon": float("inf")}, "lon"),
        ({"lon": float("nan")}, "lon"),
        ([1, [2, -(2**60)]], "[1][1]"),
    ],
)
def test_hostile_json_values_are_refused_naming_the_field(value: object, field: str) -> None:
    with pytest.raises(ApiError) as refused:
        check_json_value(value)
    assert refused.value.status == 400 and field in refused.value.fields


def test_json_nested_deeper_than_the_limit_is_refused_and_ordinary_bodies_pass() -> None:
    deep: object = 1
    for _ in range(MAX_JSON_DEPTH + 1):
        deep = [deep]
    with pytest.raises(ApiError, match="nested"):
        check_json_value(deep)
    check_json_value({"title": "宅基地边界争执", "n": 2**53 - 1, "x": [1.5, None, True]})


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_formula_starts_are_neutralised(text: str) -> None:
    assert export_writers.neutralise(text) == "'" + text


@pytest.mark.parametrize("value", ["邻里纠纷", "a=b", "", None, -5, 1.5, "'=x"])
def test_other_values_are_left_alone(value: object) -> None:
    assert export_writers.neutralise(value) == value


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (width, height)).save(out, "PNG")
    return out.getvalue()


def test_photos_narrower_than_one_to_twenty_are_refused_and_ordinary_ones_pass() -> None:
    for size in ((1, 21), (2100, 100)):
        with pytest.raises(imaging.ImageRejected) as refused:
            imaging.inspect_image(_png(*size))
        assert refused.value.code == "bad_proportions"
        with pytest.raises(imaging.ImageRejected):
            imaging.make_thumbnail(_png(*size))
    assert imaging.inspect_image(_png(2000, 100)).width == 2000
