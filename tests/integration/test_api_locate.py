"""GET /api/v1/locate and the area layers, through the Flask stack against PostGIS."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from grid import crs
from tests import support

pytestmark = pytest.mark.usefixtures("small_city_loaded")

CENTRE = support.lattice()[0:2, 0:2].reshape(-1, 2).mean(axis=0)


def test_locate_answers_the_cell_and_chain(client: FlaskClient) -> None:
    r = client.get(f"/api/v1/locate?lon={CENTRE[0]}&lat={CENTRE[1]}")
    assert r.status_code == 200
    body = r.get_json()
    assert body["found"] is True
    assert body["cell"]["code"] == "991101001001001"
    assert [body[k]["code"] for k in ("village", "township", "county", "city")] == [
        "991101001001",
        "991101001",
        "991101",
        "991100",
    ]


def test_locate_converts_a_gcj02_point(client: FlaskClient) -> None:
    lon, lat = crs.from_wgs84(float(CENTRE[0]), float(CENTRE[1]), "gcj02")
    body = client.get(f"/api/v1/locate?lon={lon}&lat={lat}&crs=gcj02").get_json()
    assert body["cell"]["code"] == "991101001001001"
    assert body["input"]["crs"] == "gcj02"
    assert body["lon"] == pytest.approx(CENTRE[0], abs=1e-8)


def test_outside_the_city_is_a_clear_answer_with_the_nearest_cell(client: FlaskClient) -> None:
    r = client.get("/api/v1/locate?lon=119.3&lat=35.31")
    assert r.status_code == 200
    body = r.get_json()
    assert body["found"] is False
    assert "网格" in body["message"]  # Chinese by default
    assert body["nearest"]["cell"]["code"].startswith("991101001")
    assert body["nearest"]["distance_m"] > 8_000


def test_english_on_request(client: FlaskClient) -> None:
    body = client.get("/api/v1/locate?lon=119.3&lat=35.31&lang=en").get_json()
    assert "outside the city" in body["message"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("", "lon"),
        ("lon=119.5", "lat"),
        ("lon=abc&lat=35.4", "lon"),
        ("lon=nan&lat=35.4", "lon"),
        ("lon=inf&lat=35.4", "lon"),
        ("lon=119.5&lat=95", "lat"),
        ("lon=-181&lat=35", "lon"),
        ("lon=119.5&lat=35.4&crs=utm", "crs"),
    ],
)
def test_bad_parameters_get_a_400_naming_the_field(
    client: FlaskClient, query: str, field: str
) -> None:
    r = client.get(f"/api/v1/locate?{query}")
    assert r.status_code == 400
    error = r.get_json()["error"]
    assert error["code"] == "invalid_parameters"
    assert field in error["fields"] and error["fields"][field]


def test_unknown_api_path_uses_the_json_error_shape(client: FlaskClient) -> None:
    r = client.get("/api/v1/nothing-here")
    assert r.status_code == 404
    assert r.get_json()["error"]["code"] == "not_found"


def test_area_layer_and_its_errors(client: FlaskClient) -> None:
    layer = client.get("/api/v1/layers/areas?level=township").get_json()
    assert [f["properties"]["code"] for f in layer["features"]] == ["991101001", "991101002"]
    assert client.get("/api/v1/layers/areas?level=planet").status_code == 400
    r = client.get("/api/v1/layers/areas?level=cell&bbox=1,2,3")
    assert r.status_code == 400 and "bbox" in r.get_json()["error"]["fields"]
