"""Folium maps that load nothing from the internet.

Government networks are closed, so a map page must never reach a CDN: Leaflet, jQuery,
Bootstrap, Font Awesome, the awesome-markers icons and every plugin script are served by the
app from ``fieldapp/static/vendor`` (fetched by ``scripts/vendor_assets.sh``), and base tiles
are off unless a tile server the network can reach is configured.

Folium emits its assets in two ways, and both are covered here:

* ``JSCSSMixin`` elements (the Map and most plugins) list ``(name, url)`` pairs in their
  ``default_js`` / ``default_css`` and add them to the figure header when rendered.
  :func:`localize` gives each such element its own lists pointing at the local copies.
* Some links are written straight into the header while rendering, out of reach of any
  build-time override: branca's colour-map legends (used by ``Choropleth``) hard-code d3's
  CDN URL in ``ColorMap.render``, and plugins may be added after the map was built. So the
  figure of a localized map also gets a header that rewrites every known CDN link when it is
  rendered; the header is rendered last (``Figure``'s template), after every element has
  added its links.

Pure module: no Flask and no database, only Folium.
"""

from __future__ import annotations

import html as html_lib
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

import folium
from branca.element import Element, Figure, Link
from folium.elements import JSCSSMixin

__all__ = [
    "CDN_TO_VENDOR",
    "DEFAULT_MAX_ZOOM",
    "DEFAULT_STATIC_URL",
    "UnvendoredAssetError",
    "assert_no_external_urls",
    "local_asset_url",
    "localize",
    "offline_map",
]

logger = logging.getLogger(__name__)

#: Where ``fieldapp`` serves ``fieldapp/static/vendor`` by default.
DEFAULT_STATIC_URL: Final = "/static/vendor"
#: Zoom range of a map without tiles (folium's and Leaflet's usual tile maximum).
DEFAULT_MAX_ZOOM: Final = 18

# The exact CDN URLs folium 0.20 and branca 0.8 emit, mapped to files under the vendor
# directory. Exact strings on purpose: when an upgrade of folium changes a pinned version,
# the new URL is unknown here, localize() refuses it and the offline test fails, instead of
# silently pairing a new folium with old assets. Keep in step with scripts/vendor_assets.sh.
CDN_TO_VENDOR: Final[Mapping[str, str]] = MappingProxyType(
    {
        # folium.Map defaults (folium/folium.py _default_js / _default_css)
        "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js": "leaflet/1.9.3/leaflet.js",
        "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css": (
            "leaflet/1.9.3/leaflet.css"
        ),
        "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/3.7.1/jquery.min.js",
        # the same jQuery build, as the timestamped plugins spell it
        "https://cdnjs.cloudflare.com/ajax/libs/jquery/3.7.1/jquery.min.js": (
            "jquery/3.7.1/jquery.min.js"
        ),
        "https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/js/bootstrap.bundle.min.js": (
            "bootstrap/5.2.2/js/bootstrap.bundle.min.js"
        ),
        "https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/css/bootstrap.min.css": (
            "bootstrap/5.2.2/css/bootstrap.min.css"
        ),
        "https://netdna.bootstrapcdn.com/bootstrap/3.0.0/css/bootstrap-glyphicons.css": (
            "bootstrap-glyphicons/3.4.1/css/bootstrap-glyphicons.min.css"
        ),
        "https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@6.2.0/css/all.min.css": (
            "fontawesome-free/6.2.0/css/all.min.css"
        ),
        "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/"
        "leaflet.awesome-markers.js": "leaflet.awesome-markers/2.0.5/leaflet.awesome-markers.js",
        "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/"
        "leaflet.awesome-markers.css": (
            "leaflet.awesome-markers/2.0.5/leaflet.awesome-markers.css"
        ),
        "https://cdn.jsdelivr.net/gh/python-visualization/folium/folium/templates/"
        "leaflet.awesome.rotate.min.css": "folium/0.20.0/leaflet.awesome.rotate.min.css",
        # folium.plugins.MarkerCluster
        "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/"
        "leaflet.markercluster.js": "leaflet.markercluster/1.1.0/leaflet.markercluster.js",
        "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/MarkerCluster.css": (
            "leaflet.markercluster/1.1.0/MarkerCluster.css"
        ),
        "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/"
        "MarkerCluster.Default.css": "leaflet.markercluster/1.1.0/MarkerCluster.Default.css",
        # folium.plugins.HeatMap (folium's patched leaflet.heat build)
        "https://cdn.jsdelivr.net/gh/python-visualization/folium@main/folium/templates/"
        "leaflet_heat.min.js": "folium/0.20.0/leaflet_heat.min.js",
        # folium.plugins.Fullscreen
        "https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.min.js": (
            "leaflet.fullscreen/3.0.0/Control.FullScreen.js"
        ),
        "https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.css": (
            "leaflet.fullscreen/3.0.0/Control.FullScreen.css"
        ),
        # branca colour-map legends (Choropleth, LinearColormap/StepColormap.add_to)
        "https://cdnjs.cloudflare.com/ajax/libs/d3/3.5.5/d3.min.js": "d3/3.5.5/d3.min.js",
        # folium.plugins.VectorGridProtobuf asks for "@latest", which is 1.3.0
        "https://unpkg.com/leaflet.vectorgrid@latest/dist/Leaflet.VectorGrid.bundled.js": (
            "leaflet.vectorgrid/1.3.0/Leaflet.VectorGrid.bundled.min.js"
        ),
    }
)

# Absolute URLs: http(s) anywhere, and protocol-relative "//host/..." where it starts an
# attribute value or a CSS url() (a bare "//" elsewhere is far more often a JS comment).
_EXTERNAL_URL_RE: Final = re.compile(
    r"""(?:\bhttps?:|(?<=["'(=])(?=//[\w-]))//[^\s"'<>()\\]+""", re.IGNORECASE
)
# XML namespace names (inline SVG) look like URLs but are identifiers; no browser fetches them.
_NAMESPACE_PREFIXES: Final = ("http://www.w3.org/",)

E = TypeVar("E", bound=Element)


class UnvendoredAssetError(LookupError):
    """An element wants a CDN asset that has no local copy in the vendor directory."""


def _is_external(url: str) -> bool:
    """True for URLs a browser would fetch from another host: absolute or protocol-relative."""
    parts = urlsplit(url)
    return bool(parts.scheme in ("http", "https") or (not parts.scheme and parts.netloc))


def local_asset_url(url: str, static_url: str = DEFAULT_STATIC_URL) -> str | None:
    """The local URL serving the asset Folium would fetch from ``url``.

    Returns ``url`` unchanged when it is already relative or local (nothing to do), the local
    copy's URL when ``url`` is a known CDN URL, and ``None`` when it is an external URL that
    has not been vendored.
    """
    base = static_url.rstrip("/")
    relative = CDN_TO_VENDOR.get(url)
    if relative is not None:
        return f"{base}/{relative}"
    # Already ours: static_url itself may be absolute (an intranet host), and links are
    # seen again on every render.
    if url.startswith(f"{base}/") or not _is_external(url):
        return url
    return None


def _localized_links(
    links: Iterable[tuple[str, str]], static_url: str, owner: Element, *, strict: bool
) -> list[tuple[str, str]]:
    out = []
    for name, url in links:
        local = local_asset_url(url, static_url)
        if local is None:
            if strict:
                raise UnvendoredAssetError(
                    f"{type(owner).__name__} loads {url!r} ({name}), which is not vendored: "
                    "add it to scripts/vendor_assets.sh and maps.offline.CDN_TO_VENDOR"
                )
            local = url
        out.append((name, local))
    return out


def _walk(element: Element) -> Iterator[Element]:
    """The element and all its descendants. branca has no public iterator; folium's own code
    walks ``_children`` the same way (e.g. ``Element.get_bounds``)."""
    yield element
    for child in list(element._children.values()):
        yield from _walk(child)


class _LocalHeader(Element):
    """A figure header that points known CDN links at the local copies as it renders.

    Links are added to the header while the figure renders (after any build-time change),
    and the header itself is rendered last, so this is the one place that sees them all,
    including those no ``default_js`` override can reach (branca's d3).
    """

    def __init__(self, static_url: str) -> None:
        super().__init__()
        self._name = "LocalHeader"
        self.static_url = static_url

    def render(self, **kwargs: Any) -> str:
        """Rewrite known CDN links to local URLs, then render the header as branca would."""
        for child in self._children.values():
            if not isinstance(child, Link):
                continue
            local = local_asset_url(child.url, self.static_url)
            if local is None:
                # Rendering must not fail in a request; assert_no_external_urls in the tests
                # is the net for this, the log the hint for whoever added the plugin.
                logger.warning("map asset %s is not vendored; the page needs internet", child.url)
            else:
                child.url = local
        return super().render(**kwargs)


def _install_local_header(figure: Figure, static_url: str, *, retarget: bool) -> None:
    """Swap the figure's header for a :class:`_LocalHeader`, keeping what it already holds."""
    header = figure.header
    if isinstance(header, _LocalHeader):
        if retarget:
            header.static_url = static_url
        return
    local = _LocalHeader(static_url)
    for name, child in header._children.items():
        local.add_child(child, name=name)
    local._parent = figure
    figure.header = local


def localize(element: E, static_url: str = DEFAULT_STATIC_URL, *, strict: bool = True) -> E:
    """Point the JS/CSS links of ``element`` and all its descendants at the vendored copies.

    Works on a whole map (``localize(m)``) or on a plugin instance before or after it is
    added (``localize(MarkerCluster()).add_to(m)``). Each element gets its own
    ``default_js``/``default_css`` lists: folium's ``add_js_link`` edits the class-level
    list in place, which would change every map in the process, and the static URL may differ
    per call (an app mounted under a prefix). When the element already sits in a figure, the
    figure's header is also made to rewrite links added later (plugins added after this call,
    branca colour-map legends).

    Maps from :func:`offline_map` already have that header, so plugins added to them need no
    call; calling it anyway fails early on an asset that is not vendored.

    Raises :class:`UnvendoredAssetError` (when ``strict``) for an external URL that has no
    local copy; with ``strict=False`` such links are left as they are.
    """
    for el in _walk(element):
        if isinstance(el, JSCSSMixin):
            el.default_js = _localized_links(el.default_js, static_url, el, strict=strict)
            el.default_css = _localized_links(el.default_css, static_url, el, strict=strict)
    root = element.get_root()
    if isinstance(root, Figure):
        # Only the map itself (a direct child of the figure) sets the header's static URL, so
        # localize(plugin) with the default cannot undo offline_map(custom_static_url).
        _install_local_header(root, static_url, retarget=element._parent is root)
    return element


def _default_attribution(tiles_url: str) -> str:
    # Folium refuses a custom tile URL without attribution; naming the server is the least we
    # can honestly say when the configuration gives none.
    host = urlsplit(tiles_url).hostname
    return html_lib.escape(host) if host else "Local tile server"


def offline_map(
    static_url: str = DEFAULT_STATIC_URL,
    *,
    tiles_url: str | None = None,
    tiles_attribution: str | None = None,
    tiles_options: Mapping[str, Any] | None = None,
    **map_kwargs: Any,
) -> folium.Map:
    """A ``folium.Map`` whose every script, stylesheet and font is served from ``static_url``.

    There are no base tiles unless ``tiles_url`` is given: an XYZ template reachable from the
    users' network, e.g. an intranet tile server ``/tiles/{z}/{x}/{y}.png`` or Tianditu
    ``https://t{s}.tianditu.gov.cn/vec_w/wmts?...&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=KEY``
    with ``tiles_options={"subdomains": "01234567"}``. ``tiles_attribution`` is the HTML shown
    in the corner (defaults to the tile server's host name). ``tiles_options`` go to
    ``folium.TileLayer`` (``name``, ``subdomains``, ``max_native_zoom``, ``tms`` …);
    ``min_zoom``/``max_zoom`` in ``map_kwargs`` set the zoom range of the map (default 0 to
    :data:`DEFAULT_MAX_ZOOM`, even without tiles) and of the tile layer.

    Everything else in ``map_kwargs`` goes to ``folium.Map`` (``location``, ``zoom_start``,
    ``control_scale`` …). Plugins added later are localized when the map renders; see
    :func:`localize`.
    """
    if "tiles" in map_kwargs:
        raise TypeError(
            "offline_map() takes tiles_url/tiles_attribution, not tiles: folium's named tile "
            "providers are internet services"
        )
    min_zoom = map_kwargs.get("min_zoom") or 0
    max_zoom = map_kwargs.get("max_zoom") or DEFAULT_MAX_ZOOM
    tiles: folium.TileLayer | None = None
    if tiles_url:
        options = dict(tiles_options or {})
        # Folium would name the layer after its URL, which shows in the layer control
        # (with any API key in it).
        options.setdefault("name", "Base map")
        options.setdefault("min_zoom", min_zoom)
        options.setdefault("max_zoom", max_zoom)
        tiles = folium.TileLayer(
            tiles=tiles_url,
            attr=tiles_attribution or _default_attribution(tiles_url),
            **options,
        )
    m = folium.Map(tiles=tiles, **map_kwargs)
    # Folium gives min_zoom/max_zoom to its tile layer only, and Leaflet takes the map's zoom
    # range from its tile layers; with no tiles the map has none, and MarkerCluster then
    # throws "Map has no maxZoom specified", which stops every script after it on the page.
    m.options.setdefault("min_zoom", min_zoom)
    m.options.setdefault("max_zoom", max_zoom)
    return localize(m, static_url)


def assert_no_external_urls(html: str, *, allowed: Iterable[str] = ()) -> list[str]:
    """The absolute (http, https or protocol-relative) URLs in rendered map HTML.

    An empty list means the page loads nothing from another host. Meant for tests, as
    ``assert assert_no_external_urls(html) == []`` so that a failure lists the culprits.
    URLs starting with one of ``allowed`` (e.g. the configured tile server) and XML namespace
    names (never fetched) are not reported. Each URL is reported once, in page order.
    """
    prefixes = tuple(allowed)
    found: dict[str, None] = {}
    for match in _EXTERNAL_URL_RE.finditer(html):
        url = match.group(0)
        if url.startswith(_NAMESPACE_PREFIXES) or (prefixes and url.startswith(prefixes)):
            continue
        found.setdefault(url, None)
    return list(found)
