"""The hostile-input suite (#15): every operation of the OpenAPI document, every query
parameter and every field of every JSON body, driven with each class of valid-but-hostile
value — dates outside the window, offsets, huge and non-finite numbers, deep nesting, lone
surrogates, NUL, wrong types, booleans as numbers — as the role that may call it. Generated
from `/api/v1/openapi.json`, not listed per endpoint: a new endpoint or field is covered the
day it is documented. Each answer must be a 4xx in the error shape (or, for a value the field
may legitimately take, not a 5xx), and the server healthy after each operation.

The HTML pages' query parameters (`/cases`, `/dashboard`, `/triage/`, `/city/map`) get the
date classes. The counts of what is covered are asserted at the end, so the suite cannot
quietly shrink."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from fieldapp.contract.document import build_openapi
from tests.integration.test_hostile_values import accepted_case
from tests.integration.test_triage_pages import login
from tests.support import auth

PREFIX = "/api/v1"
SPEC = build_openapi()
WRITE_METHODS = ("post", "put", "patch", "delete")

#: Query-parameter values per class (the raw text of the query string).
QUERY_CLASSES: dict[str, tuple[str, ...]] = {
    "date_out_of_range": ("9999-12-31", "0001-01-01"),
    "huge_number": (str(2**70),),
    "non_finite": ("1e400", "NaN"),
    "nul": ("a\x00b",),
    "wrong_type": ("[]", "12abc"),
    "boolean": ("true",),
}
#: The classes a date parameter must refuse (400 naming it).
DATE_REFUSED = ("date_out_of_range", "wrong_type", "boolean", "huge_number", "non_finite")

#: Raw JSON texts, put in place of one field's value (or of the whole body).
VALUE_CLASSES: dict[str, tuple[str, ...]] = {
    "date_out_of_range": (
        '"9999-12-31T20:00:00Z"',
        '"9999-12-31T23:00:00-12:00"',
        '"0001-01-01"',
        '"2026-12-20T18:00:00+23:00"',
    ),
    "huge_number": (str(2**70), str(2**31)),
    "non_finite": ("1e400", "NaN"),
    "lone_surrogate": ('"a\\udfffb"', '{"\\ud800": 1}'),
    "nul": ('"a\\u0000b"',),
    "wrong_type": ("[]", "{}", '"x"', "1.5"),
    "boolean": ("true",),
    "deep_nesting": ("[" * 100_000 + "]" * 100_000, '{"a":' * 50 + "1" + "}" * 50),
}
#: Classes every JSON body refuses wherever they appear (the app's JSON loading).
ALWAYS_REFUSED = ("huge_number", "non_finite", "lone_surrogate", "nul", "deep_nesting")
#: 2**31 is refused by the field parsers, not the loader: it is a legal JSON integer.
LOADER_REFUSED_EXCEPT = {'"2026-12-20T18:00:00+23:00"', str(2**31)}


def _resolve(node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = SPEC
        for part in node["$ref"].split("/")[1:]:
            target = target[part]
        node = target
    return node


def _operations() -> Iterator[tuple[str, str, dict[str, Any], list[dict[str, Any]]]]:
    for path, item in SPEC["paths"].items():
        for method, op in item.items():
            if method not in ("get", *WRITE_METHODS):
                continue
            params = [_resolve(p) for p in item.get("parameters", []) + op.get("parameters", [])]
            yield path, method, op, params


def _role(path: str, method: str) -> str:
    """Who may call it, so the answer comes from validation and not from a 403."""
    if path.startswith(("/reports", "/checkins")) and method != "get":
        return "officer_a"
    if path.startswith(("/cases", "/queue")):
        return "coord_1"
    return "city"


def _is_date(schema: dict[str, Any]) -> bool:
    return _resolve(schema).get("format") in ("date", "date-time")


def _example_body(op: dict[str, Any], action: str | None) -> dict[str, Any]:
    content = _resolve(op.get("requestBody", {})).get("content", {}).get("application/json", {})
    if "example" in content:
        return dict(content["example"])
    examples = content.get("examples", {})
    if action and action in examples:
        return dict(examples[action]["value"])
    if examples:
        return dict(next(iter(examples.values()))["value"])
    return {}


def _body_fields(op: dict[str, Any]) -> list[tuple[tuple[str, ...], dict[str, Any]]]:
    """Every field of the body (nested objects' fields too) with its schema."""
    content = _resolve(op.get("requestBody", {})).get("content", {}).get("application/json", {})
    out: list[tuple[tuple[str, ...], dict[str, Any]]] = []

    def walk(schema: Any, prefix: tuple[str, ...]) -> None:
        schema = _resolve(schema)
        for name, sub in schema.get("properties", {}).items():
            out.append(((*prefix, name), _resolve(sub)))
            if _resolve(sub).get("properties"):
                walk(sub, (*prefix, name))
            items = _resolve(sub).get("items")
            if items and _resolve(items).get("properties"):
                walk(items, (*prefix, name, "0"))

    if "schema" in content:
        walk(content["schema"], ())
    return out


def _with_raw(body: Any, path: tuple[str, ...], raw: str) -> str:
    """The body as JSON text with the value at `path` replaced by the raw JSON `raw`."""
    marker = f"@@{uuid.uuid4().hex}@@"
    target = body = json.loads(json.dumps(body))
    for part in path[:-1]:
        if isinstance(target, list):
            while len(target) <= int(part):
                target.append({})
            target = target[int(part)]
        else:
            target = target.setdefault(part, [] if part == "parties" else {})
    if isinstance(target, list):
        target.append(marker)
    else:
        target[path[-1]] = marker
    return json.dumps(body, ensure_ascii=False).replace(f'"{marker}"', raw)


def _assert_error_shape(response: Any, context: Any) -> dict[str, Any]:
    body = response.get_json(silent=True)
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), context
    error = body["error"]
    assert isinstance(error.get("code"), str) and isinstance(error.get("message"), str), context
    assert error["message"].strip(), context
    if "fields" in error:
        assert isinstance(error["fields"], dict), context
    return error


def _healthy(client: FlaskClient, people: dict, context: Any) -> None:
    assert client.get("/healthz").status_code == 200, context
    assert client.get(f"{PREFIX}/me", headers=auth(people, "city")).status_code == 200, context


@pytest.fixture
def case_id(client: FlaskClient, people: dict) -> str:
    """A case filed by officer_a and accepted: most steps (assign among them) are open."""
    return str(accepted_case(client, people)["id"])


def _path_values(path: str, params: list[dict[str, Any]], case: str) -> list[str]:
    """The operation's path with real values (the case filed for the test, a township)."""
    values: dict[str, list[str]] = {}
    for p in params:
        if p["in"] != "path":
            continue
        schema = _resolve(p.get("schema", {}))
        name = p["name"]
        if name == "action":
            values[name] = list(_resolve(schema).get("enum", []))
        elif schema.get("type") == "integer":
            values[name] = {"z": ["12"], "x": ["3400"], "y": ["1600"]}.get(name, ["1"])
        elif name == "code":
            values[name] = ["991101001"]
        elif name == "photo_id":
            values[name] = [str(uuid.uuid4())]
        else:
            values[name] = [case]
    paths = [path]
    for name, options in values.items():
        paths = [p.replace("{" + name + "}", v) for p in paths for v in options]
    return paths


def _drive_query(
    client: FlaskClient,
    url: str,
    method: str,
    param: dict[str, Any],
    headers: dict,
    counts: Counter,
) -> None:
    """One query parameter, every class: never a 5xx; NUL and, for a date, every class that
    is no date in the window a 400 naming the parameter."""
    name = param["name"]
    is_date = _is_date(param.get("schema", {}))
    for cls, values in QUERY_CLASSES.items():
        for value in values:
            r = client.open(url, method=method, query_string={name: value}, headers=headers)
            context = (method, url, name, value, r.status_code, r.get_data()[:300])
            assert r.status_code < 500, context
            if r.status_code >= 400 and r.mimetype == "application/json":
                _assert_error_shape(r, context)
            if cls == "nul":
                assert r.status_code == 400, context
            if is_date and cls in DATE_REFUSED:
                assert r.status_code == 400, context
                assert name in _assert_error_shape(r, context).get("fields", {}), context
            counts[f"query:{cls}"] += 1


def _drive_body(
    client: FlaskClient,
    url: str,
    method: str,
    op: dict[str, Any],
    action: str | None,
    case_id: str,
    headers: dict,
    counts: Counter,
) -> None:
    """The whole body and each field of it, every class: a 4xx in the error shape where the
    class is refused everywhere (or the field is a date); never a 5xx."""
    example = _example_body(op, action)
    targets: list[tuple[tuple[str, ...], dict[str, Any]]] = [((), {}), *_body_fields(op)]
    version: int | None = None
    for field_path, schema in targets:
        if action and field_path and field_path[0] not in example:
            continue  # each action's own fields; the shared ones each once
        used = bool(field_path) and field_path[0] in example
        for cls, values in VALUE_CLASSES.items():
            for raw in values:
                if field_path and len(raw) > 10_000:
                    continue  # the 100,000-deep body: once per operation is enough
                body = dict(example)
                if "department" in body:
                    body["department"] = "991101-D01"  # one of the test city's
                if "version" in body:
                    if version is None:  # fetched again only after a step went through
                        current = client.get(f"{PREFIX}/cases/{case_id}", headers=headers)
                        version = current.get_json()["version"]
                    body["version"] = version
                data = _with_raw(body, field_path, raw) if field_path else raw
                r = client.open(
                    url,
                    method=method,
                    data=data.encode("utf-8", "surrogatepass"),
                    content_type="application/json",
                    headers=headers,
                )
                context = (
                    method,
                    url,
                    field_path,
                    cls,
                    raw[:60],
                    r.status_code,
                    r.get_data()[:300],
                )
                assert r.status_code < 500, context
                if r.status_code < 300:
                    version = None
                refused = cls in ALWAYS_REFUSED and raw not in LOADER_REFUSED_EXCEPT
                is_date = cls == "date_out_of_range" and _is_date(schema)
                if refused or is_date or r.status_code >= 400:
                    assert 400 <= r.status_code < 500, context
                    error = _assert_error_shape(r, context)
                    # A step the case's state does not allow is a 409 before the body is
                    # read; a 400 for a date the request uses must name it.
                    if is_date and used and r.status_code == 400:
                        named = ".".join(field_path)
                        assert any(named in key for key in error.get("fields", {})), context
                counts[f"body:{cls}"] += 1


def test_every_operation_refuses_every_hostile_class(
    client: FlaskClient, people: dict, case_id: str
) -> None:
    counts: Counter[str] = Counter()
    operations: set[str] = set()
    for path, method, op, params in _operations():
        headers = auth(people, _role(path, method))
        has_json = "application/json" in _resolve(op.get("requestBody", {})).get("content", {})
        for concrete in _path_values(path, params, case_id):
            url = PREFIX + concrete
            operations.add(f"{method.upper()} {path}")
            for param in params:
                if param["in"] == "query":
                    _drive_query(client, url, method, param, headers, counts)
            if has_json:
                action = concrete.rsplit("/", 1)[-1] if "{action}" in path else None
                _drive_body(client, url, method, op, action, case_id, headers, counts)
        _healthy(client, people, (method, path))
    documented = {f"{m.upper()} {p}" for p, m, _o, _ps in _operations()}
    assert operations == documented
    write_ops = {o for o in operations if o.split()[0].lower() in WRITE_METHODS}
    print(f"\n{len(operations)} operations ({len(write_ops)} writes); requests per class:")
    for key, n in sorted(counts.items()):
        print(f"  {key}: {n}")
    assert len(operations) >= 38 and all(counts[f"body:{c}"] for c in VALUE_CLASSES)
    assert all(counts[f"query:{c}"] for c in QUERY_CLASSES)


PAGES = ("/cases", "/dashboard", "/triage/", "/city/map")
DATED = {("/cases", "from"), ("/cases", "to"), ("/dashboard", "from"), ("/dashboard", "to")}
PAGE_DATES = ("9999-12-31", "0001-01-01", "2101-01-01", "1999-12-31", "2026-13-01", "\x00")


@pytest.mark.parametrize("page", PAGES)
def test_the_pages_refuse_dates_out_of_range(client: FlaskClient, people: dict, page: str) -> None:
    login(client, str(people["city"]["username"]))
    for name in ("from", "to", "period", "due", "date"):
        for value in PAGE_DATES:
            r = client.get(page, query_string={name: value})
            context = (page, name, value, r.status_code, r.get_data(as_text=True)[:500])
            assert r.status_code < 500, context
            # The pages that filter by date refuse one outside the window (the others
            # ignore the parameter); NUL is refused everywhere.
            if (page, name) in DATED or value == "\x00":
                assert r.status_code == 400, context
    assert client.get(page).status_code == 200
