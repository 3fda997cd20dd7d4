"""An API operation with query parameters refuses one it does not take (400, naming it), the
same for every such operation, /queue included; `lang` is one every such operation takes
(the field app sends it on every request). The pages that validate their query string with
the same models (the triage queue) still ignore what they do not use."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from fieldapp.contract.base import OPERATIONS
from fieldapp.contract.document import build_openapi
from tests.integration.test_triage_pages import login
from tests.support import auth

pytestmark = pytest.mark.usefixtures("people")

#: Path parameters of the operations with a query: any value the route accepts (the
#: parameters are checked before the view looks at them).
PATH_VALUES = {"z": "12", "x": "3400", "y": "1600", "code": "991101001"}
ROLES = ("city", "coord_1", "officer_a", "county")


def _with_query() -> list[str]:
    build_openapi()  # imports every view module, so OPERATIONS is complete
    return sorted(
        re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m.group(1)], op.path)
        for op in OPERATIONS.values()
        if op.query is not None and op.method == "get"
    )


def test_every_operation_with_a_query_refuses_a_parameter_it_does_not_take(
    client: FlaskClient, people: dict
) -> None:
    paths = _with_query()
    assert "/queue" in paths and "/reports" in paths and len(paths) >= 14
    for path in paths:
        refused_by = []
        for who in ROLES:
            r = client.get(f"/api/v1{path}?no_such_parameter=1&lang=en", headers=auth(people, who))
            # A caller the operation refuses is refused first (401/403); nobody gets an answer.
            assert r.status_code in (400, 401, 403), (path, who, r.status_code)
            if r.status_code == 400:
                error = r.get_json()["error"]
                assert error["code"] == "invalid_parameters", (path, error)
                assert set(error["fields"]) == {"no_such_parameter"}, (path, error)
                assert "“no_such_parameter”" in error["message"], (path, error)
                refused_by.append(who)
        assert refused_by, path


def test_the_queue_refuses_an_unknown_parameter_and_takes_lang(
    client: FlaskClient, people: dict
) -> None:
    coordinator = auth(people, "coord_1")
    r = client.get("/api/v1/queue?sort=newest&sortby=title&lang=en", headers=coordinator)
    assert r.status_code == 400, r.get_json()
    error = r.get_json()["error"]
    assert error["fields"] == {"sortby": "Not a parameter of this operation."}
    assert error["message"].startswith("Unknown parameters: “sortby”.")
    assert "sort" in error["message"]  # what it does take
    chinese = client.get("/api/v1/queue?sortby=title&lang=zh", headers=coordinator)
    chinese = chinese.get_json()["error"]
    assert "“sortby”" in chinese["message"] and re.search("[\u4e00-\u9fff]", chinese["message"])
    # What the field app and the pages send is taken: declared parameters and `lang`.
    ok = client.get("/api/v1/queue?sort=newest&per_page=5&lang=en", headers=coordinator)
    assert ok.status_code == 200, ok.get_json()
    # A parameter without a name (Schemathesis sends one) is unknown too.
    assert client.get("/api/v1/queue?=5", headers=coordinator).status_code == 400
    assert client.get("/api/v1/checkins?=", headers=auth(people, "officer_a")).status_code == 400


def test_the_triage_queue_page_ignores_what_it_does_not_use(
    client: FlaskClient, people: dict
) -> None:
    login(client, "t_coord_1")
    r = client.get("/triage/?lang=en&sort=newest&utm_source=sms")
    assert r.status_code == 200, r.get_data(as_text=True)[:2000]
    assert 'id="page-error"' not in r.get_data(as_text=True)


def test_the_document_declares_lang_for_every_operation_with_a_query() -> None:
    document = build_openapi()
    for path, item in document["paths"].items():
        for method, op in item.items():
            if not isinstance(op, dict):
                continue
            names = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
            if names:
                assert names.count("lang") == 1, (method, path, names)
