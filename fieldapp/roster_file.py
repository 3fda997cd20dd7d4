"""The roster spreadsheet (花名册): reading xlsx/CSV rows and validating them, in plain functions
with no database (fieldapp.services.roster looks up codes and applies the result).

One row per person; headers in Chinese with English aliases (HEADERS). Every problem is
collected with its spreadsheet row and column, so a county office fixes the whole file in one
pass instead of one error per upload. Usernames: the 用户名 column when given, else the phone
number — officers know it by heart, it is unique per person, and it is already in every
roster; re-imports match people by it."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import IO, Any, Final

#: Canonical field → accepted headers (lower-cased for matching); the first is the template's.
HEADERS: Final[dict[str, tuple[str, ...]]] = {
    "name": ("姓名", "name"),
    "phone": ("手机号", "手机号码", "phone", "mobile"),
    "role": ("角色", "role"),
    "cells": ("网格编码", "网格", "cells", "cell"),
    "area": ("区域编码", "区域", "area"),
    "id_number": ("身份证号", "身份证号码", "id_number", "id number"),
    "start": ("到岗日期", "start", "start_date"),
    "end": ("离岗日期", "end", "end_date"),
    "username": ("用户名", "username"),
}
REQUIRED: Final = ("name", "phone", "role")

#: Role words → role codes (Chinese labels as offices write them, and the codes themselves).
ROLE_WORDS: Final[dict[str, str]] = {
    "网格员": "officer",
    "信访信息员": "officer",
    "officer": "officer",
    "信访专干": "coordinator",
    "coordinator": "coordinator",
    "区县工作人员": "county",
    "county": "county",
    "市级工作人员": "city",
    "city": "city",
    "部门": "department",
    "部门工作人员": "department",
    "department": "department",
    "管理员": "admin",
    "admin": "admin",
}
#: The template's role word per role (first Chinese word above).
ROLE_LABELS: Final[dict[str, str]] = {
    "officer": "网格员",
    "coordinator": "信访专干",
    "county": "区县工作人员",
    "city": "市级工作人员",
    "department": "部门工作人员",
    "admin": "管理员",
}
#: Roles whose 区域编码 is an area of this level; "department" takes a department code.
AREA_LEVEL: Final[dict[str, str]] = {"coordinator": "township", "county": "county", "city": "city"}

#: A row whose name starts with this is the template's example and is skipped.
EXAMPLE_MARKS: Final = ("（示例）", "(示例)")
PHONE = re.compile(r"^1[3-9]\d{9}$")
USERNAME = re.compile(r"^[A-Za-z0-9_.\-]{3,64}$")
ID_NUMBER = re.compile(r"^\d{17}[\dX]$")
CELL_SEPARATORS = re.compile(r"[;；,，、\s]+")
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)
MAX_ROWS: Final = 20_000


class RosterFileError(ValueError):
    """The file cannot be read at all (not xlsx/CSV, no header row, too many rows)."""


@dataclass(frozen=True)
class Problem:
    row: int
    """Spreadsheet row number (the header is row 1); 0 for the file as a whole."""
    column: str
    """The column's header as written in the file (or the canonical name if absent)."""
    message: str
    value: str = ""


@dataclass(frozen=True)
class RosterRow:
    row: int
    username: str
    name: str
    phone: str
    role: str
    cells: tuple[str, ...] = ()
    area: str = ""
    id_number: str = ""
    start: date | None = None
    end: date | None = None


@dataclass
class Parsed:
    rows: list[RosterRow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)
    """Canonical field → the header the file used (for messages)."""


# --- reading ---------------------------------------------------------------------------------


def read_table(data: bytes, filename: str) -> Iterator[list[Any]]:
    """The rows of an xlsx (first sheet, read-only: memory stays flat for big files) or a CSV
    (UTF-8 with or without BOM, else GB18030 as Chinese Excel saves it)."""
    if filename.lower().endswith((".xlsx", ".xlsm")) or data[:2] == b"PK":
        return _read_xlsx(io.BytesIO(data))
    return _read_csv(data)


def _read_xlsx(stream: IO[bytes]) -> Iterator[list[Any]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(stream, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise RosterFileError(f"not a readable xlsx file ({type(exc).__name__})") from None
    sheet = book.worksheets[0]

    def rows() -> Iterator[list[Any]]:
        try:
            for values in sheet.iter_rows(values_only=True):
                yield list(values)
        except Exception as exc:  # a sheet broken half-way (bad XML, bad cell values)
            raise RosterFileError(f"the xlsx sheet is damaged ({type(exc).__name__})") from None
        finally:
            book.close()

    return rows()


def _read_csv(data: bytes) -> Iterator[list[Any]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise RosterFileError("the CSV is neither UTF-8 nor GB18030 text")
    if "\x00" in text:
        raise RosterFileError("not a CSV text file")

    def rows() -> Iterator[list[Any]]:
        try:
            yield from (list(r) for r in csv.reader(io.StringIO(text)))
        except csv.Error as exc:  # e.g. a field over the csv module's 128 KB limit
            raise RosterFileError(f"the CSV is malformed ({exc})") from None

    return rows()


# --- cell values -----------------------------------------------------------------------------


def text(value: Any) -> str:
    """A cell as text: numbers Excel stored for phones/codes lose their ".0", dates their time."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")


def parse_date(value: Any) -> date:
    """2024-03-01, 2024/3/1, 2024.3.1, 2024年3月1日, 20240301 or an Excel date; ValueError
    otherwise or outside 2000–2100."""
    if isinstance(value, datetime):
        day = value.date()
    elif isinstance(value, date):
        day = value
    else:
        raw = text(value)
        match = _DATE.match(raw)
        if match:
            day = date(int(match[1]), int(match[2]), int(match[3]))
        elif re.fullmatch(r"\d{8}", raw):
            day = date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
        else:
            raise ValueError(raw)
    if not EARLIEST <= day <= LATEST:
        raise ValueError(str(day))
    return day


def normalise_phone(raw: str) -> str:
    return re.sub(r"[\s\-()（）]", "", raw).removeprefix("+86")


def id_number_valid(value: str) -> bool:
    """GB 11643 resident ID: 17 digits and a check character (ISO 7064 MOD 11-2)."""
    if not ID_NUMBER.match(value):
        return False
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(d) * w for d, w in zip(value[:17], weights, strict=True))
    return "10X98765432"[total % 11] == value[17]


def split_cells(raw: str) -> list[str]:
    return [c for c in CELL_SEPARATORS.split(raw) if c]


# --- parsing and file-level checks ------------------------------------------------------------


def header_map(header: list[Any]) -> tuple[dict[str, int], dict[str, str], list[Problem]]:
    """Canonical field → column index, → header text; problems for missing/unknown headers."""
    aliases = {alias.lower(): key for key, names in HEADERS.items() for alias in names}
    index: dict[str, int] = {}
    labels: dict[str, str] = {}
    problems: list[Problem] = []
    for i, raw in enumerate(header):
        label = text(raw)
        if not label:
            continue
        key = aliases.get(label.lower().replace("*", "").strip())
        if key is None:
            problems.append(Problem(1, label, "unknown_column", label))
        elif key in index:
            problems.append(Problem(1, label, "duplicate_column", label))
        else:
            index[key], labels[key] = i, label
    for key in REQUIRED:
        if key not in index:
            problems.append(Problem(1, HEADERS[key][0], "missing_column"))
    return index, labels, problems


#: How often `parse` reports progress, in rows.
PROGRESS_EVERY: Final = 1000


def parse(table: Iterable[list[Any]], progress: Callable[[int], None] | None = None) -> Parsed:
    """Rows and the problems of each row on its own and of the file as a whole (duplicates).
    Code lookups (cells, areas, departments) are `check_codes`'s. `progress(rows_read)` is
    called every PROGRESS_EVERY rows."""
    out = Parsed()
    iterator = iter(table)
    header = next(iterator, None)
    if header is None:
        raise RosterFileError("the file is empty")
    index, out.columns, out.problems = header_map(header)
    if any(p.message == "missing_column" for p in out.problems):
        return out
    col = out.columns
    seen: dict[tuple[str, str], int] = {}
    for number, values in enumerate(iterator, start=2):
        if number - 1 > MAX_ROWS:
            raise RosterFileError(f"more than {MAX_ROWS} rows")
        if progress is not None and (number - 1) % PROGRESS_EVERY == 0:
            progress(number - 1)
        cells = {key: values[i] if i < len(values) else None for key, i in index.items()}
        if all(text(v) == "" for v in cells.values()):
            continue
        name = text(cells.get("name"))
        if name.startswith(EXAMPLE_MARKS):
            continue
        row, problems = _parse_row(number, cells, col)
        out.problems.extend(problems)
        if row is None:
            continue
        for key, value in (
            ("username", row.username),
            ("phone", row.phone),
            ("id_number", row.id_number),
        ):
            if not value:
                continue
            first = seen.setdefault((key, value), number)
            if first != number:
                shown = _masked(value) if key == "id_number" else value
                column = col.get(key, HEADERS[key][0])
                out.problems.append(Problem(number, column, f"duplicate_person:{first}", shown))
                break  # one problem per duplicated row is enough
        out.rows.append(row)
    return out


def _parse_row(
    number: int, cells: Mapping[str, Any], col: Mapping[str, str]
) -> tuple[RosterRow | None, list[Problem]]:
    problems: list[Problem] = []

    def problem(key: str, message: str, value: str = "") -> None:
        problems.append(Problem(number, col.get(key, HEADERS[key][0]), message, value))

    name = text(cells.get("name"))
    if not name:
        problem("name", "required")
    elif len(name) > 100:
        problem("name", "too_long", name[:20])
    phone_raw = text(cells.get("phone"))
    phone = normalise_phone(phone_raw)
    if not phone:
        problem("phone", "required")
    elif not PHONE.match(phone):
        problem("phone", "phone_format", phone_raw)
    role_raw = text(cells.get("role"))
    role = ROLE_WORDS.get(role_raw.lower()) or ROLE_WORDS.get(role_raw)
    if not role_raw:
        problem("role", "required")
    elif role is None:
        problem("role", "unknown_role", role_raw)
    username = text(cells.get("username")) or phone
    if text(cells.get("username")) and not USERNAME.match(username):
        problem("username", "username_format", username)
    cell_codes = split_cells(text(cells.get("cells")))
    for i, code in enumerate(cell_codes):
        if code in cell_codes[:i]:
            problem("cells", "cell_twice_in_row", code)
    area = text(cells.get("area"))
    if role == "officer" and not cell_codes:
        problem("cells", "cells_required")
    if role is not None and role != "officer" and cell_codes:
        problem("cells", "cells_only_for_officers", "；".join(cell_codes))
    if (role in AREA_LEVEL or role == "department") and not area:
        problem("area", "area_required")
    id_number = text(cells.get("id_number")).upper()
    if id_number and not id_number_valid(id_number):
        problem("id_number", "id_number_format", _masked(id_number))
    start = end = None
    for key in ("start", "end"):
        raw = cells.get(key)
        if text(raw) == "":
            continue
        try:
            day = parse_date(raw)
        except ValueError:
            problem(key, "date_format", text(raw))
            continue
        if key == "start":
            start = day
        else:
            end = day
    if start and end and end < start:
        problem("end", "end_before_start", end.isoformat())
    if problems or role is None:
        return None, problems
    return (
        RosterRow(
            number,
            username,
            name,
            phone,
            role,
            tuple(cell_codes),
            area,
            id_number,
            start,
            end,
        ),
        problems,
    )


def _masked(id_number: str) -> str:
    from fieldapp.privacy import mask_id_number

    return mask_id_number(id_number) or ""


@dataclass(frozen=True)
class CellInfo:
    id: int
    township_id: int
    county_id: int


def check_codes(
    parsed: Parsed,
    cells: Mapping[str, CellInfo],
    areas: Mapping[str, tuple[int, str]],
    departments: Mapping[str, int],
) -> list[Problem]:
    """Problems with codes: unknown cell, area or department code, an area of the wrong level
    for the role, an officer's cells in two townships, a cell given to two people."""
    col = parsed.columns
    problems: list[Problem] = []
    holder: dict[str, int] = {}
    for r in parsed.rows:
        townships: set[int] = set()
        for code in r.cells:
            info = cells.get(code)
            if info is None:
                problems.append(Problem(r.row, col.get("cells", "网格编码"), "unknown_cell", code))
                continue
            townships.add(info.township_id)
            first = holder.setdefault(code, r.row)
            if first != r.row:
                problems.append(
                    Problem(r.row, col.get("cells", "网格编码"), f"cell_taken:{first}", code)
                )
        if len(townships) > 1:
            problems.append(
                Problem(r.row, col.get("cells", "网格编码"), "two_townships", "；".join(r.cells))
            )
        if r.role in AREA_LEVEL:
            found = areas.get(r.area)
            if found is None:
                problems.append(Problem(r.row, col.get("area", "区域编码"), "unknown_area", r.area))
            elif found[1] != AREA_LEVEL[r.role]:
                problems.append(
                    Problem(
                        r.row,
                        col.get("area", "区域编码"),
                        f"area_level:{AREA_LEVEL[r.role]}",
                        r.area,
                    )
                )
        elif r.role == "department" and r.area not in departments:
            problems.append(
                Problem(r.row, col.get("area", "区域编码"), "unknown_department", r.area)
            )
    return problems


# --- writing: the template and the sheet of one-time passwords ----------------------------

TEMPLATE_EXAMPLE: Final = (
    "（示例）张三",
    "13800000000",
    "网格员",
    "371102001001001；371102001001002",
    "",
    "",
    "2024-03-01",
    "",
    "",
)
TEMPLATE_NOTES: Final = (
    ("列", "必填", "说明"),
    ("姓名 (name)", "是", "本人姓名。"),
    ("手机号 (phone)", "是", "11 位手机号；未填用户名时即为登录用户名。"),
    (
        "角色 (role)",
        "是",
        "网格员、信访专干、区县工作人员、市级工作人员、部门工作人员、管理员（或英文 officer、"
        "coordinator、county、city、department、admin）。",
    ),
    ("网格编码 (cells)", "网格员必填", "一个或多个网格编码，用“；”或“;”分隔；须在同一乡镇/街道。"),
    (
        "区域编码 (area)",
        "信访专干、区县、市级、部门必填",
        "信访专干填乡镇/街道编码，区县工作人员填区县编码，市级工作人员填市编码，部门工作人员填部门编码。",
    ),
    ("身份证号 (id_number)", "否", "18 位居民身份证号；系统中只显示脱敏后的号码。"),
    ("到岗日期 (start)", "否", "如 2024-03-01。"),
    ("离岗日期 (end)", "否", "已过的离岗日期会停用该账号。"),
    ("用户名 (username)", "否", "不填则用手机号作为用户名；再次导入时按用户名识别同一人。"),
    ("", "", ""),
    ("规则", "", ""),
    ("1", "", "先检查整个文件，有任何问题都不会写入，页面列出每个问题的行和列。"),
    ("2", "", "同一文件再次导入不会产生任何改动。"),
    ("3", "", "以前导入、这次文件里没有的人员将被停用，其未办结案件会列出以便改派。"),
    ("4", "", "新账号获得一次性密码，首次登录必须修改。"),
    ("5", "", "姓名以“（示例）”开头的行会被跳过。"),
)


def template_xlsx() -> bytes:
    """The roster template: the 花名册 sheet (Chinese headers, one example row) and a 填写说明
    sheet of notes."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "花名册"
    sheet.append([names[0] for names in HEADERS.values()])
    sheet.append(list(TEMPLATE_EXAMPLE))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for column, width in zip("ABCDEFGHI", (12, 14, 14, 36, 14, 22, 12, 12, 14), strict=True):
        sheet.column_dimensions[column].width = width
        # Text format, so Excel keeps phone numbers, codes and ID numbers as typed.
        for cell in sheet[column][1:]:
            cell.number_format = "@"
    notes = book.create_sheet("填写说明")
    for line in TEMPLATE_NOTES:
        notes.append(list(line))
    notes.column_dimensions["A"].width = 20
    notes.column_dimensions["B"].width = 24
    notes.column_dimensions["C"].width = 80
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def passwords_xlsx(rows: Iterable[tuple[str, str, str, str, str]]) -> bytes:
    """The sheet of one-time passwords (username, name, role, cells/area, password), written
    streaming (openpyxl write-only)."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("一次性密码")
    sheet.append(["用户名", "姓名", "角色", "网格/区域", "一次性密码（首次登录须修改）"])
    for username, name, role, place, password in rows:
        sheet.append([username, name, ROLE_LABELS.get(role, role), place, password])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
