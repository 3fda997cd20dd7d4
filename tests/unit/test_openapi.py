"""The hand-written OpenAPI document is a valid OpenAPI 3.1 description, internally
consistent (every reference resolves, every example fits its schema), agrees with the
parsers it describes, and its page works with no internet. No database needed."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from referencing import Registry
from referencing.jsonschema import DRAFT202012

import fieldapp
from fieldapp import security_headers
from fieldapp.blueprints import docs
from fieldapp.contract.base import OPERATIONS
from fieldapp.contract.cases import CaseFields
from fieldapp.contract.document import build_openapi
from fieldapp.contract.reports import EXAMPLE as REPORT_INPUT_EXAMPLE
from fieldapp.contract.reports import REPORT_EXAMPLE, REPORT_MASKED_EXAMPLE
from fieldapp.deadlines import DeadlinePolicy, Light
from fieldapp.domain import CHINA_TZ, SEVERITIES
from fieldapp.privacy import mask_id_number, mask_name, mask_phone
from fieldapp.services import cases
from fieldapp.services.accounts import ROLES
from fieldapp.workflow import (
    ESCALATION_LEVELS,
    OPEN_STATES,
    Action,
    Outcome,
    Satisfaction,
    State,
)
from grid import LEVELS
from grid.crs import CRS_NAMES
from maps.offline import assert_no_external_urls

PACKAGE = Path(fieldapp.__file__).resolve().parent
STATIC = PACKAGE / "static"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
DOC_URI = "urn:fieldapp:openapi"


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return build_openapi()


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _walk(node: Any, pointer: str = "") -> Iterator[tuple[str, Any]]:
    """Every (JSON pointer, value) in the document, depth first."""
    yield pointer, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{pointer}/{_escape(str(key))}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{pointer}/{i}")


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"only local references are expected: {ref}"
    node: Any = doc
    for token in ref[2:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        node = node[int(token)] if isinstance(node, list) else node[token]
    return node


def _operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def _deref(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = _resolve(doc, node["$ref"])
    return node


# --- the document as a whole ---------------------------------------------------------------


def test_the_document_is_valid_openapi_3_1(doc: dict[str, Any]) -> None:
    assert doc["openapi"].startswith("3.1.")
    validate(doc, cls=OpenAPIV31SpecValidator)


def test_it_is_plain_json_and_each_call_gets_its_own_copy() -> None:
    first, second = build_openapi(), build_openapi()
    assert json.loads(json.dumps(first)) == first
    first["paths"]["/reports"]["post"]["responses"]["201"]["content"].clear()
    first["components"]["schemas"]["Report"]["required"].append("mutated")
    assert second == build_openapi()


def test_the_server_url_is_where_the_client_sees_the_api() -> None:
    assert build_openapi()["servers"][0]["url"] == "/api/v1"
    assert build_openapi("/grid/api/v1")["servers"][0]["url"] == "/grid/api/v1"


def test_every_reference_resolves_and_stays_inside_the_document(doc: dict[str, Any]) -> None:
    broken = []
    for pointer, node in _walk(doc):
        if isinstance(node, dict) and isinstance(node.get("$ref"), str):
            try:
                _resolve(doc, node["$ref"])
            except (KeyError, IndexError, ValueError, AssertionError):
                broken.append(f"{pointer}: {node['$ref']}")
    assert broken == []


def test_every_component_is_used(doc: dict[str, Any]) -> None:
    refs = {node["$ref"] for _p, node in _walk(doc) if isinstance(node, dict) and "$ref" in node}
    defined = {
        f"#/components/{kind}/{_escape(name)}"
        for kind, entries in doc["components"].items()
        if kind != "securitySchemes"
        for name in entries
    }
    assert sorted(defined - refs) == []


def test_every_operation_is_named_summarised_tagged_and_documents_its_errors(
    doc: dict[str, Any],
) -> None:
    tags = {tag["name"] for tag in doc["tags"]}
    operation_ids: list[str] = []
    problems: list[str] = []
    for path, method, op in _operations(doc):
        where = f"{method.upper()} {path}"
        operation_ids.append(op.get("operationId", ""))
        if not op.get("operationId"):
            problems.append(f"{where}: no operationId")
        if not op.get("summary"):
            problems.append(f"{where}: no summary")
        if not op.get("tags") or not set(op["tags"]) <= tags:
            problems.append(f"{where}: tags {op.get('tags')} not declared")
        statuses = set(op["responses"])
        if not any(s.startswith("2") for s in statuses):
            problems.append(f"{where}: no success response")
        errors = {s for s in statuses if s[0] in "45"}
        if not errors:
            problems.append(f"{where}: no error responses")
        for status in errors:
            response = _deref(doc, op["responses"][status])
            schema = response.get("content", {}).get("application/json", {}).get("schema")
            if schema != {"$ref": "#/components/schemas/Error"}:
                problems.append(f"{where}: {status} is not the API's Error shape")
        # What each kind of operation can always fail with.
        expected = set()
        if op.get("security", doc["security"]) != []:
            expected.add("401")
        if "{" in path:
            expected.add("404")
        if "requestBody" in op:
            expected.add("400")
        if missing := expected - statuses:
            problems.append(f"{where}: undocumented {sorted(missing)}")
        if "429" in statuses and "Retry-After" not in op["responses"]["429"].get("headers", {}):
            problems.append(f"{where}: 429 without Retry-After")
    assert problems == []
    assert len(operation_ids) == len(set(operation_ids)), "operationIds must be unique"


def test_path_parameters_are_declared_for_every_template(doc: dict[str, Any]) -> None:
    problems = []
    for path, item in doc["paths"].items():
        templated = set(re.findall(r"\{([^}]+)\}", path))
        for method in METHODS:
            if method not in item:
                continue
            params = [_deref(doc, p) for p in item.get("parameters", [])]
            params += [_deref(doc, p) for p in item[method].get("parameters", [])]
            declared = {p["name"] for p in params if p["in"] == "path"}
            if declared != templated:
                problems.append(f"{method.upper()} {path}: {sorted(declared)}")
    assert problems == []


def test_public_operations_are_exactly_the_ones_that_need_no_token(doc: dict[str, Any]) -> None:
    public = {
        f"{method.upper()} {path}"
        for path, method, op in _operations(doc)
        if op.get("security", doc["security"]) == []
    }
    assert public == {
        "POST /auth/token",
        "POST /auth/password",
        "GET /categories",
        "GET /locate",
        "GET /layers/areas",
        "GET /openapi.json",
        "GET /docs",
    }
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


# --- examples fit their schemas --------------------------------------------------------------


def _examples(doc: dict[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """(where, JSON pointer of the schema, example value) for every example in the document:
    media types, parameters and headers (`example`, `examples`), and schemas (`examples`)."""
    for pointer, node in _walk(doc):
        if not isinstance(node, dict):
            continue
        if "schema" in node:
            schema_pointer = f"{pointer}/schema"
            if "example" in node:
                yield f"{pointer}/example", schema_pointer, node["example"]
            for name, example in (node.get("examples") or {}).items():
                example = _deref(doc, example)
                yield f"{pointer}/examples/{name}", schema_pointer, example["value"]
        elif isinstance(node.get("examples"), list):
            for i, value in enumerate(node["examples"]):
                yield f"{pointer}/examples/{i}", pointer, value


def _validator(doc: dict[str, Any], schema_pointer: str) -> OAS31Validator:
    # The document is registered as one resource, so `#/components/...` inside any schema
    # resolves against the document, as it does for OpenAPI tools.
    registry: Registry[Any] = Registry().with_resource(DOC_URI, DRAFT202012.create_resource(doc))
    return OAS31Validator(
        {"$ref": f"{DOC_URI}#{schema_pointer}"},
        registry=registry,
        format_checker=OAS31Validator.FORMAT_CHECKER,
    )


def test_there_are_examples_for_every_json_body(doc: dict[str, Any]) -> None:
    missing = []
    for pointer, node in _walk(doc):
        if pointer.endswith("/content/application~1json") and not (
            node.get("example") or node.get("examples")
        ):
            missing.append(pointer)
    # The document's own description is the one body too big to repeat as an example.
    assert missing == ["/paths/~1openapi.json/get/responses/200/content/application~1json"]


def test_every_example_fits_its_schema(doc: dict[str, Any]) -> None:
    examples = list(_examples(doc))
    assert len(examples) > 40
    failures = []
    for where, schema_pointer, value in examples:
        for error in _validator(doc, schema_pointer).iter_errors(value):
            failures.append(f"{where}: {error.json_path}: {error.message}")
    assert failures == []


@pytest.mark.parametrize(
    ("schema", "value"),
    [
        ("ReportInput", {**REPORT_INPUT_EXAMPLE, "colour": "red"}),
        ("ReportInput", {**REPORT_INPUT_EXAMPLE, "severity": "purple"}),
        ("ReportInput", {**REPORT_INPUT_EXAMPLE, "title": "长" * 101}),
        ("ReportInput", {**REPORT_INPUT_EXAMPLE, "parties": [{"name": "x"}] * 21}),
        ("ReportInput", {**REPORT_INPUT_EXAMPLE, "people_involved": -1}),
        ("LocateAnswer", {"found": True, "lon": 1.0, "lat": 2.0}),
        ("CheckinInput", {"nothing_to_report": "yes"}),
        ("Error", {"error": {"code": "x"}}),
    ],
)
def test_the_schemas_refuse_what_the_api_refuses(
    doc: dict[str, Any], schema: str, value: Any
) -> None:
    # Guards against schemas so loose that every example above would pass anyway.
    assert list(_validator(doc, f"/components/schemas/{schema}").iter_errors(value))


# --- the document agrees with the code it describes ------------------------------------------


def test_every_documented_request_example_is_accepted_by_its_model(doc: dict[str, Any]) -> None:
    """The examples are the models' own; each must pass the model it illustrates."""
    now = datetime(2026, 11, 25, 12, 0, tzinfo=CHINA_TZ)
    checked = 0
    for op in OPERATIONS.values():
        if op.body is None:
            continue
        for _summary, value in getattr(op.body, "examples", {}).values():
            op.body.model_validate_json(json.dumps(value), context={"now": now})
            checked += 1
    assert checked >= 4


def test_enumerations_match_the_code(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    assert tuple(schemas["Severity"]["enum"]) == SEVERITIES
    assert set(schemas["Crs"]["enum"]) == set(CRS_NAMES)
    assert tuple(schemas["Role"]["enum"]) == ROLES
    assert tuple(schemas["AreaLevel"]["enum"]) == tuple(LEVELS)


def test_the_case_enumerations_match_the_workflow(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    assert schemas["CaseState"]["enum"] == [s.value for s in State]
    assert schemas["CaseActionName"]["enum"] == [a.value for a in Action]
    assert schemas["Outcome"]["enum"] == [o.value for o in Outcome]
    assert schemas["Satisfaction"]["enum"] == [s.value for s in Satisfaction]
    fields = schemas["Case"]["properties"]
    assert fields["owner_level"]["enum"] == list(ESCALATION_LEVELS)
    assert fields["light"]["enum"] == [*(light.value for light in Light), None]
    status = next(
        p for p in doc["paths"]["/queue"]["get"]["parameters"] if p.get("name") == "status"
    )
    # An optional query parameter: the enum, or empty (as if absent).
    enum = next(b["enum"] for b in status["schema"]["anyOf"] if "enum" in b)
    assert set(enum) == {s.value for s in OPEN_STATES}


def test_the_case_schema_lists_exactly_the_case_fields(doc: dict[str, Any]) -> None:
    now = datetime(2026, 11, 25, 12, 0, tzinfo=CHINA_TZ)
    report = SimpleNamespace(
        status="accepted",
        owner_level="township",
        owner_area_id=58,
        department_id=None,
        officer_id=311,
        step="handling",
        step_started_at=now,
        reported_at=now,
        due_at=now,
        accepted_on_time=True,
        closed_at=None,
        closed_on_time=None,
        outcome=None,
        satisfaction=None,
        merged_into_id=None,
        extension_days_requested=None,
    )
    viewer = SimpleNamespace(id=42, role="coordinator", area_id=58, department_id=None)
    produced = cases.case_fields(report, viewer, now, DeadlinePolicy())  # type: ignore[arg-type]
    # The case's own fields (CaseFields) are exactly what the service adds to a report, and
    # the documented Case is the report's fields and those.
    fields = CaseFields.model_json_schema()
    assert set(fields["properties"]) == set(produced) == set(fields["required"])
    case = doc["components"]["schemas"]["Case"]
    report = doc["components"]["schemas"]["Report"]
    assert set(case["properties"]) == set(report["properties"]) | set(produced)


def test_the_masked_example_is_what_the_masking_functions_produce() -> None:
    for clear, masked in zip(
        REPORT_EXAMPLE["parties"], REPORT_MASKED_EXAMPLE["parties"], strict=True
    ):
        assert masked == {
            "name": mask_name(clear["name"]),
            "id_number": mask_id_number(clear["id_number"]),
            "phone": mask_phone(clear["phone"]),
            "role": clear["role"],
        }


# --- the blueprint and its page ---------------------------------------------------------------


@pytest.fixture
def docs_app() -> Flask:
    """Only the docs blueprint, on the package's templates and static files: no database."""
    app = Flask("fieldapp", root_path=str(PACKAGE))
    app.register_blueprint(docs.bp)
    security_headers.init_app(app)  # the page's inline script carries the CSP nonce
    return app


def test_openapi_json_is_served_in_its_written_order(docs_app: Flask) -> None:
    r = docs_app.test_client().get("/api/v1/openapi.json")
    assert r.status_code == 200 and r.mimetype == "application/json"
    assert r.get_json() == build_openapi()
    assert list(r.get_json()["paths"]) == list(build_openapi()["paths"])
    assert "矛盾纠纷" in r.get_data(as_text=True)  # UTF-8, not \u escapes


def test_openapi_json_follows_a_url_prefix(docs_app: Flask) -> None:
    r = docs_app.test_client().get("/api/v1/openapi.json", base_url="http://localhost/grid")
    assert r.get_json()["servers"] == [
        {"url": "/grid/api/v1", "description": "This server (本服务器)"}
    ]


def _sha256sums() -> dict[str, str]:
    lines = (STATIC / "vendor" / "SHA256SUMS").read_text("utf-8").splitlines()
    return {path: digest for digest, path in (line.split("  ", 1) for line in lines)}


def test_docs_page_loads_only_local_files_listed_in_the_manifest(docs_app: Flask) -> None:
    r = docs_app.test_client().get("/api/v1/docs")
    assert r.status_code == 200 and r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    assert "<title>接口文档</title>" in html
    assert "validatorUrl: null" in html  # the default loads a badge from validator.swagger.io
    assert 'url: "/api/v1/openapi.json"' in html
    assert assert_no_external_urls(html) == []

    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert len(assets) == 3  # favicon, stylesheet, bundle
    sums = _sha256sums()
    for url in assets:
        rel = url.removeprefix("/static/vendor/")
        data = (STATIC / "vendor" / rel).read_bytes()
        assert sums.get(rel) == hashlib.sha256(data).hexdigest(), url
        assert docs_app.test_client().get(url).status_code == 200


def test_swagger_ui_stylesheet_loads_no_fonts_or_images_from_elsewhere() -> None:
    css = (STATIC / docs.SWAGGER_UI / "swagger-ui.css").read_text("utf-8")
    assert "@import" not in css and "@font-face" not in css
    refs = re.findall(r"""url\(\s*['"]?([^'")\s]+)""", css)
    assert refs and all(ref.startswith("data:") for ref in refs)
    assert (STATIC / docs.SWAGGER_UI / "LICENSE").is_file()
