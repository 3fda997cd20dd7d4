"""The export writers on their own (no database): the xlsx is what a Chinese office expects
(read back with openpyxl), the CSV opens in Excel (BOM), the GeoJSON is valid, and every
writer streams from an iterator and reports progress."""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from fieldapp import export_writers
from fieldapp.export_writers import Column, SheetTitle, display_width

COLUMNS = [
    Column("id", "案件编号", width=20),
    Column("title", "标题", width=30),
    Column("people", "涉及人数", "int", total=True),
    Column("reported_at", "上报时间", "datetime"),
    Column("target", "目标日期", "date"),
    Column("on_time", "按时受理", "bool"),
    Column("rate", "化解率", "percent"),
]
TITLE = SheetTitle(
    title="日照市矛盾纠纷案件清单",
    unit="填报单位：东港区日照街道",
    period="统计期间：2026年11月1日至2026年11月30日",
    sheet_name="日照市矛盾纠纷案件清单",
)


def rows(n: int) -> Iterator[tuple[Any, ...]]:
    """A generator, as the sources give them: the writers must not need a list."""
    for i in range(n):
        yield (
            f"case-{i:04d}",
            "邻里纠纷：排水沟堵塞" if i % 2 else "=SUM(A1:A2) 不是公式",
            i % 5,
            datetime(2026, 11, 1 + i % 28, 9, 30),
            date(2026, 12, 1) if i % 3 == 0 else None,
            None if i % 7 == 0 else i % 2 == 0,
            0.5 if i % 4 == 0 else None,
        )


def test_xlsx_has_title_unit_period_headers_frozen_row_and_totals(tmp_path: Path) -> None:
    path = tmp_path / "cases.xlsx"
    seen: list[int] = []
    n = export_writers.write_xlsx(path, COLUMNS, rows(25), seen.append, title=TITLE, every=10)
    assert n == 25
    assert seen == [10, 20, 25]

    sheet = openpyxl.load_workbook(path, data_only=True).active
    assert sheet is not None and sheet.title == "日照市矛盾纠纷案件清单"
    assert sheet["A1"].value == "日照市矛盾纠纷案件清单" and sheet["A1"].font.b
    assert sheet["A2"].value == "填报单位：东港区日照街道"
    assert sheet["A3"].value == "统计期间：2026年11月1日至2026年11月30日"
    merged = {str(r) for r in sheet.merged_cells.ranges}
    assert {"A1:H1", "A2:H2", "A3:H3"} <= merged
    headers = [c.value for c in sheet[4]]
    assert headers == [
        "序号",
        "案件编号",
        "标题",
        "涉及人数",
        "上报时间",
        "目标日期",
        "按时受理",
        "化解率",
    ]
    assert sheet.freeze_panes == "A5"  # everything above the first data row stays in view

    first = [c.value for c in sheet[5]]
    assert first[:4] == [1, "case-0000", "=SUM(A1:A2) 不是公式", 0]  # text stays text
    assert first[4] == datetime(2026, 11, 1, 9, 30)
    assert sheet["E5"].number_format == "yyyy-mm-dd hh:mm"
    assert first[5] == datetime(2026, 12, 1) and sheet["F5"].number_format == "yyyy-mm-dd"
    assert first[6] is None and first[7] == 0.5  # None stays an empty cell
    assert sheet["G6"].value == "否" and sheet["G7"].value == "是"

    last = [c.value for c in sheet[5 + 25]]
    assert last[0] == "合计" and last[1] == "共 25 条"
    assert last[3] == sum(i % 5 for i in range(25))  # the stored value of the SUM formula
    formulas = openpyxl.load_workbook(path).active
    assert formulas is not None and formulas["D30"].value == "=SUM(D5:D29)"
    assert sheet.max_row == 30


def test_xlsx_widths_fit_chinese_text(tmp_path: Path) -> None:
    path = tmp_path / "w.xlsx"
    long_header = Column("x", "是否属于群体性事件苗头", "bool")
    export_writers.write_xlsx(path, [long_header], iter([(True,)]), title=TITLE)
    sheet = openpyxl.load_workbook(path).active
    assert sheet is not None
    # 11 Chinese characters are 22 Latin ones wide: the column holds the whole header.
    assert display_width(long_header.header) == 22
    assert sheet.column_dimensions["B"].width >= 22
    assert sheet.column_dimensions["A"].width >= 6


def test_xlsx_past_the_row_limit_continues_on_another_sheet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export_writers, "XLSX_MAX_ROWS", 12)
    path = tmp_path / "long.xlsx"
    assert export_writers.write_xlsx(path, COLUMNS, rows(20), title=TITLE) == 20
    book = openpyxl.load_workbook(path, data_only=True)
    assert book.sheetnames == [
        "日照市矛盾纠纷案件清单",
        "日照市矛盾纠纷案件清单（续1）",
        "日照市矛盾纠纷案件清单（续2）",
    ]
    serials = [
        row[0]
        for ws in book.worksheets
        for row in ws.iter_rows(min_row=5, values_only=True)
        if isinstance(row[0], int)
    ]
    assert serials == list(range(1, 21))  # every row once, numbered on across sheets
    for ws in book.worksheets:
        assert ws.freeze_panes == "A5" and ws["B4"].value == "案件编号"


def test_csv_has_a_bom_for_excel_and_the_rows(tmp_path: Path) -> None:
    path = tmp_path / "cases.csv"
    seen: list[int] = []
    assert export_writers.write_csv(path, COLUMNS, rows(12), seen.append, every=5) == 12
    assert seen == [5, 10, 12]
    raw = path.read_bytes()
    assert raw.startswith(codecs.BOM_UTF8)
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert table[0] == [
        "案件编号",
        "标题",
        "涉及人数",
        "上报时间",
        "目标日期",
        "按时受理",
        "化解率",
    ]
    assert len(table) == 13
    assert table[1] == [
        "case-0000",
        "'=SUM(A1:A2) 不是公式",  # neutralised: a formula in a CSV would run
        "0",
        "2026-11-01 09:30",
        "2026-12-01",
        "",
        "50.0%",
    ]
    assert table[2][1] == "邻里纠纷：排水沟堵塞" and table[2][4] == "" and table[2][5] == "否"


def test_csv_of_plain_columns_writes_values_as_they_are() -> None:
    out = io.StringIO()
    columns = [Column("code", "区划代码"), Column("n", "上报数", "int")]
    export_writers.write_csv(out, columns, iter([("371102001", 3), ("371102002", None)]))
    assert out.getvalue().splitlines() == ["区划代码,上报数", "371102001,3", "371102002,"]


def test_geojson_is_a_valid_feature_collection_written_feature_by_feature() -> None:
    out = io.StringIO()
    columns = [
        Column("code", "区划代码"),
        Column("name", "名称"),
        Column("reports", "上报数", "int"),
        Column("rate", "每万人", "float"),
        Column("geometry", "geometry", "geometry"),
    ]
    square = (
        '{"type":"Polygon","coordinates":[[[119.5,35.4],[119.6,35.4],[119.6,35.5],[119.5,35.4]]]}'
    )

    def features() -> Iterator[tuple[Any, ...]]:
        yield ("371102001", "日照街道", 42, 3.5, square)
        yield ("371102002", "石臼街道", 0, float("nan"), {"type": "Point", "coordinates": [1, 2]})
        yield ("371102003", "无边界", 1, None, None)

    seen: list[int] = []
    n = export_writers.write_geojson(out, columns, features(), seen.append, name="日照市", every=2)
    assert n == 3 and seen == [2, 3]
    doc = json.loads(out.getvalue())
    assert doc["type"] == "FeatureCollection" and doc["name"] == "日照市"
    first, second, third = doc["features"]
    assert first["type"] == "Feature" and first["id"] == "371102001"
    assert first["properties"] == {
        "code": "371102001",
        "name": "日照街道",
        "reports": 42,
        "rate": 3.5,
    }
    assert first["geometry"]["type"] == "Polygon"
    assert second["properties"]["rate"] is None  # NaN is not JSON
    assert second["geometry"] == {"type": "Point", "coordinates": [1, 2]}
    assert third["geometry"] is None
    assert "日照街道" in out.getvalue()  # UTF-8, not \\u escapes


def test_geojson_without_empty_rows_is_still_valid() -> None:
    out = io.StringIO()
    columns = [Column("code", "代码"), Column("geometry", "geometry", "geometry")]
    assert export_writers.write_geojson(out, columns, iter([])) == 0
    assert json.loads(out.getvalue()) == {"type": "FeatureCollection", "features": []}
    with pytest.raises(ValueError):
        export_writers.write_geojson(io.StringIO(), [Column("code", "代码")], iter([]))
