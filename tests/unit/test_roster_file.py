"""The roster file on its own: reading CSV in both encodings, headers, every row problem."""

from __future__ import annotations

from datetime import date

import pytest

from fieldapp.roster_file import (
    CellInfo,
    RosterFileError,
    check_codes,
    id_number_valid,
    parse,
    parse_date,
    read_table,
    template_xlsx,
)
from tests.integration.roster_support import ID_OK, csv_bytes


def _parse(data: bytes, name: str = "r.csv"):  # type: ignore[no-untyped-def]
    return parse(read_table(data, name))


def test_a_good_csv_in_utf8_and_gb18030_reads_the_same() -> None:
    rows = ("张三,138 0013 8000,网格员,991101001001001；991101001001002,,,2024/3/1,",)
    for encoding in ("utf-8-sig", "utf-8", "gb18030"):
        parsed = _parse(csv_bytes(*rows, encoding=encoding))
        assert parsed.problems == []
        (row,) = parsed.rows
        assert row.username == "13800138000" and row.name == "张三"
        assert row.cells == ("991101001001001", "991101001001002")
        assert row.start == date(2024, 3, 1)


def test_english_headers_and_role_words() -> None:
    data = csv_bytes(
        "Li Si,13800138001,coordinator,,991101001,,,,lisi",
        header="name,phone,role,cells,area,id_number,start,end,username",
    )
    (row,) = _parse(data).rows
    assert (row.username, row.role, row.area) == ("lisi", "coordinator", "991101001")


@pytest.mark.parametrize(
    ("row", "column", "code"),
    [
        ("张三,12345,网格员,991101001001001,,,,", "手机号", "phone_format"),
        ("张三,13800138000,队长,991101001001001,,,,", "角色", "unknown_role"),
        ("张三,13800138000,网格员,,,,,", "网格编码", "cells_required"),
        ("张三,13800138000,信访专干,,,,,", "区域编码", "area_required"),
        (
            "张三,13800138000,网格员,991101001001001;991101001001001,,,,",
            "网格编码",
            "cell_twice_in_row",
        ),
        (
            "张三,13800138000,网格员,991101001001001,,110105194912310021,,",
            "身份证号",
            "id_number_format",
        ),
        ("张三,13800138000,网格员,991101001001001,,,2024-02-30,", "到岗日期", "date_format"),
        ("张三,13800138000,网格员,991101001001001,,,9999-01-01,", "到岗日期", "date_format"),
        (
            "张三,13800138000,网格员,991101001001001,,,2024-03-01,2024-01-01",
            "离岗日期",
            "end_before_start",
        ),
        (",13800138000,网格员,991101001001001,,,,", "姓名", "required"),
    ],
)
def test_each_row_problem_names_its_row_and_column(row: str, column: str, code: str) -> None:
    parsed = _parse(csv_bytes("王五,13900139000,网格员,991101002001002,,,,", row))
    assert [(p.row, p.column, p.message) for p in parsed.problems] == [(3, column, code)]


def test_duplicate_person_points_at_the_first_row() -> None:
    parsed = _parse(
        csv_bytes(
            f"张三,13800138000,网格员,991101001001001,,{ID_OK},,",
            "张三,13800138000,网格员,991101001001002,,,,",
            f"李四,13800138009,网格员,991101001001003,,{ID_OK},,",
        )
    )
    assert [(p.row, p.message) for p in parsed.problems] == [
        (3, "duplicate_person:2"),
        (4, "duplicate_person:2"),
    ]
    assert "11010519491231002X" not in str(parsed.problems)  # ID numbers never echoed whole


def test_missing_and_unknown_headers() -> None:
    parsed = _parse(csv_bytes("x", header="姓名,角色,颜色"))
    assert {(p.column, p.message) for p in parsed.problems} == {
        ("颜色", "unknown_column"),
        ("手机号", "missing_column"),
    }


def test_codes_are_checked_against_the_geography() -> None:
    parsed = _parse(
        csv_bytes(
            "甲,13800138000,网格员,991101001001001；991101002001001,,,,",
            "乙,13800138001,网格员,991101001001001,,,,",
            "丙,13800138002,网格员,000,,,,",
            "丁,13800138003,区县工作人员,,991101001,,,",
            "戊,13800138004,部门工作人员,,NOPE,,,",
        )
    )
    cells = {
        "991101001001001": CellInfo(1, 10, 100),
        "991101002001001": CellInfo(2, 20, 100),
    }
    areas = {"991101001": (10, "township"), "991101": (100, "county")}
    problems = check_codes(parsed, cells, areas, {})
    assert [(p.row, p.message) for p in problems] == [
        (2, "two_townships"),
        (3, "cell_taken:2"),
        (4, "unknown_cell"),
        (5, "area_level:county"),
        (6, "unknown_department"),
    ]


def test_unreadable_files_are_refused() -> None:
    with pytest.raises(RosterFileError):
        _parse(b"PK\x03\x04 not really a zip", "r.xlsx")
    with pytest.raises(RosterFileError):
        _parse(b"", "r.csv")
    with pytest.raises(RosterFileError):
        _parse(b"\xff\xfe\x00\x00\x81", "r.csv")


def test_the_template_reads_back_with_no_row_and_no_problem() -> None:
    parsed = _parse(template_xlsx(), "template.xlsx")
    assert parsed.problems == [] and parsed.rows == []


def test_dates_and_ids() -> None:
    assert parse_date("2024年3月1日") == date(2024, 3, 1)
    assert parse_date("20240301") == date(2024, 3, 1)
    assert id_number_valid(ID_OK) and not id_number_valid("110105194912310021")
