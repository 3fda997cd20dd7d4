"""City and county staff's pages, /city/…: the hotspot map.

The map page is a Folium frame (`maps.city_map`) served with every asset local; its layers
are fetched by the page script from /api/v1/layers/… and /api/v1/hotspots with the session
cookie, so the HTML stays small whatever the number of reports.

Coordinates on GCJ-02 base tiles (``TILE_CRS=gcj02``, e.g. AMap or Tencent tiles on an
intranet): the data stays WGS-84 in every API answer, and the page script shifts it for
display with a port of `grid.crs.wgs84_to_gcj02` (one place for every layer, including the
hotspot alerts another service answers). Only the cell vector tiles, drawn on the server,
are shifted there (``display_crs=gcj02``)."""

from __future__ import annotations

from typing import Any, Final

from flask import Blueprint, current_app, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from fieldapp import bounds
from fieldapp.auth import login_required, web_user
from fieldapp.blueprints.layers import MAP_ROLES
from fieldapp.db import db
from fieldapp.domain import CHINA_TZ, SEVERITIES
from fieldapp.i18n import language, language_tag
from fieldapp.labels import SEVERITY_LABELS, STATE_LABELS
from fieldapp.models import Area, User
from fieldapp.services import geography
from fieldapp.services.reports import list_categories
from grid.crs import from_wgs84
from maps.builders import render_parts
from maps.city_map import city_map

bp = Blueprint("city", __name__, url_prefix="/city")

#: Time windows offered, in days back from today (China time); "custom" opens date fields.
WINDOWS: Final = (7, 30, 90, 365)
DEFAULT_WINDOW_DAYS: Final = 30
DEFAULT_LEVEL: Final = "township"
HOTSPOTS_PATH: Final = "/api/v1/hotspots"
DISPLAY_CRS: Final = ("wgs84", "gcj02")
# url_for needs numbers for the tile route; these are replaced by {z}/{x}/{y} placeholders.
_TILE_SENTINELS: Final = {"z": 987654, "x": 876543, "y": 765432}


def _route_exists(path: str) -> bool:
    """Whether the app answers GET `path`. The hotspot API is optional (another part of the
    platform); asking a missing one would put a 404 in the browser console."""
    adapter = current_app.url_map.bind("localhost")
    try:
        adapter.match(path, method="GET")
    except HTTPException:
        return False
    return True


def _tile_url_template() -> str:
    url = url_for(
        "layers.cell_tile",
        z=_TILE_SENTINELS["z"],
        x=_TILE_SENTINELS["x"],
        y=_TILE_SENTINELS["y"],
    )
    for name, value in _TILE_SENTINELS.items():
        url = url.replace(f"/{value}", f"/{{{name}}}", 1)
    return url


def _bounds(user: User) -> tuple[float, float, float, float] | None:
    """What to show first: the user's county for county staff, the whole city otherwise."""
    session = db.session
    if user.role == "county" and user.area_id is not None:
        area = session.get(Area, user.area_id)
        features = [
            f
            for f in geography.area_layer(session, "county")["features"]
            if area is not None and f["id"] == area.code
        ]
    else:
        features = geography.area_layer(session, "county")["features"]
    if not features:
        return None
    boxes = [f["bbox"] for f in features]
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def _display_crs() -> str:
    value = str(current_app.config.get("TILE_CRS") or "wgs84").lower()
    if value not in DISPLAY_CRS:
        current_app.logger.warning("TILE_CRS=%s is not one of %s; using wgs84", value, DISPLAY_CRS)
        return "wgs84"
    return value


def _labels() -> dict[str, str]:
    """Every string the page script shows, in the request's language."""
    return {
        "areas": _("Reports by area"),
        "cells_of": _("Grid cells of %(name)s"),
        "back": _("Back to all townships"),
        "reports": _("Report markers"),
        "heat": _("Heat map"),
        "hotspots": _("Hotspot alerts"),
        "cell_tiles": _("Grid cell outlines"),
        "count": _("Number of reports"),
        "rate": _("Reports per 10,000 residents"),
        "none": _("No reports"),
        "no_data": _("No population data"),
        "total": _("%(n)s reports in the window"),
        "level_county": _("County-level units"),
        "level_township": _("Townships"),
        "level_village": _("Villages and communities"),
        "level_cell": _("Grid cells"),
        "loading": _("Loading…"),
        "load_failed": _("The map data could not be loaded. Check the connection and try again."),
        "shown": _("%(n)s reports shown"),
        "truncated": _("Only the newest %(n)s reports are shown; narrow the time window."),
        "category": _("Category"),
        "severity": _("Severity"),
        "status": _("Status"),
        "reported_at": _("Reported at"),
        "method": _("Method"),
        "statistic": _("Statistic"),
        "p_value": _("p-value"),
        "period": _("Period"),
        "recurrence": _("Recurs about every %(n)s days"),
        "method_gi_star": _("Hot spot (Gi*)"),
        "method_emerging": _("Emerging hot spot"),
        "method_scan": _("Space-time cluster (scan)"),
        "method_ebp": _("More than usual for the place (own baseline)"),
        "alert_new": _("New alert"),
        "alert_acknowledged": _("Acknowledged"),
        "alert_supervised": _("Under supervision"),
        "alert_expired": _("Expired"),
        # severities: the labels of every page (fieldapp.labels), written once
        **{f"sev_{key}": str(text) for key, text in SEVERITY_LABELS.items()},
        # a report's state: the labels of every page (fieldapp.labels), written once
        **{f"status_{key}": str(label) for key, label in STATE_LABELS.items()},
        **_hotspot_labels(),
    }


def _hotspot_labels() -> dict[str, str]:
    """The strings of the alert popups and the two map analyses."""
    from fieldapp.services.hotspots import pattern_labels

    labels = {
        "open_cases": _("Open the cases of these cells and days"),
        "alert_list": _("In the alert list"),
        "cells": _("Where"),
        "observed_expected": _("Reports"),
        "observed_vs_expected": _("%(observed)s observed, %(expected)s expected"),
        "relative_risk": _("Relative risk"),
        "all_categories": _("All categories"),
        "unusual": _("How unusual"),
        "analysis_gi": _("Hot spot analysis (Gi*, last 28 days)"),
        "analysis_emerging": _("Emerging hot spots (52 weeks)"),
        "gi_3": _("Hot spot, %(level)s confidence", level="99%"),
        "gi_2": _("Hot spot, %(level)s confidence", level="95%"),
        "gi_1": _("Hot spot, %(level)s confidence", level="90%"),
        "gi_0": _("Not significant"),
        "gi_-1": _("Cold spot, %(level)s confidence", level="90%"),
        "gi_-2": _("Cold spot, %(level)s confidence", level="95%"),
        "gi_-3": _("Cold spot, %(level)s confidence", level="99%"),
        "analysis_note": _("A map analysis, not an alert: where reports are many, not unusual."),
        "cells_count": _("%(n)s cells"),
    }
    patterns = pattern_labels()
    from maps.hotspots import Pattern

    for p in Pattern:
        labels[f"pattern_{int(p)}"] = patterns[p.label]
    return labels


@bp.get("/map")
@login_required
def map_page() -> ResponseReturnValue:
    """The hotspot map: choropleth by area, report clusters, heat, hotspot alerts."""
    user = web_user()
    assert user is not None  # login_required
    if user.role not in MAP_ROLES:
        return render_template("city/forbidden.html"), 403
    display_crs = _display_crs()
    bounds = _bounds(user)
    focus = _focus(user)
    if focus is not None:
        bounds = _padded(focus["bbox"])
    if bounds is not None and display_crs != "wgs84":
        lo = from_wgs84(bounds[0], bounds[1], display_crs)
        hi = from_wgs84(bounds[2], bounds[3], display_crs)
        bounds = (lo[0], lo[1], hi[0], hi[1])
    categories = list_categories(db.session, language())
    config: dict[str, Any] = {
        "language": language(),
        "locale": language_tag(),
        "display_crs": display_crs,
        # The zone the date window's days are counted in (the computer's own may differ).
        "time_zone": CHINA_TZ.key,
        "severities": list(SEVERITIES),
        "level": DEFAULT_LEVEL,
        "metric": "count",
        "window_days": DEFAULT_WINDOW_DAYS,
        "urls": {
            "choropleth": url_for("layers.choropleth"),
            "reports": url_for("layers.reports"),
            "township_cells": url_for("layers.township_cells", code="__CODE__"),
            "tiles": _tile_url_template(),
            "hotspots": HOTSPOTS_PATH if _route_exists(HOTSPOTS_PATH) else None,
            "report_cells": url_for("layers.report_cells"),
            "cases": url_for("dashboard.cases") if "dashboard" in current_app.blueprints else None,
            "alerts_page": url_for("city.alerts_page"),
            "analysis": (
                HOTSPOTS_PATH + "/analysis/"
                if _route_exists(HOTSPOTS_PATH + "/analysis/gi_star")
                else None
            ),
        },
        "labels": _labels(),
        "focus": focus,
        # Hotspot alerts name their categories by code.
        "categories": {c["code"]: c["name"] for c in categories},
    }
    m = city_map(
        config,
        script_url=url_for("static", filename="city/map.js"),
        style_url=url_for("static", filename="city/map.css"),
        labels={"reports": _("Report markers"), "heat": _("Heat map")},
        static_url=url_for("static", filename="vendor").rstrip("/"),
        bounds=bounds,
        tiles_url=current_app.config.get("TILE_URL"),
        tiles_attribution=current_app.config.get("TILE_ATTRIBUTION"),
    )
    return render_template(
        "city/map.html",
        map=render_parts(m),
        categories=categories,
        windows=WINDOWS,
        default_window=DEFAULT_WINDOW_DAYS,
        default_level=DEFAULT_LEVEL,
    )


def _focus(user: User) -> dict[str, Any] | None:
    """?focus=<cell code>[&analysis=gi_star|emerging]: a row of the analysis table opens the
    map on that cell, outlined, with its analysis layer switched on."""
    from flask import request

    from fieldapp.services import hotspots

    focus = hotspots.cell_focus(db.session, user, request.args.get("focus", ""))
    if focus is not None:
        analysis = request.args.get("analysis")
        focus["analysis"] = analysis if analysis in hotspots.ANALYSES else None
    return focus


def _padded(box: list[float]) -> tuple[float, float, float, float]:
    """The cell's box with its neighbours around it (one cell's size on each side)."""
    dx, dy = box[2] - box[0], box[3] - box[1]
    return (box[0] - dx, box[1] - dy, box[2] + dx, box[3] + dy)


# --- the alert list (acknowledge, supervise) -----------------------------------------------


def _method_labels() -> dict[str, str]:
    return {
        "scan": _("Space-time cluster (scan)"),
        "gi_star": _("Hot spot (Gi*)"),
        "emerging": _("Emerging hot spot"),
        "ebp": _("More than usual for the place (own baseline)"),
    }


def _status_labels() -> dict[str, str]:
    return {
        "new": _("New alert"),
        "acknowledged": _("Acknowledged"),
        "supervised": _("Under supervision"),
        "expired": _("Expired"),
    }


def _alert_rows(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The alerts as the list shows them: a small map, the days, the categories by name and
    the link to exactly their cases (cells, days, categories)."""
    from datetime import date
    from urllib.parse import urlencode

    from maps.city_map import geometry_svg_path

    names = {c["code"]: c["name"] for c in list_categories(db.session, language())}
    rows = []
    for alert in alerts:
        period = alert["period"]
        args = {"cells": ",".join(alert["cells"]), "from": period["from"], "to": period["to"]}
        if alert["categories"]:
            args["category"] = ",".join(alert["categories"])
        days = (date.fromisoformat(period["to"]) - date.fromisoformat(period["from"])).days + 1
        rows.append(
            {
                **alert,
                "svg": geometry_svg_path(alert.get("geometry")),
                "days": days,
                "category_names": "、".join(names.get(c, c) for c in alert["categories"])
                or _("All categories"),
                "cases_url": f"{url_for('dashboard.cases')}?{urlencode(args)}",
            }
        )
    return rows


def _render_alerts(
    user: User, *, error: str | None = None, typed: dict[int, dict[str, str]] | None = None
) -> str:
    from fieldapp.services import hotspots

    alerts = hotspots.list_alerts(db.session, user)
    return render_template(
        "city/alerts.html",
        alerts=_alert_rows(alerts),
        methods=_method_labels(),
        statuses=_status_labels(),
        may_supervise=user.role == "city",
        error=error,
        typed=typed or {},
    )


@bp.get("/alerts")
@login_required
def alerts_page() -> ResponseReturnValue:
    """Hotspot alerts as a list: where, when, how many reports against how many expected,
    how unusual in words, the cases behind each; acknowledge them, or turn one into
    supervision orders (督办) on the open cases behind it."""
    user = web_user()
    assert user is not None  # login_required
    if user.role not in MAP_ROLES:
        return render_template("city/forbidden.html"), 403
    return _render_alerts(user)


@bp.post("/alerts/<int(max=2147483647):alert_id>/<action>")
@login_required
def alert_action(alert_id: int, action: str) -> ResponseReturnValue:
    """Acknowledge or supervise; a refusal shows the list again with the message and what
    was typed kept in the form (status 400/403/404/409), never a redirect that loses it."""
    from datetime import UTC, datetime

    from flask import flash, redirect, request

    from fieldapp.services import hotspots
    from fieldapp.services.errors import DomainError

    user = web_user()
    assert user is not None  # login_required
    if user.role not in MAP_ROLES:
        return render_template("city/forbidden.html"), 403
    typed = {
        alert_id: {
            "due": request.form.get("due", "")[:10],
            "note": request.form.get("note", "")[:2000],
        }
    }

    def refuse(message: str, status: int = 400) -> ResponseReturnValue:
        db.session.rollback()
        return _render_alerts(user, error=message, typed=typed), status

    try:
        if action == "acknowledge":
            hotspots.acknowledge(db.session, user, alert_id, remote_addr=request.remote_addr)
            flash(_("Alert acknowledged."))
        elif action == "supervise":
            try:
                # The shared parser (fieldapp.bounds): a day inside the date window.
                day = bounds.parse_day(request.form.get("due"))
            except ValueError as exc:
                return refuse(str(exc))
            if day is None:
                return refuse(_("Choose the date by which the cases must be handled."))
            due = bounds.day_end(day)
            if due <= datetime.now(UTC):
                return refuse(_("The date must be in the future."))
            result = hotspots.supervise(
                db.session,
                user,
                alert_id,
                due,
                request.form.get("note", "").strip(),
                remote_addr=request.remote_addr,
            )
            flash(_("Supervision orders issued on %(n)d case(s).", n=len(result.case_ids)))
        else:
            return refuse(_("Unknown action."), 404)
        db.session.commit()
    except DomainError as err:
        message = err.message
        if err.fields:
            message += " " + " ".join(str(v) for v in err.fields.values())
        return refuse(message, err.status)
    return redirect(url_for("city.alerts_page"))


# --- the map analyses as a table (issue 13: "layers and a table") --------------------------

ANALYSIS_PAGE_SIZE: Final = 100
ANALYSIS_SIDES: Final = ("hot", "cold", "all")


def _analysis_kinds() -> dict[str, str]:
    return {
        "gi_star": _("Hot spot analysis (Gi*, last 28 days)"),
        "emerging": _("Emerging hot spots (52 weeks)"),
    }


def _analysis_sorts() -> dict[str, str]:
    return {
        "strength": _("Strongest first"),
        "township": _("Township"),
        "class": _("Class"),
        "observed": _("Reports"),
    }


@bp.get("/hotspots/analysis")
@login_required
def analysis_page() -> ResponseReturnValue:
    """The two map analyses (Gi* confidence classes, emerging hot spot patterns) as a table:
    one row per classed cell — township, cell, class or pattern, reports observed vs
    expected, how unusual in words — filtered and sorted on the server, each row linking to
    the map zoomed to the cell and to the cases of the cell in the analysed period."""
    from datetime import timedelta
    from urllib.parse import urlencode

    from flask import request

    from fieldapp.services import hotspots

    user = web_user()
    assert user is not None  # login_required
    if user.role not in MAP_ROLES:
        return render_template("city/forbidden.html"), 403
    args = request.args
    kind = args.get("kind", "gi_star")
    kind = kind if kind in hotspots.ANALYSES else "gi_star"
    side = args.get("side", "hot")
    side = side if side in ANALYSIS_SIDES else "hot"
    sort = args.get("sort", "strength")
    sort = sort if sort in hotspots.TABLE_SORTS else "strength"
    township = args.get("township", "")[:32]
    try:
        day = bounds.parse_day(args.get("day"))
        error = None
    except ValueError as exc:
        day, error = None, str(exc)
    today = day + timedelta(days=1) if day is not None else None
    table = hotspots.analysis_table(
        db.session,
        user,
        kind,
        today=today,
        settings=hotspots.settings_from_config(current_app.config),
    )
    rows: list[dict[str, Any]] = table["rows"]
    townships = sorted({(r["township_code"], r["township"]) for r in rows}, key=lambda t: t[0])
    if side != "all":
        rows = [r for r in rows if r["hot"] == (side == "hot")]
    if township:
        rows = [r for r in rows if r["township_code"] == township]
    rows = hotspots.sort_rows(rows, sort)
    try:
        page = max(1, int(args.get("page", "1")))
    except ValueError:
        page = 1
    pages = max(1, -(-len(rows) // ANALYSIS_PAGE_SIZE))
    page = min(page, pages)
    shown = rows[(page - 1) * ANALYSIS_PAGE_SIZE : page * ANALYSIS_PAGE_SIZE]
    period = table["period"]
    cases = url_for("dashboard.cases") if "dashboard" in current_app.blueprints else None
    for r in shown:
        r["map_url"] = url_for("city.map_page", focus=r["code"], analysis=kind)
        r["cases_url"] = (
            f"{cases}?{urlencode({'cells': r['code'], 'from': period['from'], 'to': period['to']})}"
            if cases
            else None
        )
    kept = {
        k: v
        for k, v in {"kind": kind, "side": side, "sort": sort, "township": township}.items()
        if v
    }
    if day is not None:
        kept["day"] = day.isoformat()

    def page_url(**changes: Any) -> str:
        return url_for("city.analysis_page", **{**kept, **changes})

    return render_template(
        "city/analysis.html",
        kind=kind,
        kinds=_analysis_kinds(),
        side=side,
        sort=sort,
        sorts=_analysis_sorts(),
        township=township,
        townships=townships,
        day=day,
        error=error,
        period=period,
        p_values=table["p_values"],
        rows=shown,
        total=len(rows),
        page=page,
        pages=pages,
        page_url=page_url,
    )
