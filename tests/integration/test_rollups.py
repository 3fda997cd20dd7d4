"""Live roll-ups (/api/v1/rollups) against PostGIS: zeros included, merged duplicates not
counted, China-time days, scope, fresh right after a write, errors; and the property that at
every level the children add up to their parent, for every breakdown (hypothesis)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from fieldapp.domain import CHINA_TZ
from fieldapp.models import User
from fieldapp.services import stats
from fieldapp.services.rollups import RollupFilters
from fieldapp.stats import LEVELS
from tests.integration.stats_support import CELLS, add_report, cell_ids
from tests.support import auth, cell_centre, sign_in_cookie

pytestmark = pytest.mark.usefixtures("people")

WINDOW = "from=2033-05-01&to=2033-05-31"


def cn(day: int, hour: int = 10, minute: int = 0, month: int = 5) -> datetime:
    return datetime(2033, month, day, hour, minute, tzinfo=CHINA_TZ)


@pytest.fixture
def may(db_session: Session, people: dict[str, Any]) -> None:
    cells = cell_ids(db_session, list(CELLS.values()))
    c1, c2, d1 = (cells[CELLS[k]] for k in ("c1", "c2", "d1"))
    a, b = people["officer_a"]["id"], people["officer_b"]["id"]
    main = add_report(db_session, c1, cn(2), a, severity="red")
    add_report(db_session, c1, cn(3), a, status="merged", merged_into_id=main.id)
    add_report(db_session, c2, cn(31, 23, 30), a, category="housing_land")  # still 31 May
    add_report(db_session, c2, cn(1, 0, 30, month=6), a)  # 1 June in China: outside
    add_report(db_session, d1, cn(15), b, status="closed", severity="orange")
    db_session.flush()


def get(client: FlaskClient, people: dict[str, Any], query: str, who: str = "city") -> Any:
    r = client.get(f"/api/v1/rollups?{query}", headers=auth(people, who))
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def rows(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["code"]: r for r in body["rows"]}


@pytest.mark.usefixtures("may")
def test_townships_by_category_with_zeros_and_without_duplicates(
    client: FlaskClient, people: dict[str, Any]
) -> None:
    body = get(client, people, f"level=township&within=991101&by=category&{WINDOW}")
    west, east = rows(body)["991101001"], rows(body)["991101002"]
    # West: the red report (its merged duplicate not counted) and the 23:30 one on 31 May.
    assert west["total"] == 2
    assert west["counts"]["neighbours"] == 1 and west["counts"]["housing_land"] == 1
    assert east["total"] == 1 and east["counts"]["neighbours"] == 1
    # Every category is a key, zeros included, in the configured order.
    assert body["keys"][:3] == ["marriage_family", "neighbours", "housing_land"]
    assert west["counts"]["other"] == 0
    assert body["totals"]["total"] == 3 and body["totals"]["counts"]["neighbours"] == 2


@pytest.mark.usefixtures("may")
def test_every_level_and_areas_with_no_reports(client: FlaskClient, people: dict[str, Any]) -> None:
    cells = get(client, people, f"level=cell&within=991101001&{WINDOW}")
    assert len(cells["rows"]) == 24  # the west township's 24 cells, most of them at 0
    assert sum(r["total"] for r in cells["rows"]) == 2
    assert sum(1 for r in cells["rows"] if r["total"] == 0) == 22
    city = get(client, people, f"level=city&{WINDOW}")
    test_city = rows(city)["991100"]
    assert test_city["total"] == 3 and test_city["parent_code"] is None
    county = get(client, people, f"level=county&within=991100&by=severity&{WINDOW}")
    assert rows(county)["991101"]["counts"] == {"red": 1, "orange": 1, "yellow": 1}


@pytest.mark.usefixtures("may")
def test_filters_status_and_period_buckets_in_china_time(
    client: FlaskClient, people: dict[str, Any]
) -> None:
    body = get(client, people, f"level=township&within=991101&by=status&{WINDOW}")
    assert "merged" not in body["keys"]
    assert rows(body)["991101002"]["counts"]["closed"] == 1
    merged = get(client, people, f"level=township&within=991101&status=merged&{WINDOW}")
    assert rows(merged)["991101001"]["total"] == 1
    red = get(client, people, f"level=township&within=991101&severity=red,orange&{WINDOW}")
    assert [rows(red)[c]["total"] for c in ("991101001", "991101002")] == [1, 1]
    days = get(client, people, "level=county&by=period&bucket=day&from=2033-05-30&to=2033-06-01")
    assert days["keys"] == ["2033-05-30", "2033-05-31", "2033-06-01"]
    # 23:30 on 31 May and 00:30 on 1 June, Beijing time, fall on their own China-time days.
    assert rows(days)["991101"]["counts"] == {"2033-05-30": 0, "2033-05-31": 1, "2033-06-01": 1}
    weeks = get(client, people, f"level=county&by=period&bucket=week&{WINDOW}")
    assert weeks["keys"][0] == "2033-04-25"  # 1 May 2033 is a Sunday
    assert sum(rows(weeks)["991101"]["counts"].values()) == 3  # merged one not counted


def test_a_report_counts_the_moment_it_is_filed(
    client: FlaskClient, people: dict[str, Any]
) -> None:
    today = datetime.now(CHINA_TZ).date().isoformat()
    query = f"level=cell&within=991101001001001&from={today}&to={today}"
    before = get(client, people, query)["totals"]["total"]
    lon, lat = cell_centre(0, 0)
    r = client.post(
        "/api/v1/reports",
        json={
            "id": str(uuid.uuid4()),
            "lon": lon,
            "lat": lat,
            "category": "neighbours",
            "severity": "yellow",
            "people_involved": 1,
            "title": "新报告",
            "description": "统计是实时的。",
            "occurred_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
        },
        headers=auth(people, "officer_a"),
    )
    assert r.status_code == 201
    assert get(client, people, query)["totals"]["total"] == before + 1


@pytest.mark.usefixtures("may")
def test_scope_coordinators_see_their_township_only(
    client: FlaskClient, people: dict[str, Any]
) -> None:
    mine = get(client, people, f"level=township&{WINDOW}", who="coord_1")
    assert [r["code"] for r in mine["rows"]] == ["991101001"]
    assert mine["within"]["code"] == "991101001"
    r = client.get("/api/v1/rollups?within=991101002", headers=auth(people, "coord_1"))
    assert r.status_code == 403 and "within" in r.get_json()["error"]["fields"]
    r = client.get("/api/v1/rollups?level=county", headers=auth(people, "coord_1"))
    assert r.status_code == 400 and "level" in r.get_json()["error"]["fields"]
    for who in ("officer_a", "dept"):
        assert client.get("/api/v1/rollups", headers=auth(people, who)).status_code == 403
    assert client.get("/api/v1/rollups").status_code == 401


@pytest.mark.usefixtures("may")
def test_the_web_session_cookie_works_for_reads(
    client: FlaskClient, people: dict[str, Any]
) -> None:
    sign_in_cookie(client, people["county"]["id"])
    r = client.get(f"/api/v1/rollups?level=township&{WINDOW}")
    assert r.status_code == 200 and r.get_json()["within"]["code"] == "991101"
    assert client.get("/api/v1/kpis?period=2033-05").status_code == 200
    assert client.get("/api/v1/campaign").status_code == 200


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("level=street", "level"),
        ("by=colour", "by"),
        ("by=period", "from"),
        ("by=period&from=2033-05-01", "to"),
        ("bucket=hour", "bucket"),
        ("from=2033-13-01", "from"),
        ("from=2033-05-02&to=2033-05-01", "to"),
        ("category=nope", "category"),
        ("severity=purple", "severity"),
        ("status=lost", "status"),
        ("within=000000", "within"),
        ("by=period&bucket=day&from=2000-01-01&to=2009-12-31", "bucket"),
    ],
)
def test_bad_parameters_are_400_naming_the_field(
    client: FlaskClient, people: dict[str, Any], query: str, field: str
) -> None:
    r = client.get(f"/api/v1/rollups?{query}", headers=auth(people, "city"))
    assert r.status_code == 400, r.get_json()
    assert field in r.get_json()["error"]["fields"]


def test_answers_too_big_for_a_chart_are_refused(
    client: FlaskClient, people: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stats, "MAX_CELLS", 100)
    ok = client.get("/api/v1/rollups?level=cell&within=991101", headers=auth(people, "city"))
    assert ok.status_code == 200  # 48 cells × 1 total
    r = client.get("/api/v1/rollups?level=cell&by=category", headers=auth(people, "city"))
    assert r.status_code == 400 and "level" in r.get_json()["error"]["fields"]  # 48 × 17


# --- children add up to their parent ---------------------------------------------------------

report_strategy = st.tuples(
    st.integers(0, 47),  # which cell of the small city
    st.integers(0, 20),  # day in May 2033
    st.integers(0, 23),  # hour, China time
    st.sampled_from(["neighbours", "housing_land", "wages_labour"]),
    st.sampled_from(["red", "orange", "yellow"]),
    st.sampled_from(["reported", "accepted", "closed", "rejected", "merged"]),
)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    reports=st.lists(report_strategy, max_size=30),
    by=st.sampled_from([None, "category", "severity", "status", "period"]),
)
def test_children_sum_to_their_parent_at_every_level(
    app: Flask,
    db_session: Session,
    people: dict[str, Any],
    reports: list[tuple[int, int, int, str, str, str]],
    by: str | None,
) -> None:
    s = db_session
    nested = s.begin_nested()
    try:
        city = s.get(User, people["city"]["id"])
        assert city is not None
        cells = sorted(cell_ids(s).values(), key=lambda c: c.code)
        cells = [c for c in cells if c.code.startswith("991101")]
        for cell_index, day, hour, category, severity, status in reports:
            add_report(
                s,
                cells[cell_index % len(cells)],
                datetime(2033, 5, 1 + day, hour, tzinfo=CHINA_TZ),
                people["officer_a"]["id"],
                category=category,
                severity=severity,
                status=status,
            )
        s.flush()
        filters = RollupFilters(date_from=cn(1).date(), date_to=cn(21).date())
        answers = {}
        with app.test_request_context():
            for level in LEVELS:
                answers[level] = stats.rollup(
                    s,
                    city,
                    level=level,
                    within_code="991100",
                    filters=filters,
                    by=by,
                    bucket="week",
                )
        expected_total = sum(1 for r in reports if r[5] != "merged")
        assert answers["city"]["totals"]["total"] == expected_total
        for parent_level, child_level in zip(LEVELS, LEVELS[1:], strict=False):
            parents = rows(answers[parent_level])
            sums: dict[str, dict[str, int]] = {}
            for child in answers[child_level]["rows"]:
                into = sums.setdefault(child["parent_code"], {"total": 0})
                into["total"] += child["total"]
                for key, n in child["counts"].items():
                    into[key] = into.get(key, 0) + n
            for code, parent in parents.items():
                assert sums.get(code, {"total": 0})["total"] == parent["total"], (code, by)
                for key, n in parent["counts"].items():
                    assert sums[code].get(key, 0) == n, (code, key)
            assert answers[child_level]["totals"] == answers[parent_level]["totals"]
    finally:
        nested.rollback()


@pytest.mark.usefixtures("may")
def test_answers_fit_their_documented_schemas(client: FlaskClient, people: dict[str, Any]) -> None:
    """What the dashboards are built against (the OpenAPI schemas) is what the API sends."""
    from openapi_schema_validator import OAS31Validator
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    from fieldapp.contract.document import build_openapi

    doc = build_openapi()
    registry: Registry[Any] = Registry().with_resource("urn:doc", DRAFT202012.create_resource(doc))
    answers = {
        "Rollup": f"/api/v1/rollups?level=township&by=period&bucket=week&{WINDOW}",
        "KpiTable": "/api/v1/kpis?period=2033-05&level=township",
        "Campaign": "/api/v1/campaign",
    }
    for schema, url in answers.items():
        body = client.get(url, headers=auth(people, "city")).get_json()
        validator = OAS31Validator(
            {"$ref": f"urn:doc#/components/schemas/{schema}"},
            registry=registry,
            format_checker=OAS31Validator.FORMAT_CHECKER,
        )
        assert [e.message for e in validator.iter_errors(body)] == [], schema
