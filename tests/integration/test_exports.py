"""Exports against PostGIS: requests are validated before anything is written, exports are
scoped like the list endpoint (a coordinator's holds their township only, and no party's
personal data), the per-area tables and GeoJSON carry the roll-up counts, and only the
requester downloads. The worker's part runs here in the test's transaction; the whole flow
through a real Celery worker is in test_exports_worker.py."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fieldapp import export_store
from fieldapp.domain import CHINA_TZ
from fieldapp.models import AuditEvent, ExportJob, OutboxMessage
from fieldapp.services import exports
from tests.support import auth, file_via_api

pytestmark = pytest.mark.usefixtures("people")


def file_report(client: FlaskClient, people: dict, who: str, **overrides: Any) -> dict:
    fields: dict[str, Any] = {
        "people_involved": 3,
        "title": f"排水沟纠纷 {uuid.uuid4().hex[:6]}",
        "description": "两户因排水沟堵塞争执，张三丰要求赔偿。",
        "parties": [{"name": "张三丰", "id_number": "371102199001011234", "phone": "13800001111"}],
    }
    return file_via_api(client, people, who, **{**fields, **overrides})


def request_export(client: FlaskClient, people: dict, who: str, body: dict) -> dict:
    r = client.post("/api/v1/exports", json=body, headers=auth(people, who))
    assert r.status_code == 202, r.get_json()
    assert r.headers["Location"] == f"/api/v1/exports/{r.get_json()['id']}"
    return dict(r.get_json())


def run_here(app: Flask, db_session: Session, job_id: str, tmp_path: Path) -> ExportJob:
    """What the task does, in the test's transaction (progress recorded in a list)."""
    app.config["EXPORT_DIR"] = str(tmp_path)
    job = exports.claim(db_session, uuid.UUID(job_id), datetime.now(UTC))
    assert job is not None and job.status == "running"
    progress: list[tuple[int, int | None]] = []
    with app.app_context():  # as in the worker (FlaskTask): the export's language applies
        exports.run(
            db_session,
            job,
            tmp_path,
            now=lambda: datetime.now(UTC),
            ttl=timedelta(hours=24),
            store_progress=lambda _id, done, total: progress.append((done, total)),
            every=2,
        )
    db_session.flush()
    assert progress[0][0] == 0 and progress[-1][0] == job.rows_done == job.rows_total
    assert [d for d, _t in progress] == sorted(d for d, _t in progress)
    return job


def test_a_coordinators_csv_holds_their_township_only_and_no_personal_data(
    app: Flask, client: FlaskClient, db_session: Session, people: dict, tmp_path: Path
) -> None:
    mine = [file_report(client, people, "officer_a") for _ in range(3)]
    other = file_report(client, people, "officer_b")
    job = request_export(client, people, "coord_1", {"kind": "cases", "format": "csv"})
    assert job["status"] == "queued" and job["download_url"] is None
    assert job["progress"] == {"rows_done": 0, "rows_total": None, "percent": None}

    done = run_here(app, db_session, job["id"], tmp_path)
    text = export_store.read_all(db_session, done.id).decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(text)))
    assert table[0][:5] == ["案件编号", "标题", "类别", "等级", "状态"]
    # The number people say first, the API's id last.
    assert table[0][-1] == "系统编号"
    # Per-case yes/no columns are questions, not the KPIs' names (issue #14).
    assert {"是否及时受理", "是否按期办结", "是否重点积案"} <= set(table[0])
    assert not {"及时受理率", "按期办结率"} & set(table[0])
    ids = {row[-1] for row in table[1:]}
    assert {r["id"] for r in mine} <= ids and other["id"] not in ids
    assert {r["case_number"] for r in mine} <= {row[0] for row in table[1:]}
    assert all(row[8] == "测试街道001" for row in table[1:])  # the township column
    first = next(row for row in table[1:] if row[0] == mine[0]["case_number"])
    assert first[2] == "邻里纠纷" and first[3] == "橙" and first[4] == "待受理"
    # Parties' names, ID numbers and phones are never exported, nor the description.
    for secret in ("张三丰", "371102199001011234", "13800001111", "要求赔偿"):
        assert secret not in text
    assert done.file_name and done.file_name.endswith(".csv") and "测试市" in done.file_name

    county = request_export(client, people, "county", {"kind": "cases", "format": "csv"})
    everything = run_here(app, db_session, county["id"], tmp_path)
    assert everything.rows_done == done.rows_done + 1


def test_xlsx_case_list_with_filters_title_unit_and_period(
    app: Flask, client: FlaskClient, db_session: Session, people: dict, tmp_path: Path
) -> None:
    red = file_report(client, people, "officer_a", severity="red", people_involved=7)
    file_report(client, people, "officer_a", severity="yellow")
    today = datetime.now(UTC).astimezone(exports.CHINA_TZ).date()
    body = {
        "kind": "cases",
        "format": "xlsx",
        "filters": {
            "severity": "red",
            "from": (today - timedelta(days=1)).isoformat(),
            "to": today.isoformat(),
            "area": "991101001",
        },
    }
    job = request_export(client, people, "coord_1", body)
    done = run_here(app, db_session, job["id"], tmp_path)
    sheet = openpyxl.load_workbook(
        io.BytesIO(export_store.read_all(db_session, done.id)), data_only=True
    ).active
    assert sheet is not None
    # Named after what it holds: the filtered township and severity (issue #14).
    assert sheet["A1"].value == "测试街道001矛盾纠纷案件清单（红）"
    assert sheet["A2"].value == "填报单位：测试区测试街道001"
    assert done.file_name and done.file_name.startswith("测试街道001矛盾纠纷案件清单（红）_")
    start = today - timedelta(days=1)
    assert sheet["A3"].value == (
        f"统计期间：{start.year}年{start.month}月{start.day}日至"
        f"{today.year}年{today.month}月{today.day}日"
    )
    assert sheet["A4"].value.startswith("导出时间：")
    assert sheet["A5"].value == "序号" and sheet["B5"].value == "案件编号"
    assert sheet.freeze_panes == "A6"
    data = [row for row in sheet.iter_rows(min_row=6, values_only=True) if row[0] != "合计"]
    assert [row[1] for row in data] == [red["case_number"]] and data[0][-1] == red["id"]
    totals = [c.value for c in sheet[6 + len(data)]]
    assert totals[0] == "合计" and totals[1] == "共 1 条" and totals[6] == 7


def test_area_table_and_geojson_carry_the_rollup_counts_within_scope(
    app: Flask, client: FlaskClient, db_session: Session, people: dict, tmp_path: Path
) -> None:
    for _ in range(2):
        file_report(client, people, "officer_a")
    file_report(client, people, "officer_b")

    table = request_export(
        client, people, "coord_1", {"kind": "kpis", "format": "xlsx", "level": "village"}
    )
    done = run_here(app, db_session, table["id"], tmp_path)
    sheet = openpyxl.load_workbook(
        io.BytesIO(export_store.read_all(db_session, done.id)), data_only=True
    ).active
    assert sheet is not None
    headers = [c.value for c in sheet[5]]
    assert headers[:4] == ["序号", "区划代码", "区划名称", "上报数"]
    rows = [r for r in sheet.iter_rows(min_row=6, values_only=True) if r[0] != "合计"]
    assert {r[1][:9] for r in rows} == {"991101001"}  # the coordinator's villages only
    assert len(rows) == 6 == done.rows_total
    totals = [c.value for c in sheet[6 + len(rows)]]
    assert totals[0] == "合计" and totals[3] == sum(r[3] for r in rows)
    assert totals[3] >= 2

    geo = request_export(
        client,
        people,
        "county",
        {"kind": "areas_geojson", "format": "geojson", "level": "township", "language": "en"},
    )
    done = run_here(app, db_session, geo["id"], tmp_path)
    doc = json.loads(export_store.read_all(db_session, done.id).decode("utf-8"))
    assert doc["type"] == "FeatureCollection"
    features = {f["id"]: f for f in doc["features"]}
    assert set(features) == {"991101001", "991101002"}
    first = features["991101001"]
    assert first["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert first["properties"]["level"] == "township"
    assert (
        first["properties"]["reports"] >= 2 and features["991101002"]["properties"]["reports"] >= 1
    )
    assert done.file_name and done.file_name.endswith(".geojson")


def test_the_assessment_export_is_the_kpi_table_of_the_api(
    app: Flask, client: FlaskClient, db_session: Session, people: dict, tmp_path: Path
) -> None:
    """County staff export the townships' assessment (考评表) for this month: every rank,
    count, rate and score in the file is the one GET /api/v1/kpis answers."""
    month = datetime.now(UTC).astimezone(CHINA_TZ).strftime("%Y-%m")
    url = f"/api/v1/kpis?level=township&period={month}"
    # Reports of this month that earlier tests of the session committed (outside any test
    # transaction) are in the table too: it failed on main after tests/e2e and the worker test.
    before = sum(
        a["kpis"]["reports_per_10k"]["numerator"]
        for a in client.get(url, headers=auth(people, "county")).get_json()["rows"]
    )
    for _ in range(2):
        file_report(client, people, "officer_a")
    file_report(client, people, "officer_b")
    job = request_export(
        client, people, "county", {"kind": "assessment", "format": "xlsx", "level": "township"}
    )
    done = run_here(app, db_session, job["id"], tmp_path)
    sheet = openpyxl.load_workbook(
        io.BytesIO(export_store.read_all(db_session, done.id)), data_only=True
    ).active
    assert sheet is not None
    assert "考评" in str(sheet["A1"].value)
    headers = [c.value for c in sheet[5]]
    assert headers[:5] == ["序号", "排名", "区划代码", "区划名称", "上报数"]
    assert {"及时受理率", "按期办结率", "化解率", "群众满意率", "综合得分"} <= set(headers)
    rows = [r for r in sheet.iter_rows(min_row=6, values_only=True) if r[0] != "合计"]

    api = client.get(url, headers=auth(people, "county")).get_json()
    assert [(r[2], r[1]) for r in rows] == [(a["code"], a["rank"]) for a in api["rows"]]
    by_code = {a["code"]: a for a in api["rows"]}
    for row in rows:
        expected = by_code[row[2]]
        record = dict(zip(headers, row, strict=True))
        assert record["上报数"] == expected["kpis"]["reports_per_10k"]["numerator"]
        assert record["综合得分"] == expected["score"]
        assert record["化解率"] == expected["kpis"]["resolution"]["value"]
    assert sum(r[4] for r in rows) == before + 3
    assert done.rows_total == len(rows) == 2


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"kind": "everything", "format": "pdf"}, {"kind", "format"}),
        ({"kind": "cases", "format": "geojson"}, {"format"}),
        ({"kind": "cases", "format": "csv", "colour": "red"}, {"colour"}),
        ({"kind": "cases", "format": "csv", "language": "fr"}, {"language"}),
        ({"kind": "cases", "format": "csv", "level": "village"}, {"level"}),
        ({"kind": "kpis", "format": "csv", "level": "county"}, {"level"}),  # above a township
        ({"kind": "kpis", "format": "csv", "level": "planet"}, {"level"}),
        # A coordinator has no townships or counties below to rank.
        ({"kind": "assessment", "format": "csv"}, {"level"}),
        ({"kind": "assessment", "format": "geojson", "level": "village"}, {"format", "level"}),
        (
            {"kind": "cases", "format": "csv", "filters": {"from": "26/11/2026", "to": "x"}},
            {"filters.from", "filters.to"},
        ),
        (
            {
                "kind": "cases",
                "format": "csv",
                "filters": {"from": "2026-11-30", "to": "2026-11-01"},
            },
            {"filters.to"},
        ),
        (
            {
                "kind": "cases",
                "format": "csv",
                "filters": {"severity": "purple", "status": "lost", "category": "aliens"},
            },
            {"filters.severity", "filters.status", "filters.category"},
        ),
        ({"kind": "cases", "format": "csv", "filters": {"area": "000000"}}, {"filters.area"}),
        ({"kind": "cases", "format": "csv", "filters": {"page": 2}}, {"filters.page"}),
        ({"kind": "cases", "format": "csv", "filters": ["from"]}, {"filters"}),
    ],
)
def test_bad_requests_answer_400_naming_each_field_and_write_nothing(
    client: FlaskClient, db_session: Session, people: dict, body: dict, fields: set[str]
) -> None:
    before = db_session.execute(select(func.count()).select_from(ExportJob)).scalar_one()
    r = client.post("/api/v1/exports", json=body, headers=auth(people, "coord_1"))
    assert r.status_code == 400, r.get_json()
    error = r.get_json()["error"]
    assert error["code"] == "invalid_parameters" and error["message"]
    assert set(error["fields"]) == fields
    assert all(error["fields"].values())
    after = db_session.execute(select(func.count()).select_from(ExportJob)).scalar_one()
    assert after == before


def test_other_refusals_are_4xx_with_a_message_never_500(
    app: Flask, client: FlaskClient, db_session: Session, people: dict
) -> None:
    r = client.post("/api/v1/exports", data="kind=cases", headers=auth(people, "coord_1"))
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "invalid_json"
    r = client.post("/api/v1/exports", json=["cases"], headers=auth(people, "coord_1"))
    assert r.status_code == 400 and r.get_json()["error"]["message"]
    r = client.post("/api/v1/exports", json={"kind": "cases", "format": "csv"})
    assert r.status_code == 401 and r.get_json()["error"]["message"]
    # Officers and department handlers export their cases, not area tables.
    r = client.post(
        "/api/v1/exports",
        json={"kind": "kpis", "format": "csv"},
        headers=auth(people, "officer_a"),
    )
    assert r.status_code == 403 and r.get_json()["error"]["message"]
    assert db_session.execute(select(func.count()).select_from(ExportJob)).scalar_one() == 0
    # Too many at once: 409 with what to do.
    app.config["EXPORT_MAX_ACTIVE"] = 2
    try:
        for _ in range(2):
            request_export(client, people, "coord_2", {"kind": "cases", "format": "csv"})
        r = client.post(
            "/api/v1/exports",
            json={"kind": "cases", "format": "csv"},
            headers=auth(people, "coord_2"),
        )
        assert r.status_code == 409 and "2" in r.get_json()["error"]["message"]
    finally:
        app.config["EXPORT_MAX_ACTIVE"] = 3
    for path in ("/api/v1/exports/not-a-uuid", f"/api/v1/exports/{uuid.uuid4()}/download"):
        r = client.get(path, headers=auth(people, "coord_2"))
        assert r.status_code == 404 and r.get_json()["error"]["message"]


def test_the_request_is_queued_through_the_outbox_and_audited(
    client: FlaskClient, db_session: Session, people: dict
) -> None:
    job = request_export(client, people, "city", {"kind": "cases", "format": "xlsx"})
    message = db_session.execute(
        select(OutboxMessage).where(OutboxMessage.payload["job_id"].astext == job["id"])
    ).scalar_one()
    assert message.task == "workers.tasks.run_export"
    audit = db_session.execute(
        select(AuditEvent).where(AuditEvent.object_id == job["id"])
    ).scalar_one()
    assert audit.action == "export.request" and audit.actor_id == people["city"]["id"]
    # Only the requester sees it; anyone else gets 404, as if it did not exist.
    assert client.get(job["status_url"], headers=auth(people, "city")).status_code == 200
    r = client.get(job["status_url"], headers=auth(people, "county"))
    assert r.status_code == 404
    listed = client.get("/api/v1/exports", headers=auth(people, "city")).get_json()["exports"]
    assert [j["id"] for j in listed][:1] == [job["id"]]
    assert client.get("/api/v1/exports", headers=auth(people, "county")).get_json() == {
        "exports": []
    }


def test_a_second_delivery_does_nothing(
    app: Flask, client: FlaskClient, db_session: Session, people: dict
) -> None:
    job = request_export(client, people, "city", {"kind": "cases", "format": "csv"})
    assert exports.claim(db_session, uuid.UUID(job["id"]), datetime.now(UTC)) is not None
    assert exports.claim(db_session, uuid.UUID(job["id"]), datetime.now(UTC)) is None


def test_the_page_lists_exports_and_requests_one_through_its_form(
    client: FlaskClient, db_session: Session, people: dict
) -> None:
    from tests.integration.test_triage_pages import login
    from tests.support import csrf_token

    r = client.get("/exports/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    login(client, "t_coord_1")
    html = client.get("/exports/").get_data(as_text=True)
    assert "<title>导出" in html and "申请导出" in html and "暂无导出" in html
    r = client.post(
        "/exports/",
        data={
            "kind": "cases",
            "format": "xlsx",
            "from": "2026-11-01",
            "csrf_token": csrf_token(html),
        },
    )
    assert r.status_code == 302
    html = client.get("/exports/").get_data(as_text=True)
    assert "已申请导出" in html and "排队中" in html
    job = db_session.execute(
        select(ExportJob).where(ExportJob.requested_by == people["coord_1"]["id"])
    ).scalar_one()
    assert job.params["filters"] == {"from": "2026-11-01"} and job.params["language"] == "zh"
    # A bad field is shown on the page, not a 500, and writes nothing.
    r = client.post(
        "/exports/",
        data={"kind": "cases", "format": "xlsx", "from": "昨天", "csrf_token": csrf_token(html)},
        follow_redirects=True,
    )
    assert r.status_code == 200 and "请检查导出请求" in r.get_data(as_text=True)
    count = db_session.execute(select(func.count()).select_from(ExportJob)).scalar_one()
    assert count == 1
    # The page's poll reads the list with the session cookie.
    r = client.get("/api/v1/exports")
    assert r.status_code == 200 and r.get_json()["exports"][0]["id"] == str(job.id)


def test_a_case_list_links_to_the_export_of_exactly_its_cases(
    app: Flask, client: FlaskClient, db_session: Session, people: dict, tmp_path: Path
) -> None:
    """/cases (behind a dashboard figure) links to the exports page filled with its filters;
    the export requested from there holds exactly the cases the list counted."""
    from tests.integration.test_triage_pages import login
    from tests.support import csrf_token

    for severity in ("red", "red", "yellow"):
        file_report(client, people, "officer_a", severity=severity)
    today = datetime.now(UTC).astimezone(CHINA_TZ).date().isoformat()
    login(client, "t_coord_1")
    html = client.get(f"/cases?within=991101001&severity=red&from={today}&to={today}").get_data(
        as_text=True
    )
    total = int(re.search(r'data-total="(\d+)"', html).group(1))  # type: ignore[union-attr]
    assert total == 2
    link = re.search(r'<a href="([^"]+)" id="export-list"', html)
    assert link is not None
    form_page = client.get(link.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert f'name="from" value="{today}"' in form_page and 'value="991101001"' in form_page
    assert '<option value="red" selected>' in form_page

    r = client.post(
        "/exports/",
        data={
            "kind": "cases",
            "format": "csv",
            "from": today,
            "to": today,
            "severity": "red",
            "area": "991101001",
            "csrf_token": csrf_token(form_page),
        },
    )
    assert r.status_code == 302
    job = db_session.execute(
        select(ExportJob).where(ExportJob.requested_by == people["coord_1"]["id"])
    ).scalar_one()
    done = run_here(app, db_session, str(job.id), tmp_path)
    assert done.rows_total == total

    # A list an export cannot reproduce (two severities at once) offers no export link.
    r = client.get(f"/cases?within=991101001&severity=red,yellow&from={today}&to={today}")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and 'data-total="3"' in html
    assert 'id="export-list"' not in html
