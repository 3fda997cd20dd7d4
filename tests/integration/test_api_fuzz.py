"""Every operation of the OpenAPI document, called with requests Schemathesis generates from
it (valid and invalid parameters, bodies, ids out of range, odd strings), as three roles:
the answer is never a 500. This is the "bad input gets a clear 4xx" promise checked against
the whole API at once, not only the cases someone thought of. It found an alert id beyond
PostgreSQL's integer range and the NUL character in text, both 500s before.

Deterministic (derandomized) so a red CI run is reproducible; a few examples per operation
keep it to seconds."""

from __future__ import annotations

from typing import Any

import schemathesis
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings

from fieldapp.contract.document import build_openapi
from tests.schemathesis_support import has_body, json_body
from tests.support import auth

PREFIX = "/api/v1"
ROLES = ("city", "coord_1", "officer_a")
schema = schemathesis.openapi.from_dict(build_openapi())


@schema.parametrize()
@settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_answers_500(case: Any, client: FlaskClient, people: dict) -> None:
    for who in ROLES:
        kwargs: dict[str, Any] = {
            "method": case.method,
            "query_string": case.query or None,
            "headers": {**(case.headers or {}), **auth(people, who)},
        }
        kwargs.update(json_body(case))
        response = client.open(PREFIX + case.formatted_path, **kwargs)
        assert response.status_code < 500, (
            who,
            case.method,
            case.formatted_path,
            case.query,
            case.body if has_body(case) else None,
            response.get_data(as_text=True)[:300],
        )


def test_a_nul_character_anywhere_is_a_400_with_a_message(
    client: FlaskClient, people: dict
) -> None:
    for response in (
        client.post("/api/v1/auth/token", json={"username": "\x00", "password": "x"}),
        client.get("/api/v1/reports?category=%00", headers=auth(people, "coord_1")),
        # In a key deep inside a JSON body; in the query string of a JSON request.
        client.post("/api/v1/auth/token", json={"username": [{"x\x00": 1}], "password": "x"}),
        client.post(
            "/api/v1/reports?note=%00", json={"title": "x"}, headers=auth(people, "officer_a")
        ),
    ):
        assert response.status_code == 400
        error = response.get_json()["error"]
        assert error["code"] == "invalid_text" and "U+0000" in error["message"]
    # A backslash followed by "u0000" is text like any other (the raw bytes look alike).
    r = client.post("/api/v1/auth/token", json={"username": "\\u0000", "password": "x"})
    assert r.status_code == 401


def test_an_alert_id_beyond_the_database_range_is_not_found(
    client: FlaskClient, people: dict
) -> None:
    r = client.post("/api/v1/hotspots/2147483648/acknowledge", headers=auth(people, "city"))
    assert r.status_code == 404 and r.get_json()["error"]["message"]


def test_a_page_beyond_any_queue_is_a_400(client: FlaskClient, people: dict) -> None:
    r = client.get("/api/v1/queue?page=184467440737095518", headers=auth(people, "coord_1"))
    assert r.status_code == 400 and "page" in r.get_json()["error"]["fields"]
