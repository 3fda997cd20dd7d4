"""Hotspot alerts against PostGIS on the 48-cell test city: the daily counts, a recomputation
that finds a planted cluster, a second run that changes nothing, acknowledging and
supervising (督办) through the API, who may see what, and the JSON the map page reads."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from fieldapp import create_app
from fieldapp.db import db
from fieldapp.domain import CHINA_TZ
from fieldapp.models import (
    Area,
    AuditEvent,
    CaseEvent,
    HotspotAlert,
    Notification,
    OutboxMessage,
    Report,
    SupervisionOrder,
    User,
)
from fieldapp.services import accounts, hotspots
from fieldapp.services.errors import Forbidden, NotFound
from fieldapp.stats import day_start
from maps.hotspots import Pattern
from tests.support import PASSWORD, ROWS, auth, sign_in_cookie, small_city

pytestmark = pytest.mark.usefixtures("people")

# Far from the real clock, so reports other tests commit can never fall in the window.
TODAY = date(2031, 3, 20)
CELL_CODES = [f.code for f in small_city() if f.level == "cell"]
# Four touching cells of the west township (991101001), columns 1–2, rows 2–3.
CLUSTER = [CELL_CODES[i * ROWS + j] for i in (1, 2) for j in (2, 3)]
# Every method, Gi* included (over the alert budget, hence the explicit opt-in): the tests
# check the persistence of each method's detections.
SETTINGS = hotspots.HotspotSettings(
    methods=hotspots.METHODS,
    over_budget=True,
    scan_history_days=120,
    scan_max_cells=8,
    scan_max_days=14,
    gi_days=28,
    emerging_weeks=12,
    n_jobs=1,
)


@pytest.fixture(scope="module")
def hotspots_app(app: Flask, database_url: str) -> Iterator[Flask]:
    """The app with the hotspot blueprint. Until fieldapp/__init__.py registers it, a second
    app of the same test configuration: registering it on the shared app would add
    undocumented routes under the other modules' tests."""
    from fieldapp.blueprints import hotspots_api

    if "hotspots_api" in app.blueprints:
        yield app
        return
    other = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": "memory://",
            "SECRET_KEY": "test",
        }
    )
    other.register_blueprint(hotspots_api.bp)
    app.extensions["celery"].set_default()  # create_app made the new one the default
    yield other
    other.extensions["fieldapp.engine"].dispose()


@pytest.fixture
def client(app: Flask, hotspots_app: Flask, db_session: Session) -> Iterator[FlaskClient]:
    """A client of `hotspots_app` whose requests run on the test's connection (as
    `db_session` arranges for the shared app)."""
    previous = hotspots_app.extensions["fieldapp.sessionmaker"]
    db.use_sessionmaker(hotspots_app, app.extensions["fieldapp.sessionmaker"])
    try:
        yield hotspots_app.test_client()
    finally:
        db.use_sessionmaker(hotspots_app, previous)


def china(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=CHINA_TZ)


def plant(
    session: Session,
    people: dict[str, Any],
    rows: list[tuple[str, datetime]],
    *,
    status: str = "reported",
    category: str = "neighbours",
) -> list[uuid.UUID]:
    """Insert reports straight into the test transaction: (cell code, received at) each."""
    ids = [uuid.uuid4() for _ in rows]
    session.execute(
        text(
            """
            INSERT INTO reports (id, officer_id, cell_id, village_id, township_id, county_id,
                geom, input_lon, input_lat, input_crs, outside_own_cells, occurred_at,
                reported_at, category, severity, people_involved, potential_group_incident,
                title, description, status, version, owner_level, owner_area_id, body_hash)
            SELECT r.id, :officer, c.id, c.village_id, c.township_id, c.county_id,
                ST_PointOnSurface(c.geom), ST_X(ST_PointOnSurface(c.geom)),
                ST_Y(ST_PointOnSurface(c.geom)), 'wgs84', false, r.at, r.at, :category,
                'yellow', 2, false, '测试纠纷', '测试', :status, 1, 'township', c.township_id,
                md5(r.id::text)
            FROM unnest(CAST(:ids AS uuid[]), CAST(:codes AS text[]),
                        CAST(:ats AS timestamptz[])) AS r(id, code, at)
            JOIN cells c ON c.code = r.code
            """
        ),
        {
            "officer": people["officer_a"]["id"],
            "category": category,
            "status": status,
            "ids": ids,
            "codes": [r[0] for r in rows],
            "ats": [r[1] for r in rows],
        },
    )
    return ids


def background(session: Session, people: dict[str, Any], days: int = 120, rate: float = 0.3) -> int:
    """Poisson(rate) reports per cell and day over the `days` days before TODAY."""
    rng = np.random.default_rng(20310320)
    counts = rng.poisson(rate, size=(len(CELL_CODES), days))
    rows = [
        (CELL_CODES[c], china(TODAY - timedelta(days=days - d), 8 + k % 10))
        for c in range(len(CELL_CODES))
        for d in range(days)
        for k in range(int(counts[c, d]))
    ]
    plant(session, people, rows)
    return len(rows)


def outbreak(session: Session, people: dict[str, Any], per_day: int = 6) -> list[uuid.UUID]:
    """`per_day` extra reports in each cluster cell on each of the last 4 days."""
    rows = [
        (code, china(TODAY - timedelta(days=back), 9 + k))
        for code in CLUSTER
        for back in range(1, 5)
        for k in range(per_day)
    ]
    return plant(session, people, rows)


def user(session: Session, people: dict[str, Any], who: str) -> User:
    found = session.get(User, people[who]["id"])
    assert found is not None
    return found


@pytest.fixture
def planted(db_session: Session, people: dict[str, Any]) -> Iterator[list[uuid.UUID]]:
    background(db_session, people)
    yield outbreak(db_session, people)


def cluster_cell_ids(session: Session) -> set[int]:
    return set(
        session.execute(text("SELECT id FROM cells WHERE code = ANY(:c)"), {"c": CLUSTER})
        .scalars()
        .all()
    )


def test_daily_counts_use_china_days_and_leave_out_merged_reports(
    db_session: Session, people: dict[str, Any]
) -> None:
    code = CELL_CODES[0]
    day = TODAY - timedelta(days=1)
    plant(
        db_session,
        people,
        [
            (code, datetime.combine(day, time(23, 30), tzinfo=CHINA_TZ)),  # 15:30 UTC
            (code, datetime.combine(day, time(0, 10), tzinfo=CHINA_TZ)),  # 16:10 UTC the day before
            (code, china(day - timedelta(days=2))),
        ],
    )
    plant(db_session, people, [(code, china(day))], status="merged")
    plant(db_session, people, [(code, china(day))], category="wages_labour")
    ids, counts = hotspots.daily_counts(db_session, day, 5)
    assert ids.size == 48 and counts.shape == (48, 5)
    row = int(
        np.flatnonzero(
            ids
            == db_session.execute(
                text("SELECT id FROM cells WHERE code = :c"), {"c": code}
            ).scalar_one()
        )[0]
    )
    assert counts[row].tolist() == [0, 0, 1, 0, 3] and counts.sum() == 4
    _ids, wages = hotspots.daily_counts(db_session, day, 5, ["wages_labour"])
    assert wages.sum() == 1


def test_recompute_finds_the_planted_cluster_and_a_second_run_changes_nothing(
    db_session: Session, planted: list[uuid.UUID]
) -> None:
    first = hotspots.recompute(db_session, today=TODAY, settings=SETTINGS)
    assert first.created and first.last_day == TODAY - timedelta(days=1)
    alerts = list(db_session.execute(select(HotspotAlert)).scalars())
    scan = [a for a in alerts if a.method == "scan"]
    gi = [a for a in alerts if a.method == "gi_star"]
    cluster = cluster_cell_ids(db_session)
    assert len(scan) == 1 and cluster <= set(scan[0].cell_ids) | cluster
    assert len(cluster & set(scan[0].cell_ids)) >= 3
    assert scan[0].recurrence_interval_days is not None
    assert scan[0].recurrence_interval_days >= 365
    assert scan[0].period_to == TODAY - timedelta(days=1)
    assert scan[0].period_from >= TODAY - timedelta(days=6)
    assert scan[0].observed is not None and scan[0].expected is not None
    assert scan[0].observed > 3 * scan[0].expected
    assert gi and cluster & set(gi[0].cell_ids) and scan[0].status == "new"
    assert (
        db_session.execute(
            select(func.count()).where(AuditEvent.action == "hotspots.recompute")
        ).scalar_one()
        == 1
    )

    before = {
        a.id: (a.cell_ids, a.statistic, a.p_value, a.period_to, a.last_detected_at)
        for a in db_session.execute(select(HotspotAlert)).scalars()
    }
    second = hotspots.recompute(db_session, today=TODAY, settings=SETTINGS)
    assert not second.changed, second.as_dict()
    after = {
        a.id: (a.cell_ids, a.statistic, a.p_value, a.period_to, a.last_detected_at)
        for a in db_session.execute(select(HotspotAlert)).scalars()
    }
    assert after == before

    # The next day the same hotspot is re-detected: the alert moves on, no new scan alert.
    third = hotspots.recompute(db_session, today=TODAY + timedelta(days=1), settings=SETTINGS)
    scan_after = list(
        db_session.execute(select(HotspotAlert).where(HotspotAlert.method == "scan")).scalars()
    )
    assert [a.id for a in scan_after] == [scan[0].id]
    assert scan[0].id in third.updated
    assert scan_after[0].period_to == TODAY

    # Fifteen days on, with nothing new, every alert has expired.
    quiet = hotspots.recompute(
        db_session,
        today=TODAY + timedelta(days=16),
        settings=hotspots.HotspotSettings(methods=(), expire_days=14),
    )
    assert set(quiet.expired) == set(before)


def test_acknowledge_and_supervise_through_the_api(
    client: FlaskClient, db_session: Session, people: dict[str, Any], planted: list[uuid.UUID]
) -> None:
    cluster = cluster_cell_ids(db_session)
    # Inside the hotspot too, but not open: they get no supervision order.
    closed = plant(
        db_session, people, [(CLUSTER[0], china(TODAY - timedelta(days=2)))], status="closed"
    )
    merged = plant(
        db_session, people, [(CLUSTER[1], china(TODAY - timedelta(days=2)))], status="merged"
    )
    hotspots.recompute(db_session, today=TODAY, settings=SETTINGS)
    alert = db_session.execute(
        select(HotspotAlert).where(HotspotAlert.method == "scan")
    ).scalar_one()

    r = client.post(f"/api/v1/hotspots/{alert.id}/acknowledge", headers=auth(people, "county"))
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["status"] == "acknowledged"
    assert (
        client.post(
            f"/api/v1/hotspots/{alert.id}/acknowledge", headers=auth(people, "county")
        ).status_code
        == 200
    )  # again: nothing to do, not an error

    due = (datetime.now(UTC) + timedelta(days=5)).isoformat()
    r = client.post(
        f"/api/v1/hotspots/{alert.id}/supervise",
        json={"due_at": due, "reason": "邻里纠纷集中，限期化解"},
        headers=auth(people, "county"),
    )
    assert r.status_code == 403  # 督办 comes from the city
    r = client.post(
        f"/api/v1/hotspots/{alert.id}/supervise",
        json={"reason": "缺少期限"},
        headers=auth(people, "city"),
    )
    assert r.status_code == 400 and "due_at" in r.get_json()["error"]["fields"]
    r = client.post(
        f"/api/v1/hotspots/{alert.id}/supervise",
        json={"due_at": due, "reason": "邻里纠纷集中，限期化解"},
        headers=auth(people, "city"),
    )
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["alert"]["status"] == "supervised"

    expected = set(
        db_session.execute(
            select(Report.id).where(
                Report.cell_id.in_(alert.cell_ids),
                Report.status == "reported",
                Report.reported_at >= day_start(alert.period_from),
            )
        ).scalars()
    )
    assert body["orders"] == len(expected) > 20
    assert {uuid.UUID(c) for c in body["cases"]} == expected
    assert not ({closed[0], merged[0]} & expected)
    orders = db_session.execute(
        select(SupervisionOrder.report_id).where(SupervisionOrder.note == "邻里纠纷集中，限期化解")
    ).scalars()
    assert set(orders) == expected
    events = list(
        db_session.execute(
            select(CaseEvent).where(
                CaseEvent.action == "supervise", CaseEvent.report_id.in_(expected)
            )
        ).scalars()
    )
    assert len(events) == len(expected)
    assert {e.actor_id for e in events} == {people["city"]["id"]}
    assert events[0].data["hotspot_alert_id"] == alert.id
    bumped = db_session.execute(select(Report.version).where(Report.id.in_(expected))).scalars()
    assert set(bumped) == {2}
    notes = list(
        db_session.execute(
            select(Notification).where(Notification.kind == "hotspot.supervise")
        ).scalars()
    )
    assert [n.user_id for n in notes] == [people["coord_1"]["id"]]  # once, not per case
    assert str(len(expected)) in notes[0].text
    assert cluster & set(alert.cell_ids)

    again = client.post(
        f"/api/v1/hotspots/{alert.id}/supervise",
        json={"due_at": due, "reason": "再次督办"},
        headers=auth(people, "city"),
    )
    assert again.status_code == 409


def test_who_sees_which_alerts(
    client: FlaskClient, db_session: Session, people: dict[str, Any], planted: list[uuid.UUID]
) -> None:
    hotspots.recompute(db_session, today=TODAY, settings=SETTINGS)
    total = db_session.execute(select(func.count()).select_from(HotspotAlert)).scalar_one()
    assert total >= 2

    for who in ("officer_a", "coord_1", "dept"):
        r = client.get("/api/v1/hotspots", headers=auth(people, who))
        assert r.status_code == 403, who
        with pytest.raises(Forbidden):
            hotspots.list_alerts(db_session, user(db_session, people, who))
    assert client.get("/api/v1/hotspots").status_code == 401

    city = client.get("/api/v1/hotspots", headers=auth(people, "city")).get_json()["alerts"]
    county = client.get("/api/v1/hotspots", headers=auth(people, "county")).get_json()["alerts"]
    assert len(city) == total and len(county) == total  # the test city has one county

    # Staff of another county see none of them and cannot act on them.
    parent = db_session.execute(select(Area).where(Area.code == "991100")).scalar_one()
    other = Area(code="991102", name="邻区", level="county", parent_id=parent.id, geom=parent.geom)
    db_session.add(other)
    db_session.flush()
    stranger = accounts.create_user(
        db_session,
        username="t_county_other",
        password=PASSWORD,
        display_name="邻区工作人员",
        role="county",
        area_code="991102",
    )
    token = accounts.issue_token(db_session, stranger, "pytest", datetime.now(UTC)).token
    db_session.flush()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/hotspots", headers=headers).get_json() == {"alerts": []}
    r = client.post(f"/api/v1/hotspots/{city[0]['id']}/acknowledge", headers=headers)
    assert r.status_code == 404

    r = client.get("/api/v1/hotspots?status=bogus", headers=auth(people, "city"))
    assert r.status_code == 400 and "status" in r.get_json()["error"]["fields"]


def test_the_json_the_map_page_reads_also_with_the_web_session(
    client: FlaskClient, db_session: Session, people: dict[str, Any], planted: list[uuid.UUID]
) -> None:
    hotspots.recompute(db_session, today=TODAY, settings=SETTINGS)
    sign_in_cookie(client, people["city"]["id"])
    r = client.get("/api/v1/hotspots")  # the cookie, no bearer token
    assert r.status_code == 200
    alerts = r.get_json()["alerts"]
    scan = next(a for a in alerts if a["method"] == "scan")
    assert set(scan) >= {
        "id",
        "area",
        "method",
        "statistic",
        "p_value",
        "pattern",
        "period",
        "categories",
        "recurrence_interval_days",
        "observed",
        "expected",
        "status",
        "cells",
        "geometry",
    }
    assert scan["area"] == {"code": "991101001", "name": "测试街道001", "level": "township"}
    assert scan["period"]["to"] == (TODAY - timedelta(days=1)).isoformat()
    assert scan["categories"] == [] and scan["status"] == "new" and scan["pattern"] is None
    assert set(scan["cells"]) & set(CLUSTER) and len(scan["cells"]) >= 3
    assert scan["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert scan["recurrence_interval_days"] >= 365 and 0 < scan["p_value"] <= 1 / 365
    # Writes need the bearer token: the cookie alone is refused.
    assert client.post(f"/api/v1/hotspots/{scan['id']}/acknowledge").status_code == 401
    assert client.post("/api/v1/hotspots/recompute").status_code == 401


def test_city_staff_queue_a_recomputation_through_the_outbox(
    client: FlaskClient, db_session: Session, people: dict[str, Any]
) -> None:
    assert (
        client.post("/api/v1/hotspots/recompute", headers=auth(people, "county")).status_code == 403
    )
    r = client.post("/api/v1/hotspots/recompute", headers=auth(people, "city"))
    assert r.status_code == 202 and r.get_json()["queued"] is True
    message = db_session.get(OutboxMessage, r.get_json()["outbox_id"])
    assert message is not None and message.task == "workers.tasks.recompute_hotspots"
    assert message.payload == {"requested_by": people["city"]["id"]}


def _web_login(app: Flask, username: str) -> FlaskClient:
    import re

    from tests.support import PASSWORD

    web = app.test_client()
    page = web.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    r = web.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert r.status_code == 302
    return web


def _csrf(web: FlaskClient) -> str:
    import re

    page = web.get("/city/alerts").get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page[:500]
    return match.group(1)


def test_alert_list_page_acknowledge_and_supervise(
    app: Flask, db_session: Session, people: dict[str, Any], planted: list[uuid.UUID]
) -> None:
    hotspots.recompute(db_session, today=TODAY, settings=SETTINGS)
    alert = db_session.execute(
        select(HotspotAlert).where(HotspotAlert.method == "scan")
    ).scalar_one()
    officer = _web_login(app, "t_coord_1")
    assert officer.get("/city/alerts").status_code == 403
    web = _web_login(app, "t_city")
    page = web.get("/city/alerts").get_data(as_text=True)
    assert f'id="alert-{alert.id}"' in page and "时空聚集" in page and "新预警" in page
    # No CSRF token: refused before anything changes.
    assert web.post(f"/city/alerts/{alert.id}/acknowledge").status_code == 400
    r = web.post(f"/city/alerts/{alert.id}/acknowledge", data={"csrf_token": _csrf(web)})
    assert r.status_code == 302
    db_session.expire_all()
    assert db_session.get(HotspotAlert, alert.id).status == "acknowledged"  # type: ignore[union-attr]
    due = (datetime.now(UTC) + timedelta(days=5)).date().isoformat()
    r = web.post(
        f"/city/alerts/{alert.id}/supervise",
        data={"csrf_token": _csrf(web), "due": due, "note": "限期化解"},
        follow_redirects=True,
    )
    assert "件案件下达督办" in r.get_data(as_text=True)
    db_session.expire_all()
    assert db_session.get(HotspotAlert, alert.id).status == "supervised"  # type: ignore[union-attr]


# --- issue 13: map analyses, what an alert says, the cases behind it -------------------------


def test_map_analyses_classes_scope_and_refusals(
    client: FlaskClient, db_session: Session, people: dict[str, Any], planted: list[uuid.UUID]
) -> None:
    city = user(db_session, people, "city")
    gi = hotspots.analysis_layer(db_session, city, "gi_star", today=TODAY, settings=SETTINGS)
    classes = {f["properties"]["code"]: f["properties"]["class"] for f in gi["features"]}
    # The planted outbreak's cells are hot at 99 % over the last 28 days.
    assert all(classes.get(code) == 3 for code in CLUSTER)
    assert gi["classes"]["3"] >= len(CLUSTER) and gi["p_values"] in ("normal", "permutation")
    assert gi["period"] == {
        "from": (TODAY - timedelta(days=SETTINGS.gi_days)).isoformat(),
        "to": (TODAY - timedelta(days=1)).isoformat(),
    }
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in gi["features"])
    emerging = hotspots.analysis_layer(db_session, city, "emerging", today=TODAY, settings=SETTINGS)
    codes = {f["properties"]["class"] for f in emerging["features"]}
    assert codes <= {int(p) for p in Pattern} - {0}
    assert any(c > 0 for c in codes)
    with pytest.raises(Forbidden):
        hotspots.analysis_layer(db_session, user(db_session, people, "officer_a"), "gi_star")
    with pytest.raises(NotFound):
        hotspots.analysis_layer(db_session, city, "kriging")
    r = client.get("/api/v1/hotspots/analysis/kriging", headers=auth(people, "city"))
    assert r.status_code == 404 and r.get_json()["error"]["code"]


def test_an_alert_says_where_how_much_and_how_unusual_in_words(
    client: FlaskClient, db_session: Session, people: dict[str, Any], planted: list[uuid.UUID]
) -> None:
    hotspots.recompute(db_session, today=TODAY, settings=SETTINGS)
    r = client.get("/api/v1/hotspots", headers=auth(people, "city"))
    scan = next(a for a in r.get_json()["alerts"] if a["method"] == "scan")
    assert scan["township"] == {"code": "991101001", "name": "测试街道001"}
    assert scan["relative_risk"] == round(scan["observed"] / scan["expected"], 1) > 3
    display = scan["display"]
    assert display["cells_text"] == f"测试街道001 {len(scan['cells'])} 个网格"
    assert display["relative_risk"] == f"预期的 {scan['relative_risk']:.1f} 倍"
    assert display["unusual"] in ("超过一年一遇", "超过十年一遇", "超过百年一遇")
    # Never more than the replicas support: 999 replicas, a Gumbel p, at most 100,000 days.
    assert scan["recurrence_interval_days"] <= 100_000
    en = client.get("/api/v1/hotspots?lang=en", headers=auth(people, "city")).get_json()
    words = next(a for a in en["alerts"] if a["id"] == scan["id"])["display"]["unusual"]
    assert words.startswith("Rarer than once")
    # An over-stated interval stored by an older version is still worded within the cap.
    with client.application.test_request_context("/"):
        assert hotspots.unusual_words(89_297_900_000, replicas=199) == "超过十年一遇"
        assert hotspots.unusual_words(89_297_900_000) == "超过百年一遇"
        assert hotspots.unusual_words(120.4) == "约 120 天一遇"


def test_the_case_list_of_an_alert_holds_exactly_its_cells_and_days(
    client: FlaskClient, db_session: Session, people: dict[str, Any], planted: list[uuid.UUID]
) -> None:
    with client.application.test_request_context("/"):
        from fieldapp.services import case_list
        from fieldapp.services.errors import InvalidInput

        city = user(db_session, people, "city")
        first, last = TODAY - timedelta(days=4), TODAY - timedelta(days=1)
        args = {"cells": ",".join(CLUSTER), "from": first.isoformat(), "to": last.isoformat()}
        filters = case_list.parse_case_filters(args)
        listed = case_list.list_cases(db_session, city, filters, now=china(TODAY))
        expected = db_session.execute(
            text(
                """
                SELECT count(*) FROM reports r JOIN cells c ON c.id = r.cell_id
                WHERE c.code = ANY(:codes) AND r.status <> 'merged'
                  AND (r.reported_at AT TIME ZONE 'Asia/Shanghai')::date BETWEEN :a AND :b
                """
            ),
            {"codes": CLUSTER, "a": first, "b": last},
        ).scalar_one()
        assert listed["total"] == expected >= len(planted)
        for bad in ({"cells": "1' OR 1=1"}, {"cells": ",".join(str(i) for i in range(201))}):
            with pytest.raises(InvalidInput) as err:
                case_list.parse_case_filters(bad)
            assert "cells" in err.value.fields
        with pytest.raises(InvalidInput) as err:
            case_list.list_cases(
                db_session,
                city,
                case_list.parse_case_filters({"cells": "999999"}),
                now=china(TODAY),
            )
        assert "999999" in err.value.fields["cells"]
        # A coordinator of the other township sees none of these cases.
        other = user(db_session, people, "coord_2")
        theirs = case_list.list_cases(db_session, other, filters, now=china(TODAY))
        assert theirs["total"] == 0


def test_alert_list_says_what_a_supervisor_needs_escapes_names_and_keeps_what_was_typed(
    app: Flask, db_session: Session, people: dict[str, Any], planted: list[uuid.UUID]
) -> None:
    hotspots.recompute(db_session, today=TODAY, settings=SETTINGS)
    alert = db_session.execute(
        select(HotspotAlert).where(HotspotAlert.method == "scan")
    ).scalar_one()
    hostile = "<img src=x onerror=alert(1)>街道"
    db_session.execute(
        text("UPDATE areas SET name = :n WHERE id = :id"), {"n": hostile, "id": alert.township_id}
    )
    db_session.flush()
    web = _web_login(app, "t_city")
    page = web.get("/city/alerts").get_data(as_text=True)
    row = page[page.index(f'id="alert-{alert.id}"') :]
    assert hostile not in page and "&lt;img src=x onerror=alert(1)&gt;街道" in row
    assert f"{len(alert.cell_ids)} 个网格" in row and "<svg" in row
    assert f"实际 {round(alert.observed or 0)} 件，预期" in row and "预期的" in row
    assert any(w in row for w in ("超过一年一遇", "超过十年一遇", "超过百年一遇"))
    assert "e-" not in row.split("</tr>")[0] and "persistent hot spot" not in page
    assert f"{alert.period_from.isoformat()} – {alert.period_to.isoformat()}" in row
    link = re.search(r'class="cases-link" href="([^"]+)"', row)
    assert link is not None
    href = link.group(1).replace("&amp;", "&")
    assert href.startswith("/cases?cells=") and f"from={alert.period_from.isoformat()}" in href
    cases = web.get(href)
    assert cases.status_code == 200
    total = re.search(r'data-total="(\d+)"', cases.get_data(as_text=True))
    assert total is not None and int(total.group(1)) >= 1
    # A refused 督办 (a date in the past) shows the list again with the note as typed.
    note = "请<b>三天内</b>化解"
    r = web.post(
        f"/city/alerts/{alert.id}/supervise",
        data={"csrf_token": _csrf(web), "due": "2020-01-01", "note": note},
    )
    body = r.get_data(as_text=True)
    assert r.status_code == 400 and 'id="alert-error"' in body
    assert "请&lt;b&gt;三天内&lt;/b&gt;化解</textarea>" in body and 'value="2020-01-01"' in body
    db_session.expire_all()
    assert db_session.get(HotspotAlert, alert.id).status == "new"  # type: ignore[union-attr]
    # English, both ways.
    en = web.get("/city/alerts?lang=en").get_data(as_text=True)
    assert "Rarer than once" in en and "Relative risk" in en and "times the expected" in en


def test_the_own_baseline_scan_finds_the_planted_cluster_and_is_stored(
    db_session: Session, planted: list[uuid.UUID]
) -> None:
    settings = hotspots.HotspotSettings(
        methods=("scan", "ebp"),
        scan_history_days=120,
        scan_max_cells=8,
        scan_max_days=14,
        ebp_max_cells=8,
        n_jobs=1,
    )
    assert settings.budget_problems() == []
    # Both methods find the outbreak; staff get ONE alert for it (the scan's), and the
    # own-baseline detection is counted but creates no second alert over the same cells.
    both = hotspots.recompute(db_session, today=TODAY, settings=settings)
    assert both.detections.get("scan") and both.detections.get("ebp"), both.as_dict()
    alerts = list(db_session.execute(select(HotspotAlert)).scalars())
    cluster = cluster_cell_ids(db_session)
    on_cluster = [a for a in alerts if cluster & set(a.cell_ids)]
    assert [a.method for a in on_cluster] == ["scan"]
    assert not hotspots.recompute(db_session, today=TODAY, settings=settings).changed
    # Alone, the own-baseline scan stores its alert.
    db_session.execute(delete(HotspotAlert))
    settings = replace(settings, methods=("ebp",))
    hotspots.recompute(db_session, today=TODAY, settings=settings)
    ebp = list(
        db_session.execute(select(HotspotAlert).where(HotspotAlert.method == "ebp")).scalars()
    )
    assert ebp and cluster & set(ebp[0].cell_ids)
    assert ebp[0].observed is not None and ebp[0].expected is not None
    assert ebp[0].observed > 3 * ebp[0].expected
    assert ebp[0].recurrence_interval_days is not None
    assert 60 <= ebp[0].recurrence_interval_days <= 100 * 100
    assert ebp[0].period_to == TODAY - timedelta(days=1)
