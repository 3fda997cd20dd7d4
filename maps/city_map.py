"""The city staff's map (/city/map) as a Folium figure that loads nothing from the internet.

Folium builds the frame: the Leaflet map, an (optional) base tile layer, an empty marker
cluster and an empty heat layer, with every script and stylesheet served by the app
(`maps.offline`). The data is not inlined: the page script (``fieldapp/static/city/map.js``)
fetches the layers from ``/api/v1/layers/…`` and ``/api/v1/hotspots`` as the filters change, so
the page itself stays small however many reports there are.

This builder takes plain values (URLs, labels, bounds, a JSON-able configuration for the
script), never a database session.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any, Final

import folium
from branca.element import MacroElement
from folium.elements import JSCSSMixin
from folium.plugins import HeatMap, MarkerCluster
from jinja2 import Template

from fieldapp.domain import SEVERITY_COLOURS
from maps.builders import CITY_CENTRE, CITY_ZOOM
from maps.offline import DEFAULT_STATIC_URL, localize, offline_map

__all__ = ["CLASS_COLOURS", "NO_DATA_COLOUR", "SEVERITY_COLOURS", "city_map", "script_json"]

#: Class 0 (none) and classes 1–5, ColorBrewer "Reds" (sequential, colour-blind safe, prints
#: in grey scale in order).
CLASS_COLOURS: Final = ("#f2f2f2", "#fee5d9", "#fcae91", "#fb6a4a", "#de2d26", "#a50f15")
NO_DATA_COLOUR: Final = "#bdbdbd"

# Folium's Map asks for jQuery, Bootstrap, Font Awesome and the awesome-markers plugin by
# default: ~600 KB this page never uses (its controls are plain Leaflet and its markers are
# circles). Only Leaflet itself is kept.
_MAP_ASSETS_KEPT: Final = frozenset({"leaflet", "leaflet_css"})
# The vector-tile plugin, by the URL folium's VectorGridProtobuf uses, so that
# maps.offline.CDN_TO_VENDOR stays the one list of vendored assets.
_VECTORGRID_JS: Final = (
    "https://unpkg.com/leaflet.vectorgrid@latest/dist/Leaflet.VectorGrid.bundled.js"
)


def script_json(value: Any) -> str:
    """JSON safe to place inside an inline ``<script>``: no ``</script>``, no HTML comment
    or CDATA openers, and no U+2028/2029 (line breaks in older JavaScript)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for raw, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, escaped)
    return text


class _CityMapScript(JSCSSMixin, MacroElement):
    """Loads the page script and starts it with the map, cluster and heat layer it drives."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            CityMap.start(
                {
                    map: {{ this.map_name }},
                    cluster: {{ this.cluster_name }},
                    heat: {{ this.heat_name }}
                },
                {{ this.config_json }}
            );
        {% endmacro %}
        """
    )

    def __init__(
        self,
        *,
        map_name: str,
        cluster_name: str,
        heat_name: str,
        config: Mapping[str, Any],
        script_url: str,
        style_url: str,
    ) -> None:
        super().__init__()
        self._name = "CityMapScript"
        self.map_name = map_name
        self.cluster_name = cluster_name
        self.heat_name = heat_name
        self.config_json = script_json(config)
        self.default_js = [("leaflet.vectorgrid", _VECTORGRID_JS), ("city_map", script_url)]
        self.default_css = [("city_map_css", style_url)]


_SUM_ICON_JS = """function (cluster) {
  var n = 0;
  cluster.getAllChildMarkers().forEach(function (m) { n += m.options.count || 1; });
  var size = n < 100 ? "small" : (n < 1000 ? "medium" : "large");
  return L.divIcon({
    html: "<div><span>" + String(n) + "</span></div>",
    className: "marker-cluster marker-cluster-" + size,
    iconSize: L.point(40, 40)
  });
}"""


def city_map(
    config: Mapping[str, Any],
    *,
    script_url: str,
    style_url: str,
    labels: Mapping[str, str],
    static_url: str = DEFAULT_STATIC_URL,
    bounds: Sequence[float] | None = None,
    tiles_url: str | None = None,
    tiles_attribution: str | None = None,
) -> folium.Map:
    """The city map's Folium figure.

    - ``config``: handed to ``CityMap.start`` in the page script as JSON (API URLs, labels,
      initial level/metric/window, display CRS …); see ``fieldapp/static/city/map.js``.
    - ``script_url`` / ``style_url``: where the app serves the page script and its styles.
    - ``labels``: ``reports`` and ``heat``, the names of the two Folium-made layers.
    - ``bounds``: (min lon, min lat, max lon, max lat) to show first, e.g. the user's county;
      the city's centre and zoom otherwise.
    - ``tiles_url`` / ``tiles_attribution``: an XYZ base map the users' network can reach;
      none by default (see `maps.offline.offline_map`).
    """
    m = offline_map(
        static_url,
        tiles_url=tiles_url,
        tiles_attribution=tiles_attribution,
        location=CITY_CENTRE,
        zoom_start=CITY_ZOOM,
        control_scale=True,
        # Quarter zoom steps, so the first view fills the frame instead of the nearest whole
        # zoom leaving half of it empty.
        zoom_snap=0.25,
        zoom_delta=1,
    )
    m.default_js = [(n, u) for n, u in m.default_js if n in _MAP_ASSETS_KEPT]
    m.default_css = [(n, u) for n, u in m.default_css if n in _MAP_ASSETS_KEPT]
    if bounds is not None:
        min_lon, min_lat, max_lon, max_lat = bounds
        m.fit_bounds([[min_lat, min_lon], [max_lat, max_lon]])

    cluster = MarkerCluster(
        name=escape(labels["reports"]),
        control=False,  # the page script builds the one layer control
        options={
            # addLayers() in chunks keeps the page responsive with thousands of markers
            "chunkedLoading": True,
            "showCoverageOnHover": False,
            "maxClusterRadius": 50,
        },
        # Each marker is a cell carrying its report count: a bubble shows the sum of its
        # cells' reports, not the number of cells, so bubbles agree with the legend total.
        icon_create_function=_SUM_ICON_JS,
    ).add_to(m)
    heat = HeatMap(
        [],
        name=escape(labels["heat"]),
        control=False,
        show=False,  # off at first: it hides the choropleth under it
        radius=18,
        blur=15,
        min_opacity=0.35,
    ).add_to(m)
    script = _CityMapScript(
        map_name=m.get_name(),
        cluster_name=cluster.get_name(),
        heat_name=heat.get_name(),
        config={
            **config,
            "colours": {
                "classes": list(CLASS_COLOURS),
                "no_data": NO_DATA_COLOUR,
                "severity": SEVERITY_COLOURS,
            },
        },
        script_url=script_url,
        style_url=style_url,
    )
    script.add_to(m)
    # The script element names CDN URLs folium's own plugins would use; map them now so a
    # missing vendored copy fails here rather than in a browser.
    return localize(m, static_url)


def geometry_svg_path(
    geometry: Mapping[str, Any] | None, width: float = 120.0, height: float = 90.0, pad: float = 4
) -> str:
    """An SVG path (``d``) drawing a GeoJSON Polygon/MultiPolygon scaled into a width × height
    box (north up, longitude shrunk by cos latitude): the small map of a hotspot alert on the
    alert list, without a map library. Numbers only, so it is safe to put in a page."""
    import math

    if not geometry or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        return ""
    polygons = (
        [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    )
    rings = [ring for polygon in polygons for ring in polygon if ring]
    if not rings:
        return ""
    xs = [p[0] for ring in rings for p in ring]
    ys = [p[1] for ring in rings for p in ring]
    k = math.cos(math.radians((min(ys) + max(ys)) / 2))
    span_x = max((max(xs) - min(xs)) * k, 1e-9)
    span_y = max(max(ys) - min(ys), 1e-9)
    scale = min((width - 2 * pad) / span_x, (height - 2 * pad) / span_y)
    ox = (width - span_x * scale) / 2
    oy = (height - span_y * scale) / 2
    parts = []
    for ring in rings:
        points = [
            f"{ox + (x - min(xs)) * k * scale:.1f},{height - oy - (y - min(ys)) * scale:.1f}"
            for x, y, *_rest in ring
        ]
        parts.append("M" + " L".join(points) + " Z")
    return " ".join(parts)
