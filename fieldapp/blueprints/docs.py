"""The API's own description: `/api/v1/openapi.json` and a browsable page at `/api/v1/docs`.

Kept apart from the API blueprint so the documentation can be switched off or moved without
touching the endpoints it describes."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request, url_for
from flask.typing import ResponseReturnValue

from fieldapp.contract.document import build_openapi

bp = Blueprint("apidocs", __name__, url_prefix="/api/v1")

# Where scripts/vendor_assets.sh puts Swagger UI (under static/); bump with the script.
SWAGGER_UI = "vendor/swagger-ui/5.35.0"


@bp.get("/openapi.json")
def openapi_json() -> ResponseReturnValue:
    """The OpenAPI 3.1 document, with the server URL as this request sees the API."""
    # script_root: behind a reverse proxy that mounts the app under a prefix, "Try it out"
    # must call /prefix/api/v1, not /api/v1.
    document = build_openapi(server_url=request.script_root + "/api/v1")
    # Not jsonify: it sorts keys, which would scramble the hand-made order of paths and
    # properties that Swagger UI shows as is. UTF-8 rather than \u escapes keeps it readable.
    body = current_app.json.dumps(document, sort_keys=False, ensure_ascii=False)
    return current_app.response_class(body, mimetype="application/json")


@bp.get("/docs")
def docs_page() -> ResponseReturnValue:
    """Swagger UI, entirely from the app's own static files (closed government networks)."""
    return render_template(
        "apidocs.html",
        swagger_ui=SWAGGER_UI,
        spec_url=url_for("apidocs.openapi_json"),
    )
