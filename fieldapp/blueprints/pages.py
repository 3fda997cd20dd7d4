"""Server-rendered pages. The first page: the city, its counties and townships on a map served
entirely by the app (no CDN, no base tiles unless configured)."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, send_from_directory, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from fieldapp.db import db
from fieldapp.services import geography
from grid import queries
from maps.builders import city_overview, render_parts

bp = Blueprint("pages", __name__)


@bp.get("/")
def index() -> ResponseReturnValue:
    session = db.session
    counts = queries.level_counts(session)
    counties = geography.area_layer(session, "county")
    townships = geography.area_layer(session, "township")
    m = city_overview(
        counties,
        townships,
        static_url=url_for("static", filename="vendor").rstrip("/"),
        labels={
            "counties": _("Counties"),
            "townships": _("Townships"),
            "name": _("Name"),
            "code": _("Code"),
        },
        tiles_url=current_app.config["TILE_URL"],
        tiles_attribution=current_app.config["TILE_ATTRIBUTION"],
    )
    return render_template("index.html", counts=counts, map=render_parts(m))


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Liveness for a load balancer or process supervisor: the process answers. Touches no
    database on purpose (a database outage must not make every web process look dead and be
    restarted); the benchmarks also use it as the framework's floor cost per request."""
    return {"status": "ok"}


@bp.get("/favicon.ico")
def favicon() -> ResponseReturnValue:
    """The app's icon where browsers look for it by default (a page without a `<link
    rel=icon>`, a bookmark, a PDF viewer): without it every such request logged a 404."""
    static = current_app.static_folder
    assert static is not None
    response = send_from_directory(
        static, "field/icon-192.png", mimetype="image/png", max_age=86400
    )
    return response
