"""Schemathesis with response conformance (#18): for the officer and coordinator resources
(everything but the statistics, hotspot, map-layer and export tags, checked by their own
module), requests generated from the OpenAPI document — valid and invalid — as the three
roles, and every answer checked against the document: a documented status, the documented
media type, a body that fits its schema, and no schema-invalid request accepted. The
document is generated from the same models that validate, so this finds where they still
disagree. Derandomized, so a red run is reproducible."""

from __future__ import annotations

from collections import Counter
from typing import Any

import schemathesis
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from fieldapp.contract.document import build_openapi
from tests.schemathesis_support import failures, has_body, json_body
from tests.support import auth

PREFIX = "/api/v1"
ROLES = ("city", "coord_1", "officer_a")
#: The tags of helper B's resources (statistics, hotspots, maps, exports) and the docs.
OTHER_TAGS = {"statistics", "hotspots", "maps", "exports", "docs"}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]

DOCUMENT = build_openapi()
OURS = {
    (path, method)
    for path, item in DOCUMENT["paths"].items()
    for method, op in item.items()
    if isinstance(op, dict) and "tags" in op and not OTHER_TAGS & set(op["tags"])
}
schema = schemathesis.openapi.from_dict(DOCUMENT).include(
    func=lambda ctx: (ctx.operation.path, ctx.operation.method.lower()) in OURS
)
#: Disagreements found, by (role, operation, check), with one example each; the last test
#: of the module asserts there are none (recording rather than failing at once lets every
#: operation be explored, so the count is the whole picture).
FOUND: Counter[tuple[str, str, str]] = Counter()
EXAMPLES: dict[tuple[str, str, str], str] = {}


@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_answers_conform_to_the_document(case: Any, client: FlaskClient, people: dict) -> None:
    for who in ROLES:
        kwargs: dict[str, Any] = {
            "method": case.method,
            "query_string": case.query or None,
            "headers": {**(case.headers or {}), **auth(people, who)},
        }
        if has_body(case) and case.media_type == "multipart/form-data":
            continue  # photos: driven by their own tests with real images
        kwargs.update(json_body(case))
        response = client.open(PREFIX + case.formatted_path, **kwargs)
        try:
            case.validate_response(response, checks=CHECKS)
        except BaseException as error:  # Failure / FailureGroup: recorded, see above
            for failure in failures(error) or [error]:
                if "`Authorization`" in str(failure):
                    # A case meant to go without a token: this harness always signs in as
                    # the role (the unauthenticated answers have tests of their own).
                    continue
                title = getattr(failure, "title", type(failure).__name__)
                key = (who, f"{case.method} {case.path}", title)
                FOUND[key] += 1
                EXAMPLES.setdefault(
                    key,
                    f"{case.query} {case.body!r:.200} -> "
                    f"{response.status_code} {str(failure)[:300]}",
                )


def test_zero_disagreements() -> None:
    """Runs after the generated cases above (pytest keeps the module's order)."""
    report = "\n".join(
        f"{n:3d} × {' | '.join(key)}\n      {EXAMPLES[key]}" for key, n in sorted(FOUND.items())
    )
    assert not FOUND, f"{len(FOUND)} distinct disagreements:\n{report}"
