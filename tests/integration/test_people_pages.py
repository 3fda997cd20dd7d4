"""The people pages and the roster import page through the real Flask client: scope (county
staff see and change only their county's people; other roles are refused), every change
audited, the import page's problems, result and one-time password sheet."""

from __future__ import annotations

import io
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, box
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fieldapp.models import ApiToken, Area, AuditEvent, Cell, OfficerCell, User
from fieldapp.roster_file import parse, read_table
from fieldapp.services import accounts
from tests.integration.roster_support import HEADER, csrf, csv_bytes, sign_in
from tests.support import PASSWORD

pytestmark = pytest.mark.usefixtures("people")


@pytest.fixture
def other_county(db_session: Session) -> dict[str, int]:
    """A second county with one cell and one officer, outside t_county's area."""
    geom = from_shape(MultiPolygon([box(119.0, 35.0, 119.01, 35.01)]), srid=4326)
    city_id = db_session.execute(select(Area.id).where(Area.code == "991100")).scalar_one()
    county = Area(code="991102", name="他区", level="county", parent_id=city_id, geom=geom)
    db_session.add(county)
    db_session.flush()
    township = Area(
        code="991102001", name="他街道", level="township", parent_id=county.id, geom=geom
    )
    db_session.add(township)
    db_session.flush()
    village = Area(
        code="991102001001", name="他社区", level="village", parent_id=township.id, geom=geom
    )
    db_session.add(village)
    db_session.flush()
    cell = Cell(
        code="991102001001001",
        name="他网格",
        village_id=village.id,
        township_id=township.id,
        county_id=county.id,
        city_id=city_id,
        geom=geom,
    )
    db_session.add(cell)
    db_session.flush()
    officer = accounts.create_user(
        db_session,
        username="t_far_officer",
        password=PASSWORD,
        role="officer",
        display_name="远方网格员",
        cell_codes=["991102001001001"],
    )
    admin = accounts.create_user(
        db_session, username="t_admin", password=PASSWORD, role="admin", display_name="管理员甲"
    )
    db_session.flush()
    return {"officer": officer.id, "admin": admin.id, "cell": cell.id}


def _client(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    sign_in(client, username, PASSWORD)
    return client


def _id(session: Session, username: str) -> int:
    return session.execute(select(User.id).where(User.username == username)).scalar_one()


def test_county_staff_see_only_their_county(
    app: Flask, db_session: Session, other_county: dict[str, int]
) -> None:
    county = _client(app, "t_county")
    page = county.get("/admin/people").get_data(as_text=True)
    assert "t_officer_a" in page and "t_coord_1" in page and "t_dept" in page
    assert "t_far_officer" not in page and "t_city" not in page and "t_admin" not in page
    assert county.get(f"/admin/people/{other_county['officer']}").status_code == 404
    token = csrf(county, "/account")
    for action in ("password", "revoke", "active", "cells"):
        r = county.post(
            f"/admin/people/{other_county['officer']}/{action}", data={"csrf_token": token}
        )
        assert r.status_code == 404, action
    assert county.get(f"/admin/people/{_id(db_session, 't_city')}").status_code == 404
    # Found by cell code, name and phone fragment
    by_cell = county.get("/admin/people?q=991101002001001").get_data(as_text=True)
    assert "t_officer_b" in by_cell and "t_officer_a" not in by_cell
    admin = _client(app, "t_admin")
    assert "t_far_officer" in admin.get("/admin/people?q=远方").get_data(as_text=True)


@pytest.mark.parametrize("who", ["t_officer_a", "t_coord_1", "t_city", "t_dept"])
def test_other_roles_are_refused(app: Flask, db_session: Session, who: str) -> None:
    client = _client(app, who)
    for path in (
        "/admin/people",
        f"/admin/people/{_id(db_session, 't_officer_b')}",
        "/admin/roster",
        "/admin/roster/template.xlsx",
    ):
        assert client.get(path).status_code == 403, (who, path)
    r = client.post("/admin/roster", data={"csrf_token": csrf(client, "/account")})
    assert r.status_code == 403


def test_county_cannot_import_the_roster(app: Flask, db_session: Session) -> None:
    assert _client(app, "t_county").get("/admin/roster").status_code == 403


def test_reset_password_move_cells_revoke_deactivate_are_audited(
    app: Flask, db_session: Session
) -> None:
    county = _client(app, "t_county")
    officer_id = _id(db_session, "t_officer_b")
    token = csrf(county, "/account")
    officer_client = _client(app, "t_officer_b")
    reset = county.post(f"/admin/people/{officer_id}/password", data={"csrf_token": token})
    assert reset.status_code == 200
    password = re.search(r'class="password">([^<]+)<', reset.get_data(as_text=True))
    assert password
    assert officer_client.get("/account").status_code == 302  # signed out by the reset
    fresh = app.test_client()
    sign_in(fresh, "t_officer_b", password.group(1))
    assert fresh.get("/field/").headers["Location"].endswith("/account")  # must change first

    moved = county.post(
        f"/admin/people/{officer_id}/cells",
        data={"csrf_token": token, "cells": "991101002002001；991101002002002"},
    )
    assert moved.status_code == 302
    cells = set(
        db_session.execute(
            select(Cell.code)
            .join(OfficerCell, OfficerCell.cell_id == Cell.id)
            .where(OfficerCell.user_id == officer_id)
        ).scalars()
    )
    assert cells == {"991101002002001", "991101002002002"}
    two = county.post(
        f"/admin/people/{officer_id}/cells",
        data={"csrf_token": token, "cells": "991101001002001；991101002002002"},
    )
    assert two.status_code == 400 and "不同乡镇" in two.get_data(as_text=True)
    unknown = county.post(
        f"/admin/people/{officer_id}/cells", data={"csrf_token": token, "cells": "nope"}
    )
    assert unknown.status_code == 400

    user = db_session.get(User, officer_id)
    assert user is not None
    from datetime import UTC, datetime

    accounts.issue_token(db_session, user, "phone", datetime.now(UTC))
    db_session.flush()
    assert (
        county.post(f"/admin/people/{officer_id}/revoke", data={"csrf_token": token}).status_code
        == 302
    )
    live = db_session.execute(
        select(func.count()).where(ApiToken.user_id == officer_id, ApiToken.revoked_at.is_(None))
    ).scalar()
    assert live == 0
    off = county.post(
        f"/admin/people/{officer_id}/active", data={"csrf_token": token, "active": "0"}
    )
    assert off.status_code == 302
    db_session.expire_all()
    assert not db_session.get(User, officer_id).active  # type: ignore[union-attr]
    actions = set(
        db_session.execute(
            select(AuditEvent.action).where(
                AuditEvent.object_id == str(officer_id),
                AuditEvent.actor_id == _id(db_session, "t_county"),
            )
        ).scalars()
    )
    assert {"user.password_reset", "user.cells", "token.revoke_all", "user.deactivate"} <= actions
    person = county.get(f"/admin/people/{officer_id}").get_data(as_text=True)
    assert "已停用" in person


def test_roster_page_problems_result_and_password_sheet(
    app: Flask, db_session: Session, other_county: dict[str, int]
) -> None:
    admin = _client(app, "t_admin")
    page = admin.get("/admin/roster")
    assert page.status_code == 200 and "花名册" in page.get_data(as_text=True)
    template = admin.get("/admin/roster/template.xlsx")
    assert template.status_code == 200
    assert parse(read_table(template.data, "t.xlsx")).problems == []
    token = csrf(admin, "/admin/roster")
    bad = csv_bytes("甲,1234,网格员,991101001003001,,,,", "乙,13700000002,网格员,nope,,,,")
    r = admin.post(
        "/admin/roster",
        data={"csrf_token": token, "file": (io.BytesIO(bad), "花名册.csv")},
        content_type="multipart/form-data",
    )
    text = r.get_data(as_text=True)
    assert (
        r.status_code == 400
        and "发现 2 个问题" in text
        and "不是手机号" in text
        and "没有这个网格编码" in text
    )
    good = csv_bytes(
        "甲,13700000001,网格员,991101001003001,,,,", "乙,13700000002,信访专干,,991101002,,,"
    )
    r = admin.post(
        "/admin/roster",
        data={"csrf_token": token, "file": (io.BytesIO(good), "花名册.csv")},
        content_type="multipart/form-data",
    )
    text = r.get_data(as_text=True)
    assert r.status_code == 200 and "导入完成：2 项改动" in text
    assert text.count('class="password"') == 2 and "data:application/vnd.openxmlformats" in text
    again = admin.post(
        "/admin/roster",
        data={"csrf_token": token, "file": (io.BytesIO(good), "花名册.csv")},
        content_type="multipart/form-data",
    )
    assert "导入完成：0 项改动" in again.get_data(as_text=True)
    empty = admin.post(
        "/admin/roster", data={"csrf_token": token}, content_type="multipart/form-data"
    )
    assert empty.status_code == 400
    junk = admin.post(
        "/admin/roster",
        data={"csrf_token": token, "file": (io.BytesIO(b"PK\x03\x04junk"), "x.xlsx")},
        content_type="multipart/form-data",
    )
    assert junk.status_code == 400 and "无法读取" in junk.get_data(as_text=True)
    assert HEADER  # the header the files above use


def test_hostile_ids_and_files_get_4xx(
    app: Flask, db_session: Session, other_county: dict[str, int]
) -> None:
    admin = _client(app, "t_admin")
    token = csrf(admin, "/account")
    huge = 2**70
    assert admin.get(f"/admin/people/{huge}").status_code == 404
    assert (
        admin.post(f"/admin/people/{huge}/password", data={"csrf_token": token}).status_code == 404
    )
    assert (
        admin.post(f"/account/devices/{huge}/revoke", data={"csrf_token": token}).status_code == 404
    )
    assert (
        admin.post(f"/account/sessions/{huge}/end", data={"csrf_token": token}).status_code == 404
    )
    too_big_field = csv_bytes("甲," + "1" * 200_000 + ",网格员,991101001003001,,,,")
    r = admin.post(
        "/admin/roster",
        data={"csrf_token": token, "file": (io.BytesIO(too_big_field), "r.csv")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 400 and "无法读取" in r.get_data(as_text=True)
    myself = admin.post(
        f"/admin/people/{other_county['admin']}/active", data={"csrf_token": token, "active": "0"}
    )
    assert myself.status_code == 400


def test_pages_in_english(app: Flask, db_session: Session, other_county: dict[str, int]) -> None:
    admin = _client(app, "t_admin")
    assert "Roster import" in admin.get("/admin/roster?lang=en").get_data(as_text=True)
    assert "Change password" in admin.get("/account?lang=en").get_data(as_text=True)
    person = admin.get(f"/admin/people/{other_county['officer']}?lang=en").get_data(as_text=True)
    assert "Move to these cells" in person and "Grid officer" in person
