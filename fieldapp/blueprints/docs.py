"""The API's own description: `/api/v1/openapi.json` and a browsable page at `/api/v1/docs`.

Kept apart from the API blueprint so the documentation can be switched off or moved without
touching the endpoints it describes."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request, url_for
from flask.typing import ResponseReturnValue

from fieldapp.contract import Contract
from fieldapp.contract.base import Binary

bp = Blueprint("apidocs", __name__, url_prefix="/api/v1")
contract = Contract(bp)

# Where scripts/vendor_assets.sh puts Swagger UI (under static/); bump with the script.
SWAGGER_UI = "vendor/swagger-ui/5.35.0"


@contract.get(
    "/openapi.json",
    answers={
        200: (
            "The OpenAPI document.",
            {
                "type": "object",
                "required": ["openapi", "info", "paths"],
                "properties": {"openapi": {"type": "string", "const": "3.1.0"}},
            },
        )
    },
    public=True,
    tags=("docs",),
    operation_id="getOpenApiDocument",
    summary="This OpenAPI 3.1 document (接口描述)",
)
def openapi_json() -> ResponseReturnValue:
    """For client generators and the browsable page at /docs."""
    # Imported here: generating the document imports this module (its operations).
    from fieldapp.contract.document import build_openapi

    # script_root: behind a reverse proxy that mounts the app under a prefix, "Try it out"
    # must call /prefix/api/v1, not /api/v1.
    document = build_openapi(server_url=request.script_root + "/api/v1")
    # Not jsonify: it sorts keys, which would scramble the hand-made order of paths and
    # properties that Swagger UI shows as is. UTF-8 rather than \u escapes keeps it readable.
    body = current_app.json.dumps(document, sort_keys=False, ensure_ascii=False)
    return current_app.response_class(body, mimetype="application/json")


@contract.get(
    "/docs",
    answers={200: ("An HTML page.", Binary(("text/html",), schema={"type": "string"}))},
    public=True,
    tags=("docs",),
    operation_id="getApiDocsPage",
    summary="Browsable API documentation (接口文档)",
)
def docs_page() -> ResponseReturnValue:
    """Swagger UI, served by the app itself (no internet needed), reading /openapi.json."""
    return render_template(
        "apidocs.html",
        swagger_ui=SWAGGER_UI,
        spec_url=url_for("apidocs.openapi_json"),
    )
