"""Map layers (/api/v1/layers/…) against real PostGIS: scope (county staff see only their
county), merged duplicates left out, date and category filters, bbox, the point cap, the
township drill-down, vector tiles decoded, and who may ask."""

from __future__ import annotations

import gzip
import json
import math
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from fieldapp.domain import CHINA_TZ
from fieldapp.models import Area, Cell, Report, User
from fieldapp.services import map_layers
from fieldapp.services.map_layers import LayerFilters
from grid import queries
from tests.support import auth, cell_centre, file_via_api, sign_in_cookie

pytestmark = pytest.mark.usefixtures("people")

TOWNSHIP_1, TOWNSHIP_2 = "991101001", "991101002"
CHOROPLETH = "/api/v1/layers/choropleth"
POINTS = "/api/v1/layers/reports"


def file_report(
    client: FlaskClient, people: dict, i: int, j: int, **overrides: Any
) -> dict[str, Any]:
    """An orange neighbours' dispute filed by officer_a in cell (i, j)."""
    lon, lat = cell_centre(i, j)
    return file_via_api(client, people, **{"lon": lon, "lat": lat, **overrides})


def today() -> str:
    return datetime.now(CHINA_TZ).date().isoformat()


def by_code(layer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["properties"]["code"]: f["properties"] for f in layer["features"]}


@pytest.fixture(autouse=True)
def no_other_reports(db_session: Session) -> None:
    """Start from no reports at all (inside the test's transaction, so nothing is lost):
    browser tests commit reports of their own, and the counts here must be exact."""
    db_session.execute(delete(Report))
    db_session.flush()


@pytest.fixture
def reports(client: FlaskClient, people: dict) -> list[dict[str, Any]]:
    """Three reports in township 1 (two in cell (0,0)), one in township 2."""
    return [
        file_report(client, people, 0, 0),
        file_report(client, people, 0, 0, category="marriage_family", severity="red"),
        file_report(client, people, 1, 2),
        file_report(client, people, 6, 3),
    ]


@pytest.fixture
def second_county(db_session: Session) -> None:
    """Township 2 moved into a county of its own (inside the test's transaction), so county
    staff of 991101 must no longer see it or its reports."""
    city_id = db_session.execute(select(Area.id).where(Area.code == "991100")).scalar_one()
    township = db_session.execute(select(Area).where(Area.code == TOWNSHIP_2)).scalar_one()
    county = Area(
        code="991102", name="测试二区", level="county", parent_id=city_id, geom=township.geom
    )
    db_session.add(county)
    db_session.flush()
    township.parent_id = county.id
    db_session.execute(
        update(Cell).where(Cell.township_id == township.id).values(county_id=county.id)
    )
    db_session.flush()
    # As the boundary importer would (the one way the hierarchy changes): a new version, so
    # caches of the cells (intake's snapshot) are rebuilt.
    queries.record_version(db_session, "tests", "township 2 into a county of its own")


# --- choropleth -----------------------------------------------------------------------------


def test_choropleth_counts_rates_and_classes(
    client: FlaskClient, people: dict, reports: list[dict[str, Any]]
) -> None:
    r = client.get(CHOROPLETH, query_string={"level": "township"}, headers=auth(people, "city"))
    assert r.status_code == 200
    layer = r.get_json()
    assert layer["type"] == "FeatureCollection" and layer["level"] == "township"
    townships = by_code(layer)
    assert set(townships) == {TOWNSHIP_1, TOWNSHIP_2}
    assert townships[TOWNSHIP_1]["count"] == 3 and townships[TOWNSHIP_2]["count"] == 1
    assert layer["total"] == 4 and layer["metric"] == "count"
    # two distinct positive counts: each is its own class
    assert layer["classes"]["breaks"] == [1.0, 3.0]
    assert townships[TOWNSHIP_1]["class"] == 2 and townships[TOWNSHIP_2]["class"] == 1
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in layer["features"])

    cells = client.get(
        CHOROPLETH, query_string={"level": "cell", "metric": "rate"}, headers=auth(people, "city")
    ).get_json()
    assert len(cells["features"]) == 48 and cells["metric"] == "rate"
    cell = by_code(cells)["991101001001001"]
    assert cell["count"] == 2
    assert cell["rate"] == round(2 * 10_000 / cell["population"], 2)
    assert cell["class"] >= 1
    empty = [p for p in by_code(cells).values() if p["count"] == 0]
    assert empty and all(p["class"] == 0 and p["rate"] == 0 for p in empty)


def test_rate_without_population_is_no_data_not_zero(
    client: FlaskClient, people: dict, reports: list[dict[str, Any]]
) -> None:
    layer = client.get(
        CHOROPLETH, query_string={"level": "county", "metric": "rate"}, headers=auth(people, "city")
    ).get_json()
    (county,) = layer["features"]
    if county["properties"]["population"]:
        pytest.skip("the test city's county has a population")
    assert county["properties"]["rate"] is None and county["properties"]["class"] is None
    assert county["properties"]["count"] == 4


def test_filters_by_day_in_china_time_and_category(
    client: FlaskClient, people: dict, reports: list[dict[str, Any]]
) -> None:
    headers = auth(people, "city")
    day = datetime.now(CHINA_TZ).date()
    total = lambda **q: client.get(CHOROPLETH, query_string=q, headers=headers).get_json()["total"]  # noqa: E731
    assert total(**{"from": day.isoformat(), "to": day.isoformat()}) == 4
    assert total(**{"from": (day + timedelta(days=1)).isoformat()}) == 0
    assert total(**{"to": (day - timedelta(days=1)).isoformat()}) == 0
    assert total(category="marriage_family") == 1
    bad = client.get(CHOROPLETH, query_string={"from": "yesterday"}, headers=headers)
    assert bad.status_code == 400 and "from" in bad.get_json()["error"]["fields"]
    backwards = client.get(
        CHOROPLETH, query_string={"from": "2026-02-02", "to": "2026-02-01"}, headers=headers
    )
    assert backwards.status_code == 400 and "to" in backwards.get_json()["error"]["fields"]
    level = client.get(CHOROPLETH, query_string={"level": "province"}, headers=headers)
    assert level.status_code == 400 and "level" in level.get_json()["error"]["fields"]


def test_merged_duplicates_are_counted_once(
    client: FlaskClient, people: dict, db_session: Session, reports: list[dict[str, Any]]
) -> None:
    main, duplicate = reports[0], reports[1]
    db_session.execute(
        update(Report)
        .where(Report.id == uuid.UUID(duplicate["id"]))
        .values(status="merged", merged_into_id=uuid.UUID(main["id"]))
    )
    db_session.flush()
    headers = auth(people, "city")
    townships = by_code(
        client.get(CHOROPLETH, query_string={"level": "township"}, headers=headers).get_json()
    )
    assert townships[TOWNSHIP_1]["count"] == 2
    points = client.get(POINTS, headers=headers).get_json()
    ids = {f["properties"]["id"] for f in points["features"]}
    assert main["id"] in ids and duplicate["id"] not in ids


def test_county_staff_see_only_their_county(
    client: FlaskClient, people: dict, second_county: None, reports: list[dict[str, Any]]
) -> None:
    county = client.get(
        CHOROPLETH, query_string={"level": "township"}, headers=auth(people, "county")
    ).get_json()
    assert set(by_code(county)) == {TOWNSHIP_1}
    assert county["total"] == 3
    city = client.get(
        CHOROPLETH, query_string={"level": "township"}, headers=auth(people, "city")
    ).get_json()
    assert by_code(city)[TOWNSHIP_2]["count"] == 1 and city["total"] == 4

    counties = client.get(
        CHOROPLETH, query_string={"level": "county"}, headers=auth(people, "county")
    ).get_json()
    assert [f["id"] for f in counties["features"]] == ["991101"]

    points = client.get(POINTS, headers=auth(people, "county")).get_json()
    assert len(points["features"]) == 3
    assert reports[3]["id"] not in {f["properties"]["id"] for f in points["features"]}

    other = client.get(
        f"/api/v1/layers/township/{TOWNSHIP_2}/cells", headers=auth(people, "county")
    )
    assert other.status_code == 404
    own = client.get(f"/api/v1/layers/township/{TOWNSHIP_1}/cells", headers=auth(people, "county"))
    assert own.status_code == 200


# --- report points --------------------------------------------------------------------------


def test_points_carry_what_a_popup_shows_and_nothing_personal(
    client: FlaskClient, people: dict, reports: list[dict[str, Any]]
) -> None:
    layer = client.get(POINTS, headers=auth(people, "city")).get_json()
    assert layer["truncated"] is False and layer["limit"] == map_layers.REPORT_POINT_LIMIT
    assert len(layer["features"]) == 4
    red = next(f for f in layer["features"] if f["properties"]["severity"] == "red")
    props = red["properties"]
    assert set(props) == {
        "id",
        "title",
        "category",
        "category_name",
        "severity",
        "status",
        "reported_at",
    }
    assert props["category_name"] == "婚姻家庭" and props["status"] == "reported"
    assert props["reported_at"].endswith("+08:00")
    lon, lat = red["geometry"]["coordinates"]
    assert (lon, lat) == pytest.approx(cell_centre(0, 0), abs=1e-6)
    english = client.get(POINTS, query_string={"lang": "en"}, headers=auth(people, "city"))
    assert {f["properties"]["category_name"] for f in english.get_json()["features"]} >= {
        "Neighbours"
    }


def test_points_in_a_bounding_box(
    client: FlaskClient, people: dict, reports: list[dict[str, Any]]
) -> None:
    lon, lat = cell_centre(0, 0)
    box = f"{lon - 0.002},{lat - 0.002},{lon + 0.002},{lat + 0.002}"
    layer = client.get(POINTS, query_string={"bbox": box}, headers=auth(people, "city")).get_json()
    assert {f["properties"]["id"] for f in layer["features"]} == {
        reports[0]["id"],
        reports[1]["id"],
    }
    bad = client.get(POINTS, query_string={"bbox": "1,2,3"}, headers=auth(people, "city"))
    assert bad.status_code == 400 and "bbox" in bad.get_json()["error"]["fields"]


def test_points_are_capped_newest_first(
    db_session: Session, people: dict, reports: list[dict[str, Any]]
) -> None:
    city = db_session.get(User, people["city"]["id"])
    assert city is not None
    layer = map_layers.report_points(db_session, city, LayerFilters(), limit=2)
    assert layer["truncated"] is True and len(layer["features"]) == 2
    assert [f["properties"]["id"] for f in layer["features"]] == [
        reports[3]["id"],
        reports[2]["id"],
    ]


# --- township drill-down --------------------------------------------------------------------


def test_township_cells_with_their_own_classes(
    client: FlaskClient, people: dict, reports: list[dict[str, Any]]
) -> None:
    r = client.get(f"/api/v1/layers/township/{TOWNSHIP_1}/cells", headers=auth(people, "city"))
    assert r.status_code == 200
    layer = r.get_json()
    assert layer["township"] == {"code": TOWNSHIP_1, "name": "测试街道001"}
    cells = by_code(layer)
    assert len(cells) == 24 and all(code.startswith(TOWNSHIP_1) for code in cells)
    assert cells["991101001001001"]["count"] == 2 and layer["total"] == 3
    assert layer["classes"]["breaks"] == [1.0, 2.0]
    missing = client.get("/api/v1/layers/township/000000000/cells", headers=auth(people, "city"))
    assert missing.status_code == 404


# --- vector tiles ---------------------------------------------------------------------------


def _varint(data: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, i


def _fields(data: bytes) -> list[tuple[int, Any]]:
    """(field number, value) of a protobuf message: varints as int, the rest as bytes."""
    out: list[tuple[int, Any]] = []
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(data, i)
            out.append((number, value))
        elif wire == 2:
            length, i = _varint(data, i)
            out.append((number, data[i : i + length]))
            i += length
        elif wire == 5:
            out.append((number, data[i : i + 4]))
            i += 4
        elif wire == 1:
            out.append((number, data[i : i + 8]))
            i += 8
        else:
            raise ValueError(f"wire type {wire}")
    return out


def decode_tile(data: bytes) -> dict[str, list[dict[str, Any]]]:
    """A Mapbox vector tile (spec 2.1) as {layer name: [feature properties]}, enough to check
    what the server put in it without a dependency."""
    layers: dict[str, list[dict[str, Any]]] = {}
    for number, raw in _fields(data):
        assert number == 3 and isinstance(raw, bytes)  # Tile.layers
        fields = _fields(raw)
        name = next(v for n, v in fields if n == 1)
        keys = [bytes(v).decode() for n, v in fields if n == 3]
        values: list[Any] = []
        for n, v in fields:
            if n == 4:
                ((kind, payload),) = _fields(v)
                values.append(bytes(payload).decode() if kind == 1 else payload)
        features = []
        for n, v in fields:
            if n != 2:
                continue
            feature = dict(_fields(v))
            tags: list[int] = []
            packed = feature[2]
            i = 0
            while i < len(packed):
                tag, i = _varint(packed, i)
                tags.append(tag)
            props = {keys[tags[k]]: values[tags[k + 1]] for k in range(0, len(tags), 2)}
            assert feature[3] == 3  # POLYGON
            features.append(props)
        layers[bytes(name).decode()] = features
        assert dict(fields)[15] == 2  # version
    return layers


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def test_cell_tiles_decode_with_counts_and_scope(
    client: FlaskClient, people: dict, second_county: None, reports: list[dict[str, Any]]
) -> None:
    z = 10
    x, y = tile_of(*cell_centre(4, 3), z)
    url = f"/api/v1/layers/cells/{z}/{x}/{y}.mvt"
    r = client.get(url, headers=auth(people, "city"))
    assert r.status_code == 200
    assert r.mimetype == "application/vnd.mapbox-vector-tile"
    assert "max-age" in r.headers["Cache-Control"] and r.headers["ETag"]
    assert r.data[:1] == b"\x1a" and b"cells" in r.data  # Tile.layers, the layer's name
    cells = {p["code"]: p for p in decode_tile(r.data)["cells"]}
    assert len(cells) == 48
    assert cells["991101001001001"]["count"] == 2
    assert cells["991101001001001"]["name"] == "测试网格001001"
    assert sum(p["count"] for p in cells.values()) == 4

    again = client.get(url, headers={**auth(people, "city"), "If-None-Match": r.headers["ETag"]})
    assert again.status_code == 304

    county = decode_tile(client.get(url, headers=auth(people, "county")).data)["cells"]
    assert len(county) == 24 and all(p["code"].startswith(TOWNSHIP_1) for p in county)

    window = client.get(
        url,
        query_string={"from": (datetime.now(CHINA_TZ).date() + timedelta(days=1)).isoformat()},
        headers=auth(people, "city"),
    )
    assert all(p["count"] == 0 for p in decode_tile(window.data)["cells"])

    shifted = client.get(url, query_string={"display_crs": "gcj02"}, headers=auth(people, "city"))
    assert shifted.status_code == 200 and shifted.data != r.data


def test_empty_and_impossible_tiles(client: FlaskClient, people: dict) -> None:
    headers = auth(people, "city")
    empty = client.get("/api/v1/layers/cells/10/0/0.mvt", headers=headers)
    assert empty.status_code == 204 and empty.data == b""
    assert client.get("/api/v1/layers/cells/3/8/0.mvt", headers=headers).status_code == 404
    assert client.get("/api/v1/layers/cells/30/0/0.mvt", headers=headers).status_code == 404


# --- who may ask, and how ---------------------------------------------------------------------


def test_bearer_or_session_cookie_and_only_map_roles(
    client: FlaskClient, people: dict, reports: list[dict[str, Any]]
) -> None:
    assert client.get(CHOROPLETH).status_code == 401
    officer = client.get(CHOROPLETH, headers=auth(people, "officer_a"))
    assert officer.status_code == 403 and officer.get_json()["error"]["code"] == "forbidden"
    coordinator = client.get(POINTS, headers=auth(people, "coord_1"))
    assert coordinator.status_code == 403
    sign_in_cookie(client, people["city"]["id"])
    by_cookie = client.get(CHOROPLETH)
    assert by_cookie.status_code == 200 and by_cookie.get_json()["total"] == 4
    # A bad token is refused even with a good cookie: no silent switch of identity.
    bad = client.get(CHOROPLETH, headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401


def test_layers_are_gzipped_for_browsers_and_revalidated(
    client: FlaskClient, people: dict, reports: list[dict[str, Any]]
) -> None:
    headers = auth(people, "city")
    plain = client.get(CHOROPLETH, query_string={"level": "cell"}, headers=headers)
    zipped = client.get(
        CHOROPLETH, query_string={"level": "cell"}, headers={**headers, "Accept-Encoding": "gzip"}
    )
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers["Vary"]
    assert len(zipped.data) < len(plain.data) / 2
    assert json.loads(gzip.decompress(zipped.data)) == plain.get_json()
    assert plain.headers["Cache-Control"] == "private, no-cache"
    etag = plain.headers["ETag"]
    again = client.get(
        CHOROPLETH, query_string={"level": "cell"}, headers={**headers, "If-None-Match": etag}
    )
    assert again.status_code == 304


# --- reports counted per cell (the city map's bubbles and heat) -----------------------------

REPORT_CELLS = "/api/v1/layers/report-cells"


def _rows(layer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    cols = layer["columns"]
    return {r[0]: dict(zip(cols, r, strict=True)) for r in layer["rows"]}


def test_report_cells_count_every_report_and_agree_with_the_choropleth(
    client: FlaskClient, people: dict, db_session: Session, reports: list[dict[str, Any]]
) -> None:
    headers = auth(people, "city")
    # Beyond the former point cap: nothing is dropped, whatever the number.
    extra = [file_report(client, people, 2, 2, severity="red") for _ in range(3)]
    layer = client.get(REPORT_CELLS, headers=headers).get_json()
    rows = _rows(layer)
    assert layer["total"] == len(reports) + len(extra) == sum(r["count"] for r in rows.values())
    choropleth = client.get(CHOROPLETH, query_string={"level": "cell"}, headers=headers)
    assert choropleth.get_json()["total"] == layer["total"]
    busiest = max(rows.values(), key=lambda r: r["count"])
    assert busiest["count"] == 3 and busiest["red"] == 3 and busiest["orange"] == 0
    two = [r for r in rows.values() if r["count"] == 2]
    assert len(two) == 1 and two[0]["red"] == 1 and two[0]["orange"] == 1
    # The anchor point lies inside its cell.
    cell = db_session.execute(select(Cell).where(Cell.code == busiest["code"])).scalar_one()
    inside = db_session.execute(
        select(
            Cell.geom.ST_Contains(
                map_layers.func.ST_SetSRID(
                    map_layers.func.ST_MakePoint(busiest["lon"], busiest["lat"]), 4326
                )
            )
        ).where(Cell.id == cell.id)
    ).scalar_one()
    assert inside
    # Merged duplicates out, category and days filtered, as the choropleth.
    db_session.execute(
        update(Report)
        .where(Report.id == uuid.UUID(reports[1]["id"]))
        .values(status="merged", merged_into_id=uuid.UUID(reports[0]["id"]))
    )
    db_session.flush()
    assert client.get(REPORT_CELLS, headers=headers).get_json()["total"] == 6
    only = client.get(REPORT_CELLS, query_string={"category": "medical"}, headers=headers)
    assert only.get_json() == {
        "columns": list(map_layers.REPORT_CELL_COLUMNS),
        "rows": [],
        "total": 0,
    }
    bad = client.get(REPORT_CELLS, query_string={"from": "tomorrow"}, headers=headers)
    assert bad.status_code == 400 and "from" in bad.get_json()["error"]["fields"]


def test_report_cells_are_scoped_to_the_county(
    client: FlaskClient, people: dict, second_county: None, reports: list[dict[str, Any]]
) -> None:
    county = client.get(REPORT_CELLS, headers=auth(people, "county")).get_json()
    assert county["total"] == 3
    city = client.get(REPORT_CELLS, headers=auth(people, "city")).get_json()
    assert city["total"] == 4
    assert client.get(REPORT_CELLS, headers=auth(people, "officer_a")).status_code == 403
