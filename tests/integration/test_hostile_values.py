"""The classes of #15 at their examples, end to end with the real database, exports and
images: stored dates outside the window refused (and repaired by migration 0010), offsets
normalised, hostile JSON refused with its message, CSV formula injection neutralised in real
exported files (xlsx kept as text), a 1 x 40,000,000 px PNG refused from its header."""

from __future__ import annotations

import csv
import importlib.util
import io
import struct
import time
import uuid
import zlib
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import openpyxl
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from fieldapp import export_store
from tests.integration.test_exports import file_report, request_export, run_here
from tests.support import auth

MIGRATION = Path(__file__).resolve().parents[2] / "migrations/versions/0010_dates_in_window.py"


def accepted_case(client: FlaskClient, people: dict, **overrides: Any) -> dict[str, Any]:
    """A case filed by officer_a and accepted by coord_1 (its JSON after the step)."""
    case = file_report(client, people, "officer_a", **overrides)
    r = client.post(
        f"/api/v1/cases/{case['id']}/actions/accept",
        json={"version": case["version"]},
        headers=auth(people, "coord_1"),
    )
    assert r.status_code == 200, r.get_json()
    return dict(r.get_json())


def _assign(client: FlaskClient, people: dict, case: dict, due_at: str) -> Any:
    return client.post(
        f"/api/v1/cases/{case['id']}/actions/assign",
        json={"version": case["version"], "department": "991101-D01", "due_at": due_at},
        headers=auth(people, "coord_1"),
    )


def test_a_deadline_outside_the_window_is_a_400_naming_it(
    client: FlaskClient, people: dict
) -> None:
    case = accepted_case(client, people)
    for due in ("9999-12-31T20:00:00Z", "2101-01-01T00:00:00+08:00", "0001-01-01T00:00:00Z"):
        r = _assign(client, people, case, due)
        assert r.status_code == 400, r.get_json()
        assert "2100-12-31" in r.get_json()["error"]["fields"]["due_at"]
    r = _assign(client, people, case, "2030-01-01T18:00:00+15:00")
    assert r.status_code == 400 and "+14:00" in r.get_json()["error"]["fields"]["due_at"]
    # -12:00 is a real offset: accepted and stored as the same instant in UTC.
    r = _assign(client, people, case, "2030-01-01T18:00:00-12:00")
    assert r.status_code == 200, r.get_json()
    assert datetime.fromisoformat(r.get_json()["due_at"]) == datetime(2030, 1, 2, 6, tzinfo=UTC)
    page = client.get(f"/api/v1/cases/{case['id']}", headers=auth(people, "coord_1"))
    assert page.status_code == 200


def test_query_dates_outside_the_window_are_400s_naming_them(
    client: FlaskClient, people: dict
) -> None:
    for path in (
        "/api/v1/reports?to=9999-12-31",
        "/api/v1/rollups?from=0001-01-01",
        "/api/v1/kpis?period=range&from=2026-01-01&to=9999-12-31",
        "/api/v1/layers/reports?to=9999-12-31",
        "/api/v1/layers/cells/12/3400/1600.mvt?from=0001-01-01",
    ):
        r = client.get(path, headers=auth(people, "city"))
        assert r.status_code == 400, (path, r.get_data()[:300])
        fields = r.get_json()["error"]["fields"]
        assert any("2100-12-31" in message for message in fields.values()), (path, fields)
    r = client.post(
        "/api/v1/exports",
        json={"kind": "cases", "format": "csv", "filters": {"to": "9999-12-31"}},
        headers=auth(people, "city"),
    )
    assert r.status_code == 400 and "filters.to" in r.get_json()["error"]["fields"]


def test_hostile_json_is_a_400_with_what_is_wrong(client: FlaskClient, people: dict) -> None:
    headers = {**auth(people, "officer_a"), "Content-Type": "application/json"}
    cases = {
        "[" * 100_000 + "]" * 100_000: "nested too deeply",
        '{"title": "\\ud800"}': "lone surrogate",
        '{"title": "a\\u0000"}': "U+0000",
        '{"people_involved": ' + str(2**70) + "}": "too large",
        '{"lon": 1e400}': "finite",
        '{"lon": NaN}': "finite",
    }
    for body, words in cases.items():
        r = client.post("/api/v1/reports?lang=en", data=body, headers=headers)
        assert r.status_code == 400, (body[:40], r.get_data()[:200])
        assert words in r.get_json()["error"]["message"], (body[:40], r.get_json())
    assert client.get("/healthz").status_code == 200


FORMULAS = ('=HYPERLINK("http://evil.example","点我")', "@SUM(1+1)", "+1+2", "-3+4")


def test_csv_exports_neutralise_formulas_and_the_xlsx_keeps_them_text(
    app: Flask, client: FlaskClient, db_session: Session, people: dict, tmp_path: Path
) -> None:
    ids = {file_report(client, people, "officer_a", title=t)["id"]: t for t in FORMULAS}
    job = request_export(client, people, "coord_1", {"kind": "cases", "format": "csv"})
    run_here(app, db_session, job["id"], tmp_path)
    # The file as a download reads it: from the export store every web node shares.
    raw = export_store.read_all(db_session, uuid.UUID(job["id"])).decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(raw)))
    header = next(row for row in table if "标题" in row)
    title_at = header.index("标题")
    rows = {row[-1]: row for row in table if row}  # the system id is the last column
    for case_id, title in ids.items():
        assert rows[case_id][title_at] == "'" + title
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows.values() for cell in row)

    job = request_export(client, people, "coord_1", {"kind": "cases", "format": "xlsx"})
    run_here(app, db_session, job["id"], tmp_path)
    data = export_store.read_all(db_session, uuid.UUID(job["id"]))
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    assert sheet is not None
    lines = list(sheet.iter_rows())
    header_cells = next(r for r in lines if any(c.value == "标题" for c in r))
    title_at = [c.value for c in header_cells].index("标题")
    titles = {r[-1].value: r[title_at] for r in lines if r[-1].value in ids}
    for case_id, title in ids.items():
        assert titles[case_id].value == title and titles[case_id].data_type == "s"


def _png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    rows = zlib.compress(b"\x00\x00" * height if width == 1 else b"", 9)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def test_a_photo_of_one_by_forty_million_pixels_is_refused_at_once(
    client: FlaskClient, people: dict
) -> None:
    report = file_report(client, people, "officer_a")
    data = _png(1, 40_000_000)
    assert len(data) < 100_000
    started = time.perf_counter()
    r = client.post(
        f"/api/v1/reports/{report['id']}/photos",
        data={"photo": (io.BytesIO(data), "x.png")},
        headers=auth(people, "officer_a"),
    )
    elapsed = time.perf_counter() - started
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "bad_proportions"
    assert r.get_json()["error"]["fields"]["photo"]
    assert elapsed < 1.0, elapsed  # it took 4-6 s to decode before the cap


def test_the_migration_repairs_stored_dates_outside_the_window(
    client: FlaskClient, people: dict, db_session: Session
) -> None:
    case = accepted_case(client, people)
    db_session.execute(
        text(
            "UPDATE reports SET due_at = '9999-12-31 20:00+00', key_target_date = '9999-12-31', "
            "occurred_at = '0001-01-01 00:00+00' WHERE id = :id"
        ),
        {"id": case["id"]},
    )
    spec = importlib.util.spec_from_file_location("migration_0010", MIGRATION)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    counts = migration.repair(db_session.connection())
    assert counts["reports.due_at"] >= 1 and counts["reports.occurred_at"] >= 1
    row = db_session.execute(
        text("SELECT due_at, key_target_date, occurred_at FROM reports WHERE id = :id"),
        {"id": case["id"]},
    ).one()
    assert row.due_at is None and row.key_target_date is None
    assert row.occurred_at == datetime(1999, 12, 31, 16, tzinfo=UTC)  # 2000-01-01 00:00 +08
    assert migration.repair(db_session.connection())["reports.due_at"] == 0  # idempotent
    r = client.get(f"/api/v1/cases/{case['id']}", headers=auth(people, "coord_1"))
    assert r.status_code == 200, r.get_data()[:300]
    assert date.fromisoformat(r.get_json()["occurred_at"][:10]) >= date(1999, 12, 31)
