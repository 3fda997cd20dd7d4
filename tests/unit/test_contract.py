"""The contract's foundation (fieldapp.contract.base) on a small app of its own: what a
declared view receives, the error answers it gives instead, and what the document says."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

import pytest
from flask import Blueprint, Flask, jsonify
from flask.testing import FlaskClient
from pydantic import Field

from fieldapp.contract.base import (
    OPERATIONS,
    AnswerModel,
    BodyModel,
    Contract,
    QueryModel,
    Text,
)
from fieldapp.contract.document import _optional_query
from fieldapp.errors import register_error_handlers
from fieldapp.i18n import init_babel


class Thing(BodyModel):
    error_code: ClassVar[str] = "invalid_thing"

    name: Annotated[Text, Field(min_length=1, max_length=5)]
    count: int = Field(default=0, ge=0, le=10)
    ratio: float | None = None


class Filters(QueryModel):
    page: int = Field(default=1, ge=1)


class Echo(AnswerModel):
    name: str
    count: int


@pytest.fixture(scope="module")
def client() -> FlaskClient:
    app = Flask("fieldapp")  # the package's root: its translations
    app.config.update(LANGUAGES=("zh", "en"), TESTING=True)
    init_babel(app)
    register_error_handlers(app)
    bp = Blueprint("contract_test", __name__, url_prefix="/api/v1/test")
    contract = Contract(bp)

    @contract.post(
        "/things",
        body=Thing,
        answers={201: ("Made.", Echo)},
        public=True,
        tags=("test",),
        operation_id="makeThing",
        summary="Make a thing",
    )
    def make(body: Thing) -> Any:
        return jsonify({"name": body.name, "count": body.count}), 201

    @contract.get(
        "/drift",
        query=Filters,
        answers={200: ("Drifts.", Echo)},
        public=True,
        tags=("test",),
        operation_id="drift",
        summary="Answers more than it declares",
    )
    def drift(query: Filters) -> Any:
        return jsonify({"name": "x", "count": query.page, "extra": True})

    app.register_blueprint(bp)
    yield app.test_client()
    for key in [k for k in OPERATIONS if k[0].startswith("/test/")]:
        del OPERATIONS[key]


def _post(client: FlaskClient, raw: str) -> Any:
    return client.post(
        "/api/v1/test/things?lang=en",
        data=raw.encode("utf-8", "surrogatepass"),
        content_type="application/json",
    )


def test_a_good_body_reaches_the_view_parsed_and_trimmed(client: FlaskClient) -> None:
    r = _post(client, '{"name": " ab ", "count": 3}')
    assert r.status_code == 201 and r.get_json() == {"name": "ab", "count": 3}


def test_every_bad_field_is_named_at_once_in_our_shape(client: FlaskClient) -> None:
    r = _post(client, '{"name": "toolong", "count": true, "ratio": "1", "colour": 1}')
    assert r.status_code == 400
    error = r.get_json()["error"]
    assert error["code"] == "invalid_thing"
    assert error["message"] == "Some fields need correcting."
    assert error["fields"] == {
        "name": "Too long: at most 5 characters.",
        "count": "A whole number.",  # true is not a number
        "ratio": "A number.",  # nor is text
        "colour": "Unknown field; remove it.",
    }


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ('{"name": "a\\u0000b"}', "invalid_text"),  # NUL in a field
        ('{"name": "a", "x\\u0000": 1}', "invalid_text"),  # NUL in a key
        ('{"name": "a\\udc00"}', "invalid_text"),  # a lone surrogate
        ('{"name": "a", "count": NaN}', "invalid_json"),
        ('{"name": "a", "count": 1e400}', "invalid_json"),
        ("[" * 5000, "invalid_json"),
        ("{not json", "invalid_json"),
        ("[1]", "invalid_thing"),
    ],
)
def test_hostile_bodies_are_400_in_our_shape(client: FlaskClient, raw: str, code: str) -> None:
    r = _post(client, raw)
    assert r.status_code == 400 and r.get_json()["error"]["code"] == code


def test_a_body_that_is_not_json_by_content_type(client: FlaskClient) -> None:
    r = client.post("/api/v1/test/things", data='{"name": "a"}', content_type="text/plain")
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "invalid_json"


def test_messages_are_in_the_request_language(client: FlaskClient) -> None:
    r = client.post("/api/v1/test/things?lang=zh", json={"name": "a", "colour": 1})
    assert r.get_json()["error"]["fields"]["colour"] != "Unknown field; remove it."


def test_query_values_are_parsed_and_empty_is_absent(client: FlaskClient) -> None:
    assert client.get("/api/v1/test/drift?page=abc").status_code == 400
    # Under app.testing a view answering beyond its declared model fails loudly: the
    # AssertionError becomes the app's 500 (the view itself answered 200).
    assert client.get("/api/v1/test/drift?page=").status_code == 500


def test_the_operation_is_recorded_for_the_document() -> None:
    op = OPERATIONS[("/test/things", "post")]
    assert op.body is Thing and op.public and op.answers[201][1] is Echo


def test_an_optional_query_parameter_may_be_empty_but_not_null() -> None:
    schema = _optional_query({"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None})
    assert schema == {
        "anyOf": [
            {"type": "integer"},
            {"type": "string", "maxLength": 0, "description": "Empty: as if absent."},
        ]
    }


def test_the_declared_roles_are_the_accounts_roles() -> None:
    from typing import get_args

    from fieldapp.contract.account import Role
    from fieldapp.contract.reference import AreaLevel
    from fieldapp.services.accounts import ROLES
    from grid import LEVELS

    assert get_args(Role) == ROLES
    assert get_args(AreaLevel) == tuple(LEVELS)
