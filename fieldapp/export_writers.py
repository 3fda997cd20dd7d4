"""Streaming file writers for exports: CSV, xlsx and GeoJSON. Pure: no database, no Flask.

Each writer takes column definitions, an iterator of row tuples (one value per column, in
column order) and a progress callback, and writes as it reads, so a million rows cost the
memory of one row (plus XlsxWriter's one-row buffer and the zip stream), never of the table.

Values by column kind:
- ``text``: str or None;  ``int`` / ``float``: numbers or None;  ``bool``: True/False/None,
  written as 是/否 (or Yes/No);
- ``datetime``: a *naive* datetime already in China time (sources convert in SQL);
- ``date``: a date;  ``percent``: a fraction 0..1 or None;
- ``geometry`` (GeoJSON only): a GeoJSON geometry as a JSON string or a dict.

Dates: a Chinese office reads 2026-11-26 09:30 (GB/T 7408 order, the form government
systems print and the one that sorts as text) in cells and CSV, and the long form
2026年11月26日 in the title's period line. In xlsx, times and dates are real Excel dates with
those number formats, so a clerk can still sort and filter on them."""

from __future__ import annotations

import csv
import json
import math
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any, Final, Literal

ColumnKind = Literal["text", "int", "float", "bool", "datetime", "date", "percent", "geometry"]
Progress = Callable[[int], None]

#: Rows between two progress calls (and the final call always comes).
PROGRESS_EVERY = 5000
#: Excel's hard limit of rows per sheet; a longer export continues on a new sheet.
XLSX_MAX_ROWS = 1_048_576
DATETIME_TEXT = "%Y-%m-%d %H:%M"
DATE_TEXT = "%Y-%m-%d"
XLSX_DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
XLSX_DATE_FORMAT = "yyyy-mm-dd"


@dataclass(frozen=True)
class Column:
    """One column of an export: its key (a stable name), its header as the reader sees it
    (already translated), the kind of value, an optional width in Excel character units
    (default: from the header and kind) and whether a totals row sums it."""

    key: str
    header: str
    kind: ColumnKind = "text"
    width: float | None = None
    total: bool = False


@dataclass(frozen=True)
class SheetTitle:
    """The lines above the header row of a Chinese office table: the title
    (e.g. 日照市矛盾纠纷案件清单), the reporting unit (填报单位) and the period line."""

    title: str
    unit: str = ""
    period: str = ""
    sheet_name: str = "Sheet1"
    serial_header: str = "序号"
    total_label: str = "合计"
    count_text: str = "共 {n} 条"
    yes_no: tuple[str, str] = ("是", "否")
    continued: str = "续"
    extra_lines: list[str] = field(default_factory=list)


def _noop(_rows: int) -> None:
    return None


def display_width(text: str) -> int:
    """Width of `text` in Excel character units: a Chinese character is as wide as two Latin
    ones, which is why naive widths cut Chinese headers in half."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


_KIND_WIDTH = {
    "datetime": 17,
    "date": 12,
    "int": 8,
    "float": 10,
    "percent": 9,
    "bool": 6,
    "text": 14,
}


def column_width(column: Column) -> float:
    """A sensible width: the declared one, else enough for the header and a typical value."""
    if column.width is not None:
        return column.width
    return float(max(display_width(column.header) + 2, _KIND_WIDTH.get(column.kind, 14)))


# --- CSV ------------------------------------------------------------------------------------


#: What a spreadsheet reads as the start of a formula (OWASP, "CSV Injection"): a cell of
#: text starting with one of them — a title "=HYPERLINK(…)" typed by anyone who files a
#: report — would run in the office that opens the export.
FORMULA_START: Final = frozenset("=+-@\t\r")


def neutralise(value: Any) -> Any:
    """Text that a spreadsheet would read as a formula, prefixed with a single quote (what
    OWASP recommends: shown as text, the quote hidden by Excel); anything else unchanged.
    Numbers stay numbers: -5 is not text."""
    if isinstance(value, str) and value[:1] in FORMULA_START:
        return "'" + value
    return value


def _csv_formatter(column: Column, yes_no: tuple[str, str]) -> Callable[[Any], Any]:
    if column.kind == "datetime":
        return lambda v: "" if v is None else v.strftime(DATETIME_TEXT)
    if column.kind == "date":
        return lambda v: "" if v is None else v.strftime(DATE_TEXT)
    if column.kind == "bool":
        yes, no = yes_no
        return lambda v: "" if v is None else (yes if v else no)
    if column.kind == "percent":
        return lambda v: "" if v is None else f"{v * 100:.1f}%"
    return lambda v: "" if v is None else neutralise(v)


def write_csv(
    target: Path | IO[str],
    columns: Sequence[Column],
    rows: Iterable[Sequence[Any]],
    progress: Progress = _noop,
    *,
    yes_no: tuple[str, str] = ("是", "否"),
    every: int = PROGRESS_EVERY,
) -> int:
    """Header and rows as CSV; returns the number of rows. A path is opened as UTF-8 *with a
    byte order mark*: Excel — what most Chinese offices open a CSV with — reads a CSV
    without BOM in the system's ANSI code page (GBK on Chinese Windows) and shows the
    Chinese as mojibake; the BOM makes it read UTF-8. Other tools skip the BOM."""
    if isinstance(target, Path):
        with target.open("w", encoding="utf-8-sig", newline="") as f:
            return write_csv(f, columns, rows, progress, yes_no=yes_no, every=every)
    writer = csv.writer(target, lineterminator="\r\n")
    writer.writerow([c.header for c in columns])
    formatters = [_csv_formatter(c, yes_no) for c in columns]
    plain = all(c.kind in ("text", "int", "float") for c in columns)
    # Only text can start a formula; a table of numbers is written as it comes.
    texts = [i for i, c in enumerate(columns) if c.kind not in ("int", "float")]
    n = 0
    for row in rows:
        if plain and not texts:
            writer.writerow(row)
        elif plain:
            cells = list(row)
            for i in texts:
                cells[i] = neutralise(cells[i])
            writer.writerow(cells)
        else:
            writer.writerow([fmt(v) for fmt, v in zip(formatters, row, strict=True)])
        n += 1
        if n % every == 0:
            progress(n)
    progress(n)
    return n


# --- xlsx -----------------------------------------------------------------------------------

_SHEET_NAME_FORBIDDEN = str.maketrans({c: "_" for c in "[]:*?/\\"})


def _sheet_name(name: str) -> str:
    return (name.translate(_SHEET_NAME_FORBIDDEN) or "Sheet1")[:31]


def write_xlsx(
    path: Path,
    columns: Sequence[Column],
    rows: Iterable[Sequence[Any]],
    progress: Progress = _noop,
    *,
    title: SheetTitle,
    serial: bool = True,
    totals: bool = True,
    every: int = PROGRESS_EVERY,
    large: bool = False,
    tmpdir: Path | None = None,
) -> int:
    """A formatted sheet as a Chinese office expects it: a merged title row, the unit and
    period lines, bold headers with the row frozen below them, widths for Chinese text, a
    序号 (serial number) column and a 合计 row. Streams with XlsxWriter's constant_memory mode
    (each row is flushed to a temporary file once the next begins; strings are written
    inline, not into the shared string table). Past Excel's row limit the table continues
    on further sheets with the same header. `large` turns on ZIP64 for files over 4 GB.
    Returns the number of data rows."""
    import xlsxwriter

    options: dict[str, Any] = {
        "constant_memory": True,
        "use_zip64": large,
        # Our datetimes are naive China time already; keep Excel from shifting them.
        "remove_timezone": True,
        "strings_to_numbers": False,
        "strings_to_formulas": False,  # a title like "=SUM(...)" from a report stays text
        "strings_to_urls": False,
    }
    if tmpdir is not None:
        options["tmpdir"] = str(tmpdir)
    workbook = xlsxwriter.Workbook(str(path), options)
    # On an error the workbook is left unassembled (assembling half a table is wasted work);
    # its row files live in `tmpdir`, which the caller removes either way.
    written = _XlsxTable(workbook, columns, title, serial, totals).write(rows, progress, every)
    workbook.close()
    return written


class _XlsxTable:
    """One table spread over as many sheets as it needs (constant_memory writes in order)."""

    def __init__(
        self,
        workbook: Any,
        columns: Sequence[Column],
        title: SheetTitle,
        serial: bool,
        totals: bool,
    ) -> None:
        self.wb = workbook
        self.columns = list(columns)
        self.title = title
        self.serial = serial
        self.totals = totals
        self.offset = 1 if serial else 0
        font = {"font_name": "宋体", "font_size": 11}
        self.f_title = workbook.add_format(
            {**font, "bold": True, "font_size": 16, "align": "center", "valign": "vcenter"}
        )
        self.f_line = workbook.add_format({**font, "align": "left"})
        self.f_header = workbook.add_format(
            {
                **font,
                "bold": True,
                "align": "center",
                "valign": "vcenter",
                "text_wrap": True,
                "border": 1,
                "bg_color": "#D9E1F2",
            }
        )
        self.f_text = workbook.add_format({**font, "border": 1})
        self.f_center = workbook.add_format({**font, "border": 1, "align": "center"})
        self.f_int = workbook.add_format({**font, "border": 1, "num_format": "0"})
        self.f_float = workbook.add_format({**font, "border": 1, "num_format": "0.00"})
        self.f_percent = workbook.add_format({**font, "border": 1, "num_format": "0.0%"})
        self.f_datetime = workbook.add_format(
            {**font, "border": 1, "num_format": XLSX_DATETIME_FORMAT}
        )
        self.f_date = workbook.add_format({**font, "border": 1, "num_format": XLSX_DATE_FORMAT})
        self.f_total = workbook.add_format({**font, "bold": True, "border": 1, "num_format": "0"})
        self.f_total_label = workbook.add_format(
            {**font, "bold": True, "border": 1, "align": "center"}
        )
        self.sheets = 0

    # The rows above the data: title, unit, period, any extra lines, then the header.
    def _start_sheet(self) -> tuple[Any, int]:
        self.sheets += 1
        name = self.title.sheet_name
        if self.sheets > 1:
            name = f"{name}（{self.title.continued}{self.sheets - 1}）"
        ws = self.wb.add_worksheet(_sheet_name(name))
        last_col = len(self.columns) + self.offset - 1
        if self.serial:
            ws.set_column(0, 0, max(6, display_width(self.title.serial_header) + 2))
        for i, column in enumerate(self.columns):
            ws.set_column(i + self.offset, i + self.offset, column_width(column))
        row = 0
        ws.set_row(row, 30)
        if last_col > 0:
            ws.merge_range(row, 0, row, last_col, self.title.title, self.f_title)
        else:
            ws.write_string(row, 0, self.title.title, self.f_title)
        row += 1
        for line in (self.title.unit, self.title.period, *self.title.extra_lines):
            if line:
                if last_col > 0:
                    ws.merge_range(row, 0, row, last_col, line, self.f_line)
                else:
                    ws.write_string(row, 0, line, self.f_line)
                row += 1
        ws.set_row(row, 32)
        if self.serial:
            ws.write_string(row, 0, self.title.serial_header, self.f_header)
        for i, column in enumerate(self.columns):
            ws.write_string(row, i + self.offset, column.header, self.f_header)
        # Freeze everything down to and including the header row: it stays in view while
        # the reader scrolls through the rows.
        ws.freeze_panes(row + 1, 0)
        return ws, row + 1

    def _cell_writers(self, ws: Any) -> list[Callable[[int, int, Any], Any]]:
        """One writer per column, chosen once: the typed XlsxWriter call with its format
        (cheaper than `write`'s per-cell type sniffing, a million times over)."""
        yes, no = self.title.yes_no
        text, centre = self.f_text, self.f_center

        def dated(fmt: Any) -> Callable[[int, int, Any], Any]:
            return lambda r, c, v: ws.write_datetime(r, c, v, fmt)

        def number(fmt: Any) -> Callable[[int, int, Any], Any]:
            def w(r: int, c: int, v: Any) -> Any:
                if isinstance(v, float) and not math.isfinite(v):
                    return ws.write_blank(r, c, None, fmt)
                return ws.write_number(r, c, v, fmt)

            return w

        by_kind: dict[str, Callable[[int, int, Any], Any]] = {
            "datetime": dated(self.f_datetime),
            "date": dated(self.f_date),
            "int": number(self.f_int),
            "float": number(self.f_float),
            "percent": number(self.f_percent),
            "bool": lambda r, c, v: ws.write_string(r, c, yes if v else no, centre),
        }
        default: Callable[[int, int, Any], Any] = lambda r, c, v: ws.write_string(  # noqa: E731
            r, c, str(v), text
        )
        return [by_kind.get(column.kind, default) for column in self.columns]

    def write(self, rows: Iterable[Sequence[Any]], progress: Progress, every: int) -> int:
        ws, first_data_row = self._start_sheet()
        writers = self._cell_writers(ws)
        offset = self.offset
        sums = [0.0 if c.total else None for c in self.columns]
        summing = [i for i, c in enumerate(self.columns) if c.total]
        # Leave room for the totals row on the last sheet.
        limit = XLSX_MAX_ROWS - 1
        r = first_data_row
        n = 0
        for row in rows:
            if r >= limit:
                ws, r = self._start_sheet()
                writers = self._cell_writers(ws)
            n += 1
            if offset:
                ws.write_number(r, 0, n, self.f_center)
            for c, (writer, value) in enumerate(zip(writers, row, strict=True)):
                # An empty value writes no cell at all: XlsxWriter costs ~20 µs a cell, and a
                # case list is a third empty (not yet accepted, closed, assigned …).
                if value is not None:
                    writer(r, c + offset, value)
            for i in summing:
                value = row[i]
                if value is not None:
                    sums[i] += value
            r += 1
            if n % every == 0:
                progress(n)
        if self.totals:
            self._totals_row(ws, r, first_data_row if self.sheets == 1 else None, n, sums)
        progress(n)
        return n

    def _totals_row(
        self, ws: Any, r: int, first: int | None, n: int, sums: list[float | None]
    ) -> None:
        """合计: the label in the first column, the row count (共 N 条) under the first data
        column when that one is not summed, and each summed column's total — a live SUM
        formula with its value stored too (when the table fits on one sheet), so the figure
        is right even in viewers that do not recalculate."""
        from xlsxwriter.utility import xl_rowcol_to_cell

        ws.write_string(r, 0, self.title.total_label, self.f_total_label)
        for i, total in enumerate(sums):
            col = i + self.offset
            if col == 0:
                continue  # no serial column: the label sits in the first data column
            if total is None:
                if i == 0:
                    ws.write_string(r, col, self.title.count_text.format(n=n), self.f_total)
                continue
            value: float | int = int(total) if float(total).is_integer() else total
            if first is not None and r > first:
                ref = f"{xl_rowcol_to_cell(first, col)}:{xl_rowcol_to_cell(r - 1, col)}"
                ws.write_formula(r, col, f"=SUM({ref})", self.f_total, value)
            else:
                ws.write_number(r, col, value, self.f_total)


# --- GeoJSON --------------------------------------------------------------------------------


def _json_value(column: Column, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_geojson(
    target: Path | IO[str],
    columns: Sequence[Column],
    rows: Iterable[Sequence[Any]],
    progress: Progress = _noop,
    *,
    name: str | None = None,
    every: int = PROGRESS_EVERY,
) -> int:
    """An RFC 7946 FeatureCollection (WGS-84), one feature per row, written feature by
    feature. The column of kind ``geometry`` is the geometry (a GeoJSON string from PostGIS
    is copied as it is, not parsed); the ``code`` column, if any, is also the feature id;
    every other column is a property."""
    if isinstance(target, Path):
        with target.open("w", encoding="utf-8", newline="\n") as f:
            return write_geojson(f, columns, rows, progress, name=name, every=every)
    geometry_at = [i for i, c in enumerate(columns) if c.kind == "geometry"]
    if len(geometry_at) != 1:
        raise ValueError("a GeoJSON export needs exactly one geometry column")
    g = geometry_at[0]
    props = [(i, c) for i, c in enumerate(columns) if i != g]
    id_at = next((i for i, c in enumerate(columns) if c.key == "code"), None)
    head: dict[str, Any] = {"type": "FeatureCollection"}
    if name:
        head["name"] = name
    target.write(json.dumps(head, ensure_ascii=False)[:-1] + ', "features": [\n')
    n = 0
    for row in rows:
        geometry = row[g]
        geometry_json = (
            "null"
            if geometry is None
            else geometry
            if isinstance(geometry, str)
            else json.dumps(geometry)
        )
        properties = {c.key: _json_value(c, row[i]) for i, c in props}
        feature_id = f'"id": {json.dumps(row[id_at])}, ' if id_at is not None else ""
        target.write(
            ("" if n == 0 else ",\n")
            + '{"type": "Feature", '
            + feature_id
            + '"properties": '
            + json.dumps(properties, ensure_ascii=False)
            + ', "geometry": '
            + geometry_json
            + "}"
        )
        n += 1
        if n % every == 0:
            progress(n)
    target.write("\n]}\n")
    progress(n)
    return n
