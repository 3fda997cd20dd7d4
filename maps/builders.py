"""Folium map builders fed plain GeoJSON dicts (never a database session)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import folium

from maps.offline import offline_map

# Rizhao's centre and a zoom that shows the whole city on a laptop screen.
CITY_CENTRE = (35.55, 119.15)
CITY_ZOOM = 9

COUNTY_COLOURS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1"]


@dataclass(frozen=True)
class MapParts:
    """The pieces of a rendered Folium figure, to embed in our own page template."""

    header: str
    html: str
    script: str


def render_parts(m: folium.Map) -> MapParts:
    """Render a map into header/body/script pieces (folium's documented way to embed a map in
    a Flask template instead of an iframe)."""
    root = m.get_root()
    root.render()
    return MapParts(
        header=root.header.render(),  # type: ignore[attr-defined]
        html=root.html.render(),  # type: ignore[attr-defined]
        script=root.script.render(),  # type: ignore[attr-defined]
    )


def city_overview(
    counties: dict[str, Any],
    townships: dict[str, Any],
    *,
    static_url: str,
    labels: dict[str, str],
    tiles_url: str | None = None,
    tiles_attribution: str | None = None,
) -> folium.Map:
    """The first page's map: counties filled by colour, township outlines on top, with
    tooltips. Tooltips insert property values as HTML, so properties are escaped first."""
    m = offline_map(
        static_url,
        tiles_url=tiles_url,
        tiles_attribution=tiles_attribution,
        location=CITY_CENTRE,
        zoom_start=CITY_ZOOM,
        control_scale=True,
    )
    colour_of = {
        f["properties"]["code"]: COUNTY_COLOURS[i % len(COUNTY_COLOURS)]
        for i, f in enumerate(counties["features"])
    }
    county_layer = folium.GeoJson(
        _escaped(counties),
        name=labels["counties"],
        style_function=lambda f: {
            "fillColor": colour_of.get(f["properties"]["code"], "#999"),
            "color": "#333",
            "weight": 2,
            "fillOpacity": 0.35,
        },
        tooltip=folium.GeoJsonTooltip(
            fields=["name", "code"], aliases=[labels["name"], labels["code"]]
        ),
    )
    township_layer = folium.GeoJson(
        _escaped(townships),
        name=labels["townships"],
        style_function=lambda _f: {"fill": False, "color": "#555", "weight": 1},
        highlight_function=lambda _f: {"weight": 3, "color": "#d62728"},
        tooltip=folium.GeoJsonTooltip(
            fields=["name", "code"], aliases=[labels["name"], labels["code"]]
        ),
    )
    county_layer.add_to(m)
    township_layer.add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    if counties["features"]:
        bounds = _bounds(counties)
        m.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]])
    return m


def _escaped(collection: dict[str, Any]) -> dict[str, Any]:
    """A copy with every string property HTML-escaped: Leaflet tooltips and popups insert
    strings as HTML, and names come from files anyone could have edited."""
    from html import escape

    def clean(props: dict[str, Any]) -> dict[str, Any]:
        return {k: escape(v) if isinstance(v, str) else v for k, v in props.items()}

    return {
        **collection,
        "features": [{**f, "properties": clean(f["properties"])} for f in collection["features"]],
    }


def _bounds(collection: dict[str, Any]) -> tuple[float, float, float, float]:
    boxes = [f["bbox"] for f in collection["features"] if "bbox" in f]
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )
