"""Map pages must work with no internet: every asset a rendered map references is served from
fieldapp/static/vendor and exists there, and base tiles come only from a configured server."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import branca.colormap
import folium
import pytest
from branca.element import Figure
from folium import plugins
from folium.elements import JSCSSMixin

from maps.offline import (
    CDN_TO_VENDOR,
    DEFAULT_STATIC_URL,
    UnvendoredAssetError,
    assert_no_external_urls,
    localize,
    offline_map,
)

REPO = Path(__file__).resolve().parents[2]
VENDOR = REPO / "fieldapp" / "static" / "vendor"

# Two cells side by side, in Rizhao's extent.
CELLS: dict[str, Any] = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"code": code, "name": name, "reports": reports},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[x, 35.40], [x + 0.01, 35.40], [x + 0.01, 35.41],
                                 [x, 35.41], [x, 35.40]]],
            },
        }
        for code, name, reports, x in [("c1", "一网格", 3, 119.50), ("c2", "二网格", 9, 119.51)]
    ],
}  # fmt: skip
POINTS = [[35.401, 119.501, 1.0], [35.405, 119.505, 3.0], [35.409, 119.515, 2.0]]


def _full_map(**kwargs: Any) -> folium.Map:
    """A map with every element and plugin our pages use. The plugins are added after the map
    is built, as the map builders do, to prove they need no extra step."""
    m = offline_map(location=[35.405, 119.51], zoom_start=14, **kwargs)
    scale = branca.colormap.LinearColormap(["#ffffb2", "#bd0026"], vmin=0, vmax=10,
                                           caption="Reports")  # fmt: skip
    folium.GeoJson(
        CELLS,
        name="cells",
        style_function=lambda f: {"fillColor": scale(f["properties"]["reports"]), "weight": 1},
        highlight_function=lambda _f: {"weight": 3},
        tooltip=folium.GeoJsonTooltip(fields=["name", "reports"]),
        popup=folium.GeoJsonPopup(fields=["code"]),
    ).add_to(m)
    scale.add_to(m)  # the legend: branca writes d3's CDN link while rendering
    folium.Choropleth(
        CELLS,
        data={"c1": 3, "c2": 9},
        key_on="feature.properties.code",
        fill_color="YlOrRd",
        legend_name="Reports per cell",
        name="choropleth",
    ).add_to(m)
    cluster = plugins.MarkerCluster(name="reports").add_to(m)
    folium.Marker(POINTS[0][:2]).add_to(cluster)  # Leaflet's default icon images
    folium.Marker(POINTS[1][:2], icon=folium.Icon(color="red", icon="info-sign")).add_to(cluster)
    folium.Marker(POINTS[2][:2], icon=folium.Icon(prefix="fa", icon="user", angle=30)).add_to(
        cluster
    )
    plugins.HeatMap(POINTS, name="heat").add_to(m)
    plugins.Fullscreen().add_to(m)
    folium.LayerControl().add_to(m)
    return m


def _vendor_refs(html: str, static_url: str = DEFAULT_STATIC_URL) -> set[str]:
    """Paths below static_url that the page's <script src> and <link href> point at."""
    pattern = re.compile(r"""(?:src|href)=["']""" + re.escape(static_url) + r"""/([^"']+)["']""")
    return set(pattern.findall(html))


def test_full_map_loads_nothing_from_the_internet() -> None:
    html = _full_map().get_root().render()

    assert assert_no_external_urls(html) == []
    # No base tiles unless configured.
    assert "L.tileLayer" not in html


def test_map_without_tiles_still_has_a_zoom_range() -> None:
    # Leaflet takes the zoom range from tile layers; without one MarkerCluster throws
    # "Map has no maxZoom specified" in the browser and the rest of the page's script stops.
    html = offline_map().get_root().render()
    assert '"maxZoom": 18' in html
    assert '"minZoom": 0' in html
    assert '"maxZoom": 16' in offline_map(max_zoom=16).get_root().render()


def test_every_referenced_vendor_file_exists() -> None:
    html = _full_map().get_root().render()
    refs = _vendor_refs(html)

    # Leaflet, jQuery, Bootstrap, glyphicons, Font Awesome, awesome-markers (+rotate),
    # MarkerCluster (3), HeatMap, Fullscreen (2) and d3 for the legends.
    assert len(refs) == 17, sorted(refs)
    assert "d3/3.5.5/d3.min.js" in refs
    assert [ref for ref in refs if not (VENDOR / ref).is_file()] == []


def test_embedding_the_header_separately_is_localized_too() -> None:
    # How pages embed a map: render the figure, then each part into our own template.
    root = _full_map().get_root()
    assert isinstance(root, Figure)
    root.render()
    header = root.header.render()

    assert assert_no_external_urls(header) == []
    assert f'src="{DEFAULT_STATIC_URL}/leaflet/1.9.3/leaflet.js"' in header


def test_static_url_prefix_is_used() -> None:
    html = _full_map(static_url="https://intranet.example/app/static/vendor/").get_root().render()

    refs = _vendor_refs(html, "https://intranet.example/app/static/vendor")
    assert "leaflet/1.9.3/leaflet.css" in refs
    assert assert_no_external_urls(html, allowed=["https://intranet.example/app/"]) == []


def test_localizing_a_plugin_keeps_the_maps_static_url() -> None:
    m = offline_map("/app/static/vendor")
    cluster = plugins.MarkerCluster().add_to(m)
    localize(cluster)  # default static_url, as a builder might forget to pass it
    branca.colormap.LinearColormap(["red", "blue"]).add_to(m)
    html = m.get_root().render()

    assert "d3/3.5.5/d3.min.js" in _vendor_refs(html, "/app/static/vendor")
    assert assert_no_external_urls(html) == []


def test_every_mapped_asset_and_its_css_references_exist() -> None:
    missing = [rel for rel in CDN_TO_VENDOR.values() if not (VENDOR / rel).is_file()]
    assert missing == []

    # Fonts and images that the stylesheets load relative to themselves.
    broken = []
    for css in VENDOR.rglob("*.css"):
        for ref in re.findall(r"""url\(\s*['"]?([^'")]+)['"]?\s*\)""", css.read_text("utf-8")):
            if ref.startswith(("data:", "#")):
                continue
            target = (css.parent / ref.split("?")[0].split("#")[0]).resolve()
            if not target.is_file():
                broken.append(f"{css.relative_to(VENDOR)} -> {ref}")
    assert broken == []


def test_every_vendored_package_ships_its_licence() -> None:
    assert (VENDOR / "MANIFEST.md").is_file()
    package_dirs = {Path(rel).parts[0] + "/" + Path(rel).parts[1] for rel in CDN_TO_VENDOR.values()}
    unlicensed = [d for d in package_dirs if not list((VENDOR / d).glob("*LICEN[CS]E*"))]
    assert unlicensed == []


@pytest.mark.parametrize(
    "cls",
    [folium.Map, plugins.MarkerCluster, plugins.HeatMap, plugins.Fullscreen,
     plugins.VectorGridProtobuf],
)  # fmt: skip
def test_folium_asset_urls_are_all_vendored(cls: type[JSCSSMixin]) -> None:
    # Fails when a folium upgrade changes a pinned CDN URL: re-run scripts/vendor_assets.sh
    # with the new versions and update CDN_TO_VENDOR.
    urls = [url for _name, url in [*cls.default_js, *cls.default_css]]
    assert [url for url in urls if url not in CDN_TO_VENDOR] == []


def test_tiles_url_is_the_only_tile_source() -> None:
    tiles = "https://tiles.intranet.example/rizhao/{z}/{x}/{y}.png"
    m = _full_map(tiles_url=tiles, tiles_attribution="© 日照市自然资源局")
    html = m.get_root().render()

    assert f'L.tileLayer(\n                "{tiles}"' in html
    assert html.count("L.tileLayer(") == 1
    assert json.dumps("© 日照市自然资源局") in html  # escaped by folium's tojavascript
    assert assert_no_external_urls(html) == [tiles]
    assert assert_no_external_urls(html, allowed=["https://tiles.intranet.example/"]) == []


def test_tile_options_and_default_attribution() -> None:
    tiles = "http://t{s}.tianditu.gov.cn/vec_w/wmts?TILEMATRIX={z}&TILEROW={y}&TILECOL={x}"
    m = offline_map(tiles_url=tiles, tiles_options={"subdomains": "01234567"}, max_zoom=18)
    layer = next(c for c in m._children.values() if isinstance(c, folium.TileLayer))

    assert layer.tiles == tiles
    assert layer.options["subdomains"] == "01234567"
    assert layer.options["max_zoom"] == 18
    assert layer.options["attribution"] == "t{s}.tianditu.gov.cn"
    # Named for the layer control, not after the URL (which may carry an API key).
    assert layer.layer_name == "Base map"


def test_named_internet_tiles_are_refused() -> None:
    with pytest.raises(TypeError):
        offline_map(tiles="OpenStreetMap")


def test_localize_leaves_folium_defaults_alone() -> None:
    # Other code in the process (a notebook export, another static_url) keeps folium's own.
    before = list(folium.Map.default_js)
    offline_map()
    cluster = localize(plugins.MarkerCluster())

    assert folium.Map.default_js == before
    assert plugins.MarkerCluster.default_js[0][1].startswith("https://")
    assert cluster.default_js[0][1].startswith(f"{DEFAULT_STATIC_URL}/")


def test_localize_refuses_assets_that_are_not_vendored() -> None:
    m = offline_map()
    with pytest.raises(UnvendoredAssetError, match="MiniMap"):
        localize(plugins.MiniMap()).add_to(m)


def test_unvendored_plugin_is_reported_not_hidden() -> None:
    m = offline_map()
    plugins.MiniMap(tile_layer=None).add_to(m)  # added without localize()
    html = m.get_root().render()

    assert any("leaflet-minimap" in url for url in assert_no_external_urls(html))


def test_assert_no_external_urls_finds_absolute_and_protocol_relative_urls() -> None:
    html = (
        '<script src="/static/vendor/leaflet/1.9.3/leaflet.js"></script>'
        '<link href="//cdn.example.org/x.css"/>'
        '<svg xmlns="http://www.w3.org/2000/svg"></svg>'
        "<style>.a{background:url(https://img.example.org/a.png)}</style>"
        "<script>// a comment\nvar u = 'https://api.example.org/v1';</script>"
    )
    assert assert_no_external_urls(html) == [
        "//cdn.example.org/x.css",
        "https://img.example.org/a.png",
        "https://api.example.org/v1",
    ]
    assert assert_no_external_urls(html, allowed=["https://api.example.org/"]) == [
        "//cdn.example.org/x.css",
        "https://img.example.org/a.png",
    ]
