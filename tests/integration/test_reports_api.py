"""The officers' API against real PostGIS: tokens, intake, idempotency, validation, scoping,
photos, check-ins."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import func, inspect, select, text
from sqlalchemy.orm import Session

from fieldapp.models import AuditEvent, Cell, OutboxMessage, Photo, Report, ReportParty, User
from grid import crs
from tests.support import PASSWORD, auth, cell_centre, file_via_api

pytestmark = pytest.mark.usefixtures("people")


def report_body(**overrides: Any) -> dict[str, Any]:
    lon, lat = cell_centre(0, 0)
    body: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "lon": lon,
        "lat": lat,
        "accuracy_m": 8.5,
        "occurred_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "category": "neighbours",
        "severity": "orange",
        "people_involved": 3,
        "title": "邻里因排水沟堵塞争执",
        "description": "两户因排水沟堵塞发生口角，已初步劝解。",
        "address": "测试社区3号楼",
        "parties": [
            {
                "name": "张三",
                "id_number": "371102199001011234",
                "phone": "13812345678",
                "role": "当事人",
            },
            {"name": "李四"},
        ],
    }
    body.update(overrides)
    return body


def count(session: Session, model: Any) -> int:
    return int(session.execute(select(func.count()).select_from(model)).scalar_one())


# --- tokens ---------------------------------------------------------------------------------


def test_token_sign_in_and_wrong_password(client: FlaskClient, people: dict) -> None:
    ok = client.post(
        "/api/v1/auth/token",
        json={"username": "t_officer_a", "password": PASSWORD, "device": "phone"},
    )
    assert ok.status_code == 201
    token = ok.get_json()["token"]
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    bad = client.post("/api/v1/auth/token", json={"username": "t_officer_a", "password": "nope"})
    assert bad.status_code == 401
    assert bad.get_json()["error"]["code"] == "unauthorized"
    missing = client.post("/api/v1/auth/token", json={"username": "t_officer_a"})
    assert missing.status_code == 400 and "password" in missing.get_json()["error"]["fields"]


def test_sign_in_is_rate_limited_after_five_failures(client: FlaskClient) -> None:
    for _ in range(5):
        r = client.post("/api/v1/auth/token", json={"username": "t_officer_b", "password": "x"})
        assert r.status_code == 401
    # Even the right password is refused now: guessing must not continue.
    r = client.post("/api/v1/auth/token", json={"username": "t_officer_b", "password": PASSWORD})
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) > 0


def test_revoked_and_unknown_tokens_are_refused(client: FlaskClient) -> None:
    token = client.post(
        "/api/v1/auth/token", json={"username": "t_coord_1", "password": PASSWORD}
    ).get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.delete("/api/v1/auth/token", headers=headers).status_code == 204
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    assert client.get("/api/v1/me").status_code == 401
    r = client.get("/api/v1/me", headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401 and r.get_json()["error"]["code"] == "unauthorized"


def test_a_token_gives_its_user_as_a_clean_persistent_object(
    app: Flask, db_session: Session, people: dict
) -> None:
    """user_for_token reads the row directly: the User must still behave as one a query
    loaded (in the session, clean, changes flushed), and the token rules must hold."""
    from fieldapp.services import accounts

    now = datetime.now(UTC)
    token = str(people["officer_b"]["token"])
    with app.app_context():
        found = accounts.user_for_token(db_session, token, now)
        assert found is not None
        user, token_id = found.user, found.token_id
        assert user.username == "t_officer_b" and user.role == "officer" and user.active
        assert inspect(user).persistent and user in db_session and not db_session.dirty
        assert db_session.get(User, user.id) is user
        again = accounts.user_for_token(db_session, token, now)
        assert again is not None and again.user is user and again.token_id == token_id

        user.display_name = "改名测试"
        db_session.flush()
        stored = db_session.execute(
            text("SELECT display_name FROM users WHERE id = :id"), {"id": user.id}
        ).scalar_one()
        assert stored == "改名测试"

        later = now + accounts.TOKEN_LIFETIME + timedelta(seconds=1)
        assert accounts.user_for_token(db_session, token, later) is None
        user.active = False
        db_session.flush()
        assert accounts.user_for_token(db_session, token, now) is None
        assert accounts.user_for_token(db_session, "not-a-token", now) is None


def test_me_lists_the_officers_cells(client: FlaskClient, people: dict) -> None:
    me = client.get("/api/v1/me", headers=auth(people, "officer_a")).get_json()
    assert [c["code"] for c in me["cells"]] == ["991101001001001", "991101001001002"]
    assert me["cells"][0]["township"]["code"] == "991101001"


def test_categories_in_chinese_and_english(client: FlaskClient, people: dict) -> None:
    zh = client.get("/api/v1/categories").get_json()["categories"]
    assert {"code": "neighbours", "name": "邻里纠纷"} in zh and len(zh) == 17
    en = client.get("/api/v1/categories?lang=en").get_json()["categories"]
    assert {"code": "neighbours", "name": "Neighbours"} in en


# --- intake ---------------------------------------------------------------------------------


def test_a_report_is_filed_located_and_audited(
    client: FlaskClient, people: dict, db_session: Session
) -> None:
    body = report_body()
    r = client.post("/api/v1/reports", json=body, headers=auth(people, "officer_a"))
    assert r.status_code == 201, r.get_json()
    report = r.get_json()
    assert report["id"] == body["id"] and report["status"] == "reported"
    assert report["cell"]["code"] == "991101001001001"
    assert report["township"]["code"] == "991101001"
    assert report["outside_own_cells"] is False and report["distance_to_own_cells_m"] == 0
    assert report["category_name"] == "邻里纠纷"
    assert report["parties"][0]["id_number"] == "371102199001011234"  # the officer sees it
    stored = db_session.get(Report, uuid.UUID(body["id"]))
    assert stored is not None and stored.county_id is not None
    assert count(db_session, ReportParty) >= 2
    assert (
        db_session.execute(
            select(OutboxMessage).where(OutboxMessage.payload["report_id"].astext == body["id"])
        )
        .scalar_one()
        .task
        == "workers.tasks.process_report"
    )
    assert (
        db_session.execute(select(AuditEvent).where(AuditEvent.object_id == body["id"]))
        .scalar_one()
        .action
        == "report.create"
    )


def test_a_report_lands_in_the_current_cells_when_this_process_knew_older_boundaries(
    client: FlaskClient, people: dict, db_session: Session
) -> None:
    """Intake locates in the process's snapshot of the cells and its write checks the
    boundary version: after an import that moved the cells, the report goes by the new ones."""
    from grid import queries

    point = cell_centre(0, 0)
    first = client.post("/api/v1/reports", json=report_body(), headers=auth(people, "officer_a"))
    assert first.get_json()["cell"]["code"] == "991101001001001"  # the snapshot knows (0, 0)
    # An import swaps the shapes of two cells and records a new version.
    a, b = (
        db_session.execute(select(Cell).where(Cell.code == code)).scalar_one()
        for code in ("991101001001001", "991101002001001")
    )
    a.geom, b.geom = b.geom, a.geom
    db_session.flush()
    queries.record_version(db_session, "test", "swap two cells")
    body = {**report_body(), "lon": point[0], "lat": point[1]}
    moved = client.post("/api/v1/reports", json=body, headers=auth(people, "officer_a"))
    assert moved.status_code == 201, moved.get_json()
    assert moved.get_json()["cell"]["code"] == "991101002001001"
    assert moved.get_json()["township"]["code"] == "991101002"
    stored = db_session.get(Report, uuid.UUID(body["id"]))
    assert stored is not None and stored.cell_id == b.id and stored.outside_own_cells


def test_boundaries_changing_under_every_attempt_get_a_503_and_nothing_written(
    client: FlaskClient, people: dict, db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fieldapp.services import geography, reports

    real = geography.cell_snapshot(db_session)
    stale = geography.CellSnapshot(real.version - 1, real.index, real.locations)
    monkeypatch.setattr(reports.geography, "cell_snapshot", lambda *_a, **_k: stale)
    body = report_body()
    r = client.post("/api/v1/reports", json=body, headers=auth(people, "officer_a"))
    assert r.status_code == 503 and r.get_json()["error"]["code"] == "try_again"
    assert db_session.get(Report, uuid.UUID(body["id"])) is None
    assert not db_session.execute(
        select(AuditEvent).where(AuditEvent.object_id == body["id"])
    ).first()


def test_same_id_same_body_is_the_same_answer_and_different_body_conflicts(
    client: FlaskClient, people: dict, db_session: Session
) -> None:
    body = report_body()
    first = client.post("/api/v1/reports", json=body, headers=auth(people, "officer_a"))
    again = client.post("/api/v1/reports", json=body, headers=auth(people, "officer_a"))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() == first.get_json()
    changed = client.post(
        "/api/v1/reports", json={**body, "title": "另一件事"}, headers=auth(people, "officer_a")
    )
    assert changed.status_code == 409
    other_officer = client.post("/api/v1/reports", json=body, headers=auth(people, "officer_b"))
    assert other_officer.status_code == 409
    assert (
        db_session.execute(
            select(func.count()).where(Report.id == uuid.UUID(body["id"]))
        ).scalar_one()
        == 1
    )


def test_outside_own_cells_is_accepted_and_flagged_with_distance(
    client: FlaskClient, people: dict
) -> None:
    lon, lat = cell_centre(3, 4)  # a cell of the same township, not officer A's
    r = client.post(
        "/api/v1/reports", json=report_body(lon=lon, lat=lat), headers=auth(people, "officer_a")
    )
    assert r.status_code == 201
    report = r.get_json()
    assert report["outside_own_cells"] is True
    assert 1_000 < report["distance_to_own_cells_m"] < 6_000


def test_outside_the_city_is_refused_and_nothing_is_written(
    client: FlaskClient, people: dict, db_session: Session
) -> None:
    before = count(db_session, Report)
    r = client.post(
        "/api/v1/reports", json=report_body(lon=119.2, lat=35.3), headers=auth(people, "officer_a")
    )
    assert r.status_code == 422
    error = r.get_json()["error"]
    assert error["code"] == "outside_city" and "公里" in error["message"]
    assert count(db_session, Report) == before


def test_gcj02_input_is_converted_and_the_original_kept(client: FlaskClient, people: dict) -> None:
    wgs = cell_centre(0, 0)
    gcj = crs.from_wgs84(*wgs, "gcj02")
    r = client.post(
        "/api/v1/reports",
        json=report_body(lon=gcj[0], lat=gcj[1], crs="gcj02"),
        headers=auth(people, "officer_a"),
    )
    report = r.get_json()
    assert report["cell"]["code"] == "991101001001001"
    assert report["lon"] == pytest.approx(wgs[0], abs=1e-7)
    assert report["input"] == {"lon": gcj[0], "lat": gcj[1], "crs": "gcj02"}


def test_group_incident_threshold(client: FlaskClient, people: dict) -> None:
    r = client.post(
        "/api/v1/reports", json=report_body(people_involved=5), headers=auth(people, "officer_a")
    )
    assert r.get_json()["potential_group_incident"] is True


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"id": "not-a-uuid"}, "id"),
        ({"lon": "119.5"}, "lon"),
        ({"lon": True}, "lon"),
        ({"lat": 91}, "lat"),
        ({"lon": -181}, "lon"),
        ({"crs": "utm"}, "crs"),
        ({"accuracy_m": -1}, "accuracy_m"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"occurred_at": (datetime.now(UTC) + timedelta(hours=2)).isoformat()}, "occurred_at"),
        ({"category": "aliens"}, "category"),
        ({"severity": "purple"}, "severity"),
        ({"people_involved": -3}, "people_involved"),
        ({"people_involved": 0}, "people_involved"),  # a dispute involves someone (#14)
        ({"people_involved": 2.5}, "people_involved"),
        ({"title": ""}, "title"),
        ({"title": "长" * 101}, "title"),
        ({"description": "x" * 2001}, "description"),
        ({"address": 42}, "address"),
        ({"parties": "张三"}, "parties"),
        ({"parties": [{"name": "张三", "id_number": "12345"}]}, "parties[0].id_number"),
        ({"parties": [{"phone": "138"}]}, "parties[0].name"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_each_bad_field_gets_a_400_naming_it_and_nothing_is_written(
    client: FlaskClient, people: dict, db_session: Session, overrides: dict, field: str
) -> None:
    before = (count(db_session, Report), count(db_session, OutboxMessage))
    r = client.post(
        "/api/v1/reports", json=report_body(**overrides), headers=auth(people, "officer_a")
    )
    assert r.status_code == 400, r.get_json()
    error = r.get_json()["error"]
    assert error["code"] == "invalid_report" and field in error["fields"], error
    assert (count(db_session, Report), count(db_session, OutboxMessage)) == before


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b'{"lon": NaN}',
        b'{"lon": Infinity, "lat": 35}',
        b"[1, 2, 3]",
        b'"a string"',
        b"",
    ],
)
def test_malformed_bodies_are_4xx_never_500(client: FlaskClient, people: dict, raw: bytes) -> None:
    r = client.post(
        "/api/v1/reports",
        data=raw,
        content_type="application/json",
        headers=auth(people, "officer_a"),
    )
    assert r.status_code == 400
    assert r.get_json()["error"]["message"]


def test_nan_coordinate_is_named(client: FlaskClient, people: dict) -> None:
    body = report_body()
    body.update(lon=0.0, lat=35.3, category="other", severity="red")
    raw = json.dumps(body).replace('"lon": 0.0', '"lon": NaN')
    assert "NaN" in raw
    r = client.post(
        "/api/v1/reports",
        data=raw,
        content_type="application/json",
        headers=auth(people, "officer_a"),
    )
    assert r.status_code == 400 and "lon" in r.get_json()["error"]["fields"]


def test_only_officers_file_reports(client: FlaskClient, people: dict) -> None:
    r = client.post("/api/v1/reports", json=report_body(), headers=auth(people, "coord_1"))
    assert r.status_code == 403


# --- reading and scoping ----------------------------------------------------------------------


def _file(client: FlaskClient, people: dict, who: str, i: int, j: int, **kw: Any) -> str:
    lon, lat = cell_centre(i, j)
    return str(file_via_api(client, people, who, **report_body(lon=lon, lat=lat, **kw))["id"])


def test_every_read_is_scoped_by_role_and_area(client: FlaskClient, people: dict) -> None:
    a = _file(client, people, "officer_a", 0, 0)  # township 1
    b = _file(client, people, "officer_b", 4, 0)  # township 2
    visible = {
        "officer_a": {a},
        "officer_b": {b},
        "coord_1": {a},
        "coord_2": {b},
        "county": {a, b},
        "city": {a, b},
    }
    for who, expected in visible.items():
        listed = client.get("/api/v1/reports?per_page=100", headers=auth(people, who)).get_json()
        ids = {item["id"] for item in listed["items"]}
        assert expected <= ids, who
        assert not ({a, b} - expected) & ids, who
        for report_id in (a, b):
            status = client.get(f"/api/v1/reports/{report_id}", headers=auth(people, who))
            assert status.status_code == (200 if report_id in expected else 404), (who, report_id)
            photo = client.get(
                f"/api/v1/reports/{report_id}/photos/{uuid.uuid4()}", headers=auth(people, who)
            )
            assert photo.status_code == 404


def test_parties_are_masked_for_roles_that_do_not_handle_the_case(
    client: FlaskClient, people: dict
) -> None:
    report_id = _file(client, people, "officer_a", 0, 0)
    coordinator = client.get(f"/api/v1/reports/{report_id}", headers=auth(people, "coord_1"))
    city = client.get(f"/api/v1/reports/{report_id}", headers=auth(people, "city"))
    assert coordinator.get_json()["parties"][0]["phone"] == "13812345678"
    masked = city.get_json()["parties"][0]
    assert masked == {
        "name": "张*",
        "id_number": "371102********1234",
        "phone": "138****5678",
        "role": "当事人",
    }


def test_list_filters_and_pagination(client: FlaskClient, people: dict) -> None:
    for severity in ("red", "red", "yellow"):
        _file(client, people, "officer_a", 1, 0, severity=severity)
    red = client.get("/api/v1/reports?severity=red&per_page=1", headers=auth(people, "officer_a"))
    body = red.get_json()
    assert body["total"] >= 2 and len(body["items"]) == 1 and body["per_page"] == 1
    assert all(item["severity"] == "red" for item in body["items"])
    page2 = client.get(
        "/api/v1/reports?severity=red&per_page=1&page=2", headers=auth(people, "officer_a")
    ).get_json()
    assert page2["items"][0]["id"] != body["items"][0]["id"]
    bad = client.get(
        "/api/v1/reports?per_page=1000&from=someday", headers=auth(people, "officer_a")
    )
    assert bad.status_code == 400
    assert {"per_page", "from"} <= set(bad.get_json()["error"]["fields"])
    assert "2026-11-25" in bad.get_json()["error"]["fields"]["from"]  # the form it wants


# --- photos ---------------------------------------------------------------------------------


def _jpeg(colour: str = "red", size: tuple[int, int] = (640, 480)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG")
    return buffer.getvalue()


def test_photo_upload_is_sniffed_idempotent_and_thumbnailed_by_the_task(
    client: FlaskClient, people: dict, db_session: Session, app: Any
) -> None:
    report_id = _file(client, people, "officer_a", 0, 0)
    url = f"/api/v1/reports/{report_id}/photos"
    headers = auth(people, "officer_a")
    first = client.post(url, data={"photo": (io.BytesIO(_jpeg()), "x.png")}, headers=headers)
    assert first.status_code == 201, first.get_json()
    photo = first.get_json()
    assert photo["content_type"] == "image/jpeg" and photo["width"] == 640
    again = client.post(url, data={"photo": (io.BytesIO(_jpeg()), "y.jpg")}, headers=headers)
    assert again.status_code == 200 and again.get_json()["id"] == photo["id"]
    assert client.get(photo["url"], headers=headers).data == _jpeg()
    assert client.get(f"{photo['url']}/thumbnail", headers=headers).status_code == 404

    message = db_session.execute(
        select(OutboxMessage).where(OutboxMessage.payload["photo_id"].astext == photo["id"])
    ).scalar_one()
    from workers.tasks import make_thumbnail

    with app.app_context():
        assert make_thumbnail.run(outbox_id=message.id, photo_id=photo["id"]) is True
        assert make_thumbnail.run(outbox_id=message.id, photo_id=photo["id"]) is False
    thumb = client.get(f"{photo['url']}/thumbnail", headers=headers)
    assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
    assert max(Image.open(io.BytesIO(thumb.data)).size) <= 320
    listed = client.get(f"/api/v1/reports/{report_id}", headers=headers).get_json()
    assert listed["photos"][0]["thumbnail_url"].endswith("/thumbnail")


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"%PDF-1.7 not a photo", "not_an_image"),
        (b"", "empty"),
    ],
)
def test_bad_photos_are_refused(
    client: FlaskClient, people: dict, db_session: Session, payload: bytes, code: str
) -> None:
    report_id = _file(client, people, "officer_a", 0, 0)
    before = count(db_session, Photo)
    r = client.post(
        f"/api/v1/reports/{report_id}/photos",
        data={"photo": (io.BytesIO(payload), "photo.jpg")},
        headers=auth(people, "officer_a"),
    )
    assert r.status_code == 400
    assert r.get_json()["error"]["code"] == code and "photo" in r.get_json()["error"]["fields"]
    assert count(db_session, Photo) == before


def test_too_big_photo_is_refused(
    client: FlaskClient, people: dict, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    report_id = _file(client, people, "officer_a", 0, 0)
    monkeypatch.setitem(app.config, "MAX_PHOTO_BYTES", 10_000)
    r = client.post(
        f"/api/v1/reports/{report_id}/photos",
        data={"photo": (io.BytesIO(_jpeg(size=(2000, 2000))), "big.jpg")},
        headers=auth(people, "officer_a"),
    )
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "too_large"


def test_photo_needs_the_field_and_the_reporting_officer(client: FlaskClient, people: dict) -> None:
    report_id = _file(client, people, "officer_a", 0, 0)
    url = f"/api/v1/reports/{report_id}/photos"
    assert client.post(url, data={}, headers=auth(people, "officer_a")).status_code == 400
    other = client.post(
        url, data={"photo": (io.BytesIO(_jpeg()), "p.jpg")}, headers=auth(people, "coord_1")
    )
    assert other.status_code == 403


# --- check-ins ------------------------------------------------------------------------------


def test_daily_checkin_is_idempotent_and_validated(client: FlaskClient, people: dict) -> None:
    headers = auth(people, "officer_a")
    today = datetime.now(UTC).astimezone().date().isoformat()
    first = client.post("/api/v1/checkins", json={"nothing_to_report": True}, headers=headers)
    assert first.status_code in (200, 201)
    day = first.get_json()["date"]
    again = client.post(
        "/api/v1/checkins",
        json={"date": day, "nothing_to_report": False, "count": 2},
        headers=headers,
    )
    assert again.status_code == 200 and again.get_json()["count"] == 2
    assert today  # the server decides "today" in China time; any answer above is that day
    future = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    bad = client.post(
        "/api/v1/checkins",
        json={"date": future, "nothing_to_report": "yes", "count": -1},
        headers=headers,
    )
    assert bad.status_code == 400
    assert {"date", "nothing_to_report", "count"} <= set(bad.get_json()["error"]["fields"])
    coordinator = client.post(
        "/api/v1/checkins", json={"nothing_to_report": True}, headers=auth(people, "coord_1")
    )
    assert coordinator.status_code == 403
