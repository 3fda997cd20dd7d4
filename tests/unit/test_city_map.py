"""The city map's Folium frame (maps.city_map): local assets only, no data inlined, and a
configuration that cannot break out of its script."""

from __future__ import annotations

import json
import re

from maps.builders import render_parts
from maps.city_map import city_map, script_json
from maps.offline import assert_no_external_urls

LABELS = {"reports": "上报点位", "heat": "热力图"}


def _page(labels: dict[str, str] = LABELS, **kwargs: object) -> str:
    config = {"urls": {"choropleth": "/api/v1/layers/choropleth"}, "labels": labels}
    m = city_map(
        config,
        script_url="/static/city/map.js",
        style_url="/static/city/map.css",
        labels=labels,
        static_url="/static/vendor",
        **kwargs,  # type: ignore[arg-type]
    )
    parts = render_parts(m)
    return parts.header + parts.html + parts.script


def test_everything_is_served_locally_and_only_what_the_page_uses() -> None:
    page = _page()
    assert assert_no_external_urls(page) == []
    scripts = re.findall(r'<script src="([^"]+)"', page)
    assert scripts == [
        "/static/vendor/leaflet/1.9.3/leaflet.js",
        "/static/vendor/leaflet.markercluster/1.1.0/leaflet.markercluster.js",
        "/static/vendor/folium/0.20.0/leaflet_heat.min.js",
        "/static/vendor/leaflet.vectorgrid/1.3.0/Leaflet.VectorGrid.bundled.min.js",
        "/static/city/map.js",
    ]
    # Folium's defaults this page does not need (about 600 KB) are left out.
    for unused in ("/jquery/", "/bootstrap", "/fontawesome-free/", "awesome-markers", "/d3/"):
        assert unused not in page
    assert "/static/city/map.css" in page


def test_the_script_is_started_with_the_map_cluster_and_heat_layer() -> None:
    page = _page()
    call = re.search(r"CityMap\.start\(\s*\{\s*map: (\w+),\s*cluster: (\w+),\s*heat: (\w+)", page)
    assert call is not None
    map_name, cluster, heat = call.groups()
    assert f"var {map_name} = L.map(" in page
    assert f"var {cluster} = L.markerClusterGroup(" in page
    assert f"var {heat} = L.heatLayer(" in page
    assert f"{heat}.addTo(" not in page  # the heat map starts hidden
    assert '"chunkedLoading": true' in page


def test_bounds_and_tiles_are_optional() -> None:
    assert "fitBounds" not in _page()
    framed = _page(bounds=(119.0, 35.0, 119.5, 35.6))
    assert "fitBounds" in framed and "[35.0, 119.0]" in framed and "[35.6, 119.5]" in framed
    tiled = _page(tiles_url="https://tiles.intranet.example/{z}/{x}/{y}.png")
    assert assert_no_external_urls(tiled, allowed=["https://tiles.intranet.example/"]) == []
    assert "L.tileLayer(" in tiled and "L.tileLayer(" not in _page()


def test_configuration_json_cannot_close_the_script() -> None:
    nasty = "</script><script>alert(1)</script> & \u2028"
    text = script_json({"label": nasty})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"label": nasty}
    page = _page(labels={"reports": nasty, "heat": "h"})
    assert "</script><script>alert(1)" not in page
