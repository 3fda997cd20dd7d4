"""The OpenAPI document and the real application describe the same API: every Flask rule
under /api/v1/ is documented, and every documented operation exists as a rule. This fails
whenever an endpoint is added, removed or moved without updating its declaration."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from fieldapp.contract.document import build_openapi

PREFIX = "/api/v1"
# HEAD and OPTIONS are added by Flask/werkzeug to every GET rule; they are not API operations.
IMPLICIT_METHODS = {"HEAD", "OPTIONS"}
DOCUMENTED_METHODS = ("get", "put", "post", "delete", "patch")


def _shape(path: str) -> str:
    """A path with its parameters made anonymous, so `/reports/<uuid:report_id>` (Flask) and
    `/reports/{id}` (OpenAPI) compare equal: OpenAPI treats templates that differ only in
    parameter names as the same path, and clients never see Flask's names."""
    path = re.sub(r"<(?:[^<>:]+:)?[^<>]+>", "{}", path)
    return re.sub(r"\{[^{}]+\}", "{}", path)


def _flask_operations(app: Flask) -> dict[str, str]:
    """`METHOD /shape` -> the rule as Flask spells it, for every rule under /api/v1/."""
    found: dict[str, str] = {}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(PREFIX + "/"):
            continue
        for method in sorted((rule.methods or set()) - IMPLICIT_METHODS):
            found[f"{method} {_shape(rule.rule.removeprefix(PREFIX))}"] = rule.rule
    return found


def _documented_operations(doc: dict[str, Any]) -> dict[str, str]:
    """`METHOD /shape` -> the documented path, for every operation in the document."""
    found: dict[str, str] = {}
    for path, item in doc["paths"].items():
        for method in DOCUMENTED_METHODS:
            if method in item:
                found[f"{method.upper()} {_shape(path)}"] = path
    return found


@pytest.mark.parametrize(
    ("flask_rule", "openapi_path"),
    [
        ("/reports/<uuid:id>", "/reports/{id}"),
        ("/reports/<report_id>/photos/<photo_id>", "/reports/{id}/photos/{photo_id}"),
    ],
)
def test_path_shapes_compare_flask_and_openapi_templates(
    flask_rule: str, openapi_path: str
) -> None:
    assert _shape(flask_rule) == _shape(openapi_path)


def test_every_api_rule_is_documented(app: Flask) -> None:
    documented = _documented_operations(build_openapi())
    undocumented = sorted(
        f"{operation.split()[0]} {rule}"
        for operation, rule in _flask_operations(app).items()
        if operation not in documented
    )
    assert undocumented == [], "declare these with fieldapp.contract.Contract"


def test_every_documented_operation_exists(app: Flask) -> None:
    rules = _flask_operations(app)
    missing = sorted(
        f"{operation.split()[0]} {PREFIX}{path}"
        for operation, path in _documented_operations(build_openapi()).items()
        if operation not in rules
    )
    assert missing == [], "documented but no such route"


def test_the_app_serves_the_document_and_the_page(app: Flask) -> None:
    client = app.test_client()
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200 and r.mimetype == "application/json"
    document = r.get_json()
    validate(document, cls=OpenAPIV31SpecValidator)
    assert document == build_openapi()

    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and "<title>接口文档</title>" in page.get_data(as_text=True)
