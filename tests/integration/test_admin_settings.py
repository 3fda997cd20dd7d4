"""Settings without a deploy and the audit log viewer (issue #17 items 4 and 5), against
PostGIS through the Flask test client: who may open each page, versioned deadline policy
(old cases keep their rules), categories retired but kept on old reports, the threshold, the
calendar seeded by the migration, bad input answered 400 with nothing written, and the audit
log's filters, pages and exports."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import openpyxl
import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fieldapp.domain import CHINA_TZ
from fieldapp.models import (
    AppSetting,
    AuditEvent,
    CalendarDay,
    Category,
    DeadlinePolicyVersion,
    Report,
    SettingsRevision,
    User,
)
from fieldapp.services import accounts, settings
from tests.support import PASSWORD, auth, cell_centre
from tests.support import file_via_api as file
from tests.support import sign_in_form as login

pytestmark = pytest.mark.usefixtures("people")

PAGES = (
    "/admin/",
    "/admin/settings",
    "/admin/settings/categories",
    "/admin/settings/deadlines",
    "/admin/settings/calendar",
)
POSTS = (
    ("/admin/settings/threshold", {"group_threshold": "3"}),
    ("/admin/settings/categories", {"code": "pets", "name_zh": "宠物", "name_en": "Pets"}),
    ("/admin/settings/categories/other", {"action": "retire"}),
    ("/admin/settings/deadlines", {"max_extension_days": "10"}),
    ("/admin/settings/calendar", {"day": "2026-12-25", "kind": "holiday", "name": "x"}),
    ("/admin/settings/calendar/2026-10-01/delete", {}),
)


@pytest.fixture(autouse=True)
def fresh_settings_cache() -> Iterator[None]:
    """Each test's settings are rolled back with it: no process cache may outlive them."""
    settings.cache.invalidate()
    yield
    settings.cache.invalidate()


@pytest.fixture
def admin(db_session: Session) -> User:
    return accounts.create_user(
        db_session, username="t_admin", password=PASSWORD, role="admin", display_name="测试管理员"
    )


def post(
    client: FlaskClient, path: str, data: dict[str, str], token: str, expect: int = 302
) -> str:
    r = client.post(
        path, data={**data, "csrf_token": token}, environ_base={"REMOTE_ADDR": "10.1.2.3"}
    )
    assert r.status_code == expect, r.get_data(as_text=True)[:3000]
    return r.get_data(as_text=True)


def policy_form(**overrides: str) -> dict[str, str]:
    form = {}
    for step, defaults in (
        ("acceptance", {"red": ("2", "hours"), "orange": ("24", "hours"), "yellow": ("3", "days")}),
        ("handling", {s: ("15", "days") for s in ("red", "orange", "yellow")}),
    ):
        for severity, (value, unit) in defaults.items():
            form[f"{step}_{severity}_value"] = value
            form[f"{step}_{severity}_unit"] = unit
    form["max_extension_days"] = "30"
    form.update(overrides)
    return form


def accept(client: FlaskClient, people: dict, report_id: str) -> None:
    case = client.get(f"/api/v1/cases/{report_id}", headers=auth(people, "coord_1")).get_json()
    r = client.post(
        f"/api/v1/cases/{report_id}/actions/accept",
        json={"version": case["version"]},
        headers=auth(people, "coord_1"),
    )
    assert r.status_code == 200, r.get_json()


def _row(db_session: Session, report_id: str) -> Report:
    report = db_session.get(Report, uuid.UUID(report_id), populate_existing=True)
    assert report is not None
    return report


# --- who may ---------------------------------------------------------------------------------


def test_signed_out_goes_to_sign_in(client: FlaskClient) -> None:
    for path in (*PAGES, "/admin/audit"):
        r = client.get(path)
        assert r.status_code == 302 and "/login" in r.headers["Location"], path


@pytest.mark.parametrize("who", ["officer_a", "coord_1", "county", "dept"])
def test_other_roles_are_refused_everywhere(
    client: FlaskClient, people: dict, who: str, db_session: Session
) -> None:
    token = login(client, f"t_{who}")
    for path in (*PAGES, "/admin/audit", "/admin/audit/export.csv"):
        assert client.get(path).status_code == 403, path
    before = db_session.execute(select(SettingsRevision.revision)).scalar_one()
    for path, data in POSTS:
        assert client.post(path, data={**data, "csrf_token": token}).status_code == 403, path
    assert db_session.execute(select(SettingsRevision.revision)).scalar_one() == before


def test_city_staff_read_the_audit_log_only(
    client: FlaskClient, people: dict, db_session: Session
) -> None:
    token = login(client, "t_city")
    html = client.get("/admin/audit").get_data(as_text=True)
    assert 'id="audit-rows"' in html
    # Nothing on the page writes (the header's sign-out form aside).
    assert html.count('<form method="post"') == html.count('action="/logout"') == 1
    assert client.get("/admin/audit/export.csv").status_code == 200
    for path in PAGES:
        assert client.get(path).status_code == 403, path
    for path, data in POSTS:
        assert client.post(path, data={**data, "csrf_token": token}).status_code == 403, path


def test_admin_landing_links(client: FlaskClient, admin: User) -> None:
    login(client, "t_admin")
    html = client.get("/admin/").get_data(as_text=True)
    for href in (
        'href="/admin/people"',
        'href="/admin/roster"',
        'href="/admin/settings"',
        'href="/admin/audit"',
    ):
        assert href in html
    assert "系统管理" in html
    assert "Administration" in client.get("/admin/?lang=en").get_data(as_text=True)


# --- the deadline policy ---------------------------------------------------------------------


def test_a_case_keeps_the_policy_version_it_was_given(
    client: FlaskClient, people: dict, admin: User, db_session: Session
) -> None:
    before_any = file(client, people)  # under the configured policy
    assert _row(db_session, before_any["id"]).deadline_policy_version is None

    token = login(client, "t_admin")
    post(
        client,
        "/admin/settings/deadlines",
        policy_form(acceptance_orange_value="48", note="试行"),
        token,
    )
    v1 = db_session.execute(select(func.max(DeadlinePolicyVersion.version))).scalar_one()
    old = file(client, people)
    old_row = _row(db_session, old["id"])
    assert old_row.deadline_policy_version == v1
    assert old_row.due_at - old_row.step_started_at == timedelta(hours=48)

    post(
        client,
        "/admin/settings/deadlines",
        policy_form(acceptance_orange_value="6", handling_orange_value="5", max_extension_days="3"),
        token,
    )
    v2 = v1 + 1
    assert db_session.get(DeadlinePolicyVersion, v2).created_by == admin.id  # type: ignore[union-attr]
    new = file(client, people)
    new_row = _row(db_session, new["id"])
    assert new_row.deadline_policy_version == v2
    assert new_row.due_at - new_row.step_started_at == timedelta(hours=6)

    # The old case's deadline did not move, and its next clock runs on its own version.
    old_row = _row(db_session, old["id"])
    assert old_row.due_at - old_row.step_started_at == timedelta(hours=48)
    accept(client, people, old["id"])
    accept(client, people, new["id"])
    accept(client, people, before_any["id"])
    assert (lambda r: r.due_at - r.step_started_at)(_row(db_session, old["id"])) == timedelta(
        days=15
    )
    assert (lambda r: r.due_at - r.step_started_at)(_row(db_session, new["id"])) == timedelta(
        days=5
    )
    assert (lambda r: r.due_at - r.step_started_at)(
        _row(db_session, before_any["id"])
    ) == timedelta(days=15)

    # The page lists both versions, who saved them and how many cases each was given.
    html = client.get("/admin/settings/deadlines").get_data(as_text=True)
    assert f'id="version-{v1}"' in html and f'id="version-{v2}"' in html and "试行" in html
    audit_rows = (
        db_session.execute(
            select(AuditEvent).where(AuditEvent.action == "settings.deadline_policy")
        )
        .scalars()
        .all()
    )
    assert [(a.actor_id, a.remote_addr) for a in audit_rows] == [(admin.id, "10.1.2.3")] * 2


def test_bad_policy_input_is_a_400_with_every_field_and_writes_nothing(
    client: FlaskClient, admin: User, db_session: Session
) -> None:
    token = login(client, "t_admin")
    revision = db_session.execute(select(SettingsRevision.revision)).scalar_one()
    html = post(
        client,
        "/admin/settings/deadlines",
        policy_form(
            acceptance_red_value="abc", handling_yellow_unit="weeks", max_extension_days="999"
        ),
        token,
        expect=400,
    )
    for name in ("acceptance_red_value", "handling_yellow_unit", "max_extension_days"):
        assert f'id="error-{name}"' in html
    assert 'value="abc"' in html  # what was typed is kept
    post(client, "/admin/settings/deadlines", {}, token, expect=400)  # nothing at all
    assert (
        db_session.execute(select(func.count()).select_from(DeadlinePolicyVersion)).scalar_one()
        == 0
    )
    assert db_session.execute(select(SettingsRevision.revision)).scalar_one() == revision
    assert (
        db_session.execute(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action.startswith("settings."))
        ).scalar_one()
        == 0
    )


# --- categories ------------------------------------------------------------------------------


def test_categories_add_rename_retire_and_old_reports_keep_theirs(
    client: FlaskClient, people: dict, admin: User, db_session: Session
) -> None:
    token = login(client, "t_admin")
    post(
        client,
        "/admin/settings/categories",
        {"code": "pets", "name_zh": "宠物纠纷", "name_en": "Pets"},
        token,
    )
    officer = auth(people, "officer_a")
    codes = [
        c["code"]
        for c in client.get("/api/v1/categories", headers=officer).get_json()["categories"]
    ]
    assert codes[-1] == "pets"
    old = file(client, people, category="pets")

    post(
        client,
        "/admin/settings/categories/pets",
        {"action": "rename", "name_zh": "宠物饲养纠纷", "name_en": "Pet keeping"},
        token,
    )
    post(client, "/admin/settings/categories/pets", {"action": "retire"}, token)
    listed = client.get("/api/v1/categories", headers=officer).get_json()["categories"]
    assert "pets" not in [c["code"] for c in listed]
    # A new report cannot use it: a field message, not a 500.
    lon, lat = cell_centre(0, 0)
    r = client.post(
        "/api/v1/reports",
        json={
            "id": str(uuid.uuid4()),
            "lon": lon,
            "lat": lat,
            "category": "pets",
            "severity": "yellow",
            "people_involved": 1,
            "title": "t",
            "description": "d",
            "occurred_at": datetime.now(UTC).isoformat(),
        },
        headers=officer,
    )
    assert r.status_code == 400 and "category" in r.get_json()["error"]["fields"]
    # The old report still has it, under its new name.
    shown = client.get(f"/api/v1/reports/{old['id']}", headers=officer).get_json()
    assert shown["category"] == "pets"
    assert "宠物饲养纠纷" in str(shown)
    assert db_session.get(Category, "pets") is not None  # never deleted
    page = client.get("/admin/settings/categories").get_data(as_text=True)
    assert 'id="category-pets" class="retired"' in page

    post(client, "/admin/settings/categories/pets", {"action": "reinstate"}, token)
    listed = client.get("/api/v1/categories", headers=officer).get_json()["categories"]
    assert "pets" in [c["code"] for c in listed]
    actions = (
        db_session.execute(
            select(AuditEvent.action)
            .where(AuditEvent.object_type == "category", AuditEvent.object_id == "pets")
            .order_by(AuditEvent.id)
        )
        .scalars()
        .all()
    )
    assert actions == [
        "settings.category_add",
        "settings.category_rename",
        "settings.category_retire",
        "settings.category_reinstate",
    ]


def test_bad_category_input(client: FlaskClient, admin: User, db_session: Session) -> None:
    token = login(client, "t_admin")
    html = post(
        client,
        "/admin/settings/categories",
        {"code": "Neighbours!", "name_zh": "", "name_en": "x"},
        token,
        expect=400,
    )
    assert 'id="error-code"' in html and 'id="error-name_zh"' in html
    html = post(
        client,
        "/admin/settings/categories",
        {"code": "neighbours", "name_zh": "重复", "name_en": "Dup"},
        token,
        expect=400,
    )
    assert 'id="error-code"' in html
    post(client, "/admin/settings/categories/nope", {"action": "retire"}, token, expect=404)
    post(client, "/admin/settings/categories/other", {"action": "explode"}, token, expect=400)
    post(
        client,
        "/admin/settings/categories/other",
        {"action": "rename", "name_zh": "", "name_en": ""},
        token,
        expect=400,
    )
    post(client, "/admin/settings/categories/other", {"action": "reinstate"}, token, expect=409)
    assert db_session.get(Category, "other").name_en != ""  # type: ignore[union-attr]
    assert (
        db_session.execute(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.object_type == "category")
        ).scalar_one()
        == 0
    )


# --- threshold and calendar ------------------------------------------------------------------


def test_group_threshold_applies_to_new_reports(
    client: FlaskClient, people: dict, admin: User, db_session: Session
) -> None:
    three = file(client, people, people_involved=3)
    assert three["potential_group_incident"] is False
    token = login(client, "t_admin")
    post(client, "/admin/settings/threshold", {"group_threshold": "3"}, token)
    assert db_session.get(AppSetting, settings.GROUP_THRESHOLD_KEY).value == 3  # type: ignore[union-attr]
    assert file(client, people, people_involved=3)["potential_group_incident"] is True
    assert file(client, people, people_involved=2)["potential_group_incident"] is False
    html = post(client, "/admin/settings/threshold", {"group_threshold": "1"}, token, expect=400)
    assert 'id="error-group_threshold"' in html
    assert db_session.get(AppSetting, settings.GROUP_THRESHOLD_KEY).value == 3  # type: ignore[union-attr]


def test_the_2026_calendar_is_seeded_and_editable(
    client: FlaskClient, admin: User, db_session: Session
) -> None:
    assert db_session.get(CalendarDay, datetime(2026, 2, 14).date()).kind == "workday"  # type: ignore[union-attr]
    assert db_session.get(CalendarDay, datetime(2026, 10, 7).date()).kind == "holiday"  # type: ignore[union-attr]
    token = login(client, "t_admin")
    html = client.get("/admin/settings/calendar?year=2026").get_data(as_text=True)
    assert 'id="day-2026-09-20"' in html and "国务院办公厅" in html
    post(
        client,
        "/admin/settings/calendar",
        {"day": "2026-12-31", "kind": "holiday", "name": "试验"},
        token,
    )
    post(client, "/admin/settings/calendar/2026-12-31/delete", {}, token)
    assert db_session.get(CalendarDay, datetime(2026, 12, 31).date()) is None
    html = post(
        client,
        "/admin/settings/calendar",
        {"day": "2026-12-30", "kind": "workday", "name": "x"},
        token,
        expect=400,
    )
    assert 'id="error-day"' in html  # a Wednesday is no make-up working day
    post(
        client,
        "/admin/settings/calendar",
        {"day": "31/12/2026", "kind": "holiday", "name": "x"},
        token,
        expect=400,
    )
    post(client, "/admin/settings/calendar/not-a-day/delete", {}, token, expect=404)
    assert client.get("/admin/settings/calendar?year=abc").status_code == 400
    assert client.get("/admin/settings/calendar?year=99999").status_code == 400


def test_working_day_deadlines_use_the_calendar(
    client: FlaskClient, people: dict, admin: User, db_session: Session
) -> None:
    token = login(client, "t_admin")
    post(client, "/admin/settings/deadlines", policy_form(business_days="1"), token)
    policy = settings.current(
        db_session, policy=client.application.config["DEADLINE_POLICY"], threshold=5
    ).policy
    assert policy.business_days
    start = datetime(2026, 9, 30, 2, 0, tzinfo=UTC)
    assert policy.due("acceptance", "yellow", start) == datetime(2026, 10, 10, 2, 0, tzinfo=UTC)


# --- the audit log ---------------------------------------------------------------------------


@pytest.fixture
def audit_rows(db_session: Session, admin: User, people: dict) -> None:
    base = datetime(2026, 11, 30, 16, 30, tzinfo=UTC)  # 2026-12-01 00:30 China time
    officer = people["officer_a"]["id"]
    for i in range(60):
        db_session.add(
            AuditEvent(
                actor_id=officer if i % 2 else admin.id,
                action="case.accept" if i % 3 else "report.create",
                object_type="t_report",  # not what other tests commit
                object_id=f"r-{i}",
                at=base + timedelta(hours=i),
                remote_addr=f"10.0.0.{i}",
                details={"n": i, "note": '=HYPERLINK("x")'},
            )
        )
    db_session.flush()


def _ids(html: str) -> list[str]:
    """The objects of the table's rows, in order."""
    return re.findall(r'data-object="(r-\d+)"', html)


@pytest.mark.usefixtures("audit_rows")
def test_audit_filters_and_pages(client: FlaskClient, admin: User) -> None:
    login(client, "t_admin")
    html = client.get("/admin/audit?object_type=t_report&object_id=r-7").get_data(as_text=True)
    assert (
        _ids(html) == ["r-7"] and "10.0.0.7" in html and "2026-12-01 07:30:00" in html
    )  # China time
    html = client.get(
        "/admin/audit?person=t_officer_a&action=report.create&object_type=t_report"
    ).get_data(as_text=True)
    assert sorted(_ids(html), key=lambda s: int(s[2:])) == [
        f"r-{i}" for i in range(60) if i % 2 and i % 3 == 0
    ]
    html = client.get(
        "/admin/audit?action=case.&from=2026-12-02&to=2026-12-02&object_type=t_report"
    ).get_data(as_text=True)
    # China day 12-02 = rows 24..47; case.* = i % 3 != 0.
    assert sorted(_ids(html), key=lambda s: int(s[2:])) == [
        f"r-{i}" for i in range(24, 48) if i % 3
    ]
    first = client.get("/admin/audit?object_type=t_report").get_data(as_text=True)
    assert len(_ids(first)) == 50 and 'id="next-page"' in first and _ids(first)[0] == "r-59"
    second = client.get("/admin/audit?object_type=t_report&page=2").get_data(as_text=True)
    assert _ids(second) == [f"r-{i}" for i in range(9, -1, -1)] and 'id="next-page"' not in second


@pytest.mark.parametrize(
    "query",
    [
        "from=2026-02-30",
        "to=yesterday",
        "page=0",
        "page=-1",
        "page=abc",
        "person=a%27b",
        "object_id=1",
        "from=2026-12-05&to=2026-12-01",
        "action=" + "x" * 65,
    ],
)
def test_bad_audit_filters_are_400(client: FlaskClient, admin: User, query: str) -> None:
    login(client, "t_admin")
    r = client.get(f"/admin/audit?{query}")
    assert r.status_code == 400, query
    assert 'class="field-error"' in r.get_data(as_text=True)
    assert client.get(f"/admin/audit/export.csv?{query}").status_code == 400


@pytest.mark.usefixtures("audit_rows")
def test_audit_exports(client: FlaskClient, admin: User, db_session: Session) -> None:
    login(client, "t_admin")
    r = client.get("/admin/audit/export.csv?object_type=t_report&action=report.create")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    text = r.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][0] == "时间（北京时间）"
    assert len(rows) == 1 + 20
    assert rows[1][5] == "r-57" and rows[1][6] == "10.0.0.57" and rows[1][0] == "2026-12-03 09:30"
    r = client.get("/admin/audit/export.xlsx?object_type=t_report&object_id=r-3")
    assert r.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(r.data)).active
    values = [c for row in sheet.iter_rows(values_only=True) for c in row if c is not None]
    assert "r-3" in values and "10.0.0.3" in values
    assert client.get("/admin/audit/export.pdf").status_code == 404
    exported = (
        db_session.execute(select(AuditEvent).where(AuditEvent.action == "audit.export"))
        .scalars()
        .all()
    )
    assert [(e.actor_id, e.object_id) for e in exported] == [(admin.id, "csv"), (admin.id, "xlsx")]


def test_settings_changes_show_in_the_audit_log(client: FlaskClient, admin: User) -> None:
    token = login(client, "t_admin")
    post(client, "/admin/settings/threshold", {"group_threshold": "7"}, token)
    html = client.get("/admin/audit?action=settings.").get_data(as_text=True)
    assert "settings.group_threshold" in html and "10.1.2.3" in html and "测试管理员" in html


# --- "from where" ----------------------------------------------------------------------------


def _last_audit(db_session: Session, action: str) -> AuditEvent:
    found = (
        db_session.execute(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id.desc())
        )
        .scalars()
        .first()
    )
    assert found is not None, action
    return found


def test_writes_over_the_api_record_where_they_came_from(
    client: FlaskClient, people: dict, db_session: Session
) -> None:
    """Callers that pass no address (token issue, here) still get the request's."""
    r = client.post(
        "/api/v1/auth/token",
        json={"username": "t_officer_a", "password": PASSWORD, "device": "pytest"},
        environ_base={"REMOTE_ADDR": "192.0.2.44"},
    )
    assert r.status_code in (200, 201), r.get_json()
    assert _last_audit(db_session, "token.issue").remote_addr == "192.0.2.44"
    # Without a trusted proxy, a forged X-Forwarded-For changes nothing.
    client.post(
        "/api/v1/auth/token",
        json={"username": "t_officer_a", "password": PASSWORD, "device": "pytest"},
        headers={"X-Forwarded-For": "203.0.113.9"},
        environ_base={"REMOTE_ADDR": "192.0.2.45"},
    )
    assert _last_audit(db_session, "token.issue").remote_addr == "192.0.2.45"


def test_behind_a_proxy_the_client_address_is_recorded(
    app: Any, people: dict, db_session: Session
) -> None:
    from sqlalchemy.orm import sessionmaker

    from fieldapp import create_app
    from fieldapp.db import db

    proxied = create_app({**app.config, "PROXY_HOPS": 1, "AUTO_START_SERVICES": False})
    db.use_sessionmaker(
        proxied,
        sessionmaker(
            bind=db_session.connection(),
            join_transaction_mode="create_savepoint",
            expire_on_commit=False,
        ),
    )
    r = proxied.test_client().post(
        "/api/v1/auth/token",
        json={"username": "t_officer_a", "password": PASSWORD, "device": "pytest"},
        headers={"X-Forwarded-For": "203.0.113.9"},
        environ_base={"REMOTE_ADDR": "127.0.0.1"},  # nginx on the same host
    )
    assert r.status_code in (200, 201), r.get_json()
    assert _last_audit(db_session, "token.issue").remote_addr == "203.0.113.9"


# --- every process, within the check interval ------------------------------------------------


def test_a_category_retired_by_another_process_is_refused_here_within_the_interval(
    client: FlaskClient, people: dict, db_session: Session
) -> None:
    """Another process retires a category (its write bumps the revision; this process is not
    told). This process keeps accepting it until its next revision check, at most
    SETTINGS_CHECK_SECONDS later, then refuses it."""
    clock = [1000.0]
    saved_clock, saved_interval = settings.cache.clock, settings.cache.check_seconds
    settings.cache.clock, settings.cache.check_seconds = (lambda: clock[0]), 5.0
    try:
        file(client, people, category="traffic")  # this process caches the taxonomy
        db_session.execute(
            Category.__table__.update().where(Category.code == "traffic").values(active=False)
        )
        db_session.execute(
            SettingsRevision.__table__.update().values(revision=SettingsRevision.revision + 1)
        )
        clock[0] += 4.0
        file(client, people, category="traffic")  # not checked yet: still accepted
        clock[0] += 1.5
        lon, lat = cell_centre(0, 0)
        r = client.post(
            "/api/v1/reports",
            json={
                "id": str(uuid.uuid4()),
                "lon": lon,
                "lat": lat,
                "category": "traffic",
                "severity": "yellow",
                "people_involved": 1,
                "title": "t",
                "description": "d",
                "occurred_at": datetime.now(UTC).isoformat(),
            },
            headers=auth(people, "officer_a"),
        )
        assert r.status_code == 400 and "category" in r.get_json()["error"]["fields"]
    finally:
        settings.cache.clock, settings.cache.check_seconds = saved_clock, saved_interval


# --- bad input never answers 500 -------------------------------------------------------------

HOSTILE = [
    "",
    " ",
    "x" * 5000,
    "٣",
    "１２",
    "-1",
    "1e9",
    "NaN",
    "<script>alert(1)</script>",
    "'; DROP TABLE x;--",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_in_every_form_are_4xx_and_write_nothing(
    client: FlaskClient, admin: User, db_session: Session, value: str
) -> None:
    token = login(client, "t_admin")
    revision = db_session.execute(select(SettingsRevision.revision)).scalar_one()
    forms = [
        ("/admin/settings/threshold", {"group_threshold": value}),
        ("/admin/settings/categories", {"code": value, "name_zh": value, "name_en": value}),
        ("/admin/settings/categories/other", {"action": "rename", "name_zh": value, "name_en": ""}),
        ("/admin/settings/categories/other", {"action": value}),
        (f"/admin/settings/categories/{value[:200] or 'x'}", {"action": "retire"}),
        ("/admin/settings/deadlines", policy_form(acceptance_red_value=value)),
        ("/admin/settings/deadlines", policy_form(handling_red_unit=value)),
        ("/admin/settings/calendar", {"day": value, "kind": value, "name": value}),
        (f"/admin/settings/calendar/{value[:200] or 'x'}/delete", {}),
    ]
    for path, data in forms:
        r = client.post(path, data={**data, "csrf_token": token})
        assert 400 <= r.status_code < 500, (path, data, r.status_code)
        assert "<script>alert(1)</script>" not in r.get_data(as_text=True)
    for query in (f"person={value}", f"from={value}", f"page={value}", f"object_type={value}"):
        assert client.get("/admin/audit", query_string=query).status_code in (200, 400)
    assert db_session.execute(select(SettingsRevision.revision)).scalar_one() == revision


def test_nul_in_a_path_is_not_found(client: FlaskClient, admin: User) -> None:
    token = login(client, "t_admin")
    r = client.post(
        "/admin/settings/categories/a%00b", data={"action": "retire", "csrf_token": token}
    )
    assert r.status_code == 404


def test_every_page_in_both_languages(client: FlaskClient, admin: User) -> None:
    login(client, "t_admin")
    expected = {
        "/admin/": ("系统管理", "Administration"),
        "/admin/settings": ("群体性事件人数标准", "Group-incident threshold"),
        "/admin/settings/categories": ("报告类别", "Report categories"),
        "/admin/settings/deadlines": ("办理时限规则", "Deadline policy"),
        "/admin/settings/calendar?year=2026": ("节假日与调休", "Holidays and make-up working days"),
        "/admin/audit": ("审计日志", "Audit log"),
    }
    for path, (zh, en) in expected.items():
        joiner = "&" if "?" in path else "?"  # the choice is remembered: name it each time
        assert zh in client.get(f"{path}{joiner}lang=zh").get_data(as_text=True), path
        assert en in client.get(f"{path}{joiner}lang=en").get_data(as_text=True), path


def _act(
    client: FlaskClient,
    people: dict,
    who: str,
    report_id: str,
    action: str,
    expect: int = 200,
    **body: Any,
) -> dict[str, Any]:
    case = client.get(f"/api/v1/cases/{report_id}", headers=auth(people, who)).get_json()
    r = client.post(
        f"/api/v1/cases/{report_id}/actions/{action}",
        json={"version": case["version"], **body},
        headers=auth(people, who),
    )
    assert r.status_code == expect, r.get_json()
    return dict(r.get_json())


def test_extensions_follow_the_cases_version(
    client: FlaskClient, people: dict, admin: User, db_session: Session
) -> None:
    """A case under a working-days version with at most 12 extension days: the limit and
    the calendar are that version's, even after a later version changes both."""
    token = login(client, "t_admin")
    post(
        client,
        "/admin/settings/deadlines",
        policy_form(business_days="1", max_extension_days="12"),
        token,
    )
    report = file(client, people)
    post(client, "/admin/settings/deadlines", policy_form(max_extension_days="30"), token)
    _act(client, people, "coord_1", report["id"], "accept")
    _act(client, people, "coord_1", report["id"], "assign", department="991101-D01")
    _act(client, people, "dept", report["id"], "sign_for")
    refused = _act(
        client,
        people,
        "dept",
        report["id"],
        "request_extension",
        expect=400,
        reason="需要鉴定",
        days=13,
    )
    assert "days" in refused["error"]["fields"]
    _act(client, people, "dept", report["id"], "request_extension", reason="需要鉴定", days=5)
    before = _row(db_session, report["id"]).due_at
    _act(client, people, "coord_1", report["id"], "approve_extension")
    after = _row(db_session, report["id"]).due_at
    assert before is not None and after is not None
    policy = settings.policy_for_case(
        db_session, _row(db_session, report["id"]), client.application.config["DEADLINE_POLICY"]
    )
    assert policy.business_days and after == policy.add_days(before, 5)
    local = after.astimezone(CHINA_TZ)
    assert policy.is_working_day(local.date())  # never lands on a weekend or holiday
    assert after - before >= timedelta(days=5)
