"""The OpenAPI 3.1 document, generated from the declared operations (`base.OPERATIONS`) and
their models, in the frame of `fieldapp.contract.overview` (info, tags, security, shared
answers). Every path of /api/v1 is declared (the hand-written document is gone, #18).

`build_openapi()` needs no app: importing the view modules records their operations.
`python -m fieldapp.contract.document --write` refreshes the snapshot `docs/openapi.json`
that `tests/unit/test_openapi_snapshot.py` compares with, so a contract change is reviewed."""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from fieldapp.contract import overview
from fieldapp.contract.base import (
    COMMON_QUERY,
    NAMED_SCHEMAS,
    OPERATIONS,
    Binary,
    Error,
    ErrorDoc,
    Operation,
    Schemas,
    error_answer,
)

JSON: Final = "application/json"
METHODS: Final = ("get", "put", "post", "delete", "patch")
REF: Final = "#/components/schemas/{model}"
SNAPSHOT: Final = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
#: The modules whose views declare operations; importing them records them.
VIEW_MODULES: Final = (
    "fieldapp.blueprints.api",
    "fieldapp.blueprints.field",
    "fieldapp.blueprints.stats_api",
    "fieldapp.blueprints.hotspots_api",
    "fieldapp.blueprints.layers",
    "fieldapp.blueprints.exports",
    "fieldapp.blueprints.docs",
)


def _declared() -> list[Operation]:
    for name in VIEW_MODULES:
        importlib.import_module(name)
    return list(OPERATIONS.values())


def _models(operations: list[Operation]) -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    seen: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {(Error, "serialization"): None}
    for op in operations:
        if op.body is not None:
            seen[(op.body, "validation")] = None
        for declared in op.answers.values():
            answer = declared[1]
            if isinstance(answer, type) and issubclass(answer, BaseModel):
                seen[(answer, "serialization")] = None
    return list(seen)


def _examples(model: type[BaseModel]) -> dict[str, Any]:
    named: dict[str, tuple[str, Any]] = getattr(model, "examples", {}) or {}
    return {name: {"summary": summary, "value": value} for name, (summary, value) in named.items()}


def _media(model: type[BaseModel], refs: dict[Any, str]) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": {"$ref": refs[model]}}
    examples = _examples(model)
    if examples:
        media["examples"] = examples
    return {JSON: media}


def _parameters(op: Operation, query_schemas: dict[str, Any]) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    for name in _path_names(op.path):
        description, schema = op.path_params.get(name, ("", {"type": "string"}))
        param = {"name": name, "in": "path", "required": True, "schema": schema}
        if description:
            param["description"] = description
        params.append(param)
    if op.query is not None:
        schema = query_schemas[op.query.__name__]
        required = set(schema.get("required", ()))
        for name, prop in schema.get("properties", {}).items():
            prop = dict(prop)
            param = {"name": name, "in": "query", "required": name in required}
            if "description" in prop:
                param["description"] = prop.pop("description")
            prop.pop("title", None)
            if name not in required:
                prop = _optional_query(prop)
            param["schema"] = prop
            params.append(param)
        # Taken by every operation with a query (any other parameter is refused).
        for name, common in COMMON_QUERY.items():
            params.append({"name": name, "in": "query", "required": False, **common})
    return params


def _optional_query(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional query parameter: null cannot be sent in a query string, and an empty value
    means absent (`QueryModel`)."""
    schema = dict(schema)
    if "anyOf" in schema:
        branches = [b for b in schema.pop("anyOf") if b.get("type") != "null"]
        outer = schema
    else:
        outer = {k: schema.pop(k) for k in ("default", "examples") if k in schema}
        branches = [schema]
    if outer.get("default", "") is None:
        del outer["default"]  # absent, which a query string says by leaving it out
    empty = {"type": "string", "maxLength": 0, "description": "Empty: as if absent."}
    return {**outer, "anyOf": [*branches, empty]}


def _path_names(path: str) -> list[str]:
    # A template may share a segment with text: /cells/{z}/{x}/{y}.mvt
    return re.findall(r"\{([^}]+)\}", path)


#: The `error.code` an error status usually carries (fieldapp/services/errors.py), for the
#: example of an error answer that declares none.
STATUS_CODES: Final = {
    400: "invalid_parameters",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    413: "request_entity_too_large",
    422: "outside_city",
    429: "rate_limited",
    503: "try_again",
}


def _error(status: int, declared: ErrorDoc, op: Operation) -> dict[str, Any]:
    """An error answer: the Error schema, with the declared examples or one made from the
    description (a 400 of a body or query model names its first field)."""
    if isinstance(declared, str):
        model = op.body or op.query
        if status == 400 and model is not None:
            first = next(iter(model.model_fields), "")
            example = error_answer(
                model.error_code, "Some fields need correcting.", {first: "Required."}
            )
        else:
            example = error_answer(STATUS_CODES.get(status, "error"), declared)
        description = declared
        examples: Mapping[str, tuple[str, Any]] = {"example": ("Example", example)}
    else:
        description, examples = declared[0], declared[1]
    media = {
        "schema": {"$ref": REF.format(model="Error")},
        "examples": {
            name: {"summary": summary, "value": value}
            for name, (summary, value) in examples.items()
        },
    }
    answer = {"description": description, "content": {JSON: media}}
    if not isinstance(declared, str) and len(declared) > 2:
        answer["headers"] = dict(declared[2])
    return answer


def _operation(
    op: Operation,
    refs: dict[Any, str],
    query_schemas: dict[str, Any],
) -> dict[str, Any]:
    out: dict[str, Any] = {"tags": list(op.tags), "operationId": op.operation_id}
    out["summary"] = op.summary
    if op.description:
        out["description"] = op.description
    if op.public:
        out["security"] = []
    params = _parameters(op, query_schemas)
    if params:
        out["parameters"] = params
    if op.body is not None:
        out["requestBody"] = {"required": True, "content": _media(op.body, refs)}
    elif op.body_media is not None:
        out["requestBody"] = op.body_media
    responses: dict[str, Any] = {}
    for status, declared in sorted(op.answers.items()):
        description, answer = declared[0], declared[1]
        examples = declared[2] if len(declared) > 2 else {}
        response: dict[str, Any] = {"description": description}
        if isinstance(answer, Binary):
            response["content"] = {
                media: {"schema": dict(answer.schema)} for media in answer.media_types
            }
            if answer.headers:
                response["headers"] = dict(answer.headers)
        elif isinstance(answer, dict):
            response["content"] = {JSON: {"schema": answer}}
        elif answer is not None:
            response["content"] = _media(answer, refs)
        if examples and "content" in response:
            response["content"][JSON]["examples"] = {
                name: {"summary": summary, "value": value}
                for name, (summary, value) in examples.items()
            }
        responses[str(status)] = response
    errors = dict(op.errors)
    if (op.body is not None or op.query is not None) and 400 not in errors:
        errors[400] = (
            "The request needs correcting: `fields` says what is wrong with each field (a "
            "query parameter the operation does not take is named there too)."
        )
    for status, error_doc in sorted(errors.items()):
        responses[str(status)] = _error(status, error_doc, op)
    if not op.public:
        responses["401"] = {"$ref": "#/components/responses/Unauthorized"}
    responses["500"] = {"$ref": "#/components/responses/InternalError"}
    out["responses"] = dict(sorted(responses.items()))
    out.update(op.extra)
    return out


def generated() -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """(paths, component schemas) of the declared operations."""
    operations = _declared()
    keys, definitions = models_json_schema(
        _models(operations), ref_template=REF, schema_generator=Schemas
    )
    refs: dict[Any, str] = {model: schema["$ref"] for (model, _mode), schema in keys.items()}
    schemas: dict[str, Any] = definitions.get("$defs", {})
    query_schemas = {
        op.query.__name__: op.query.model_json_schema(ref_template=REF, schema_generator=Schemas)
        for op in operations
        if op.query is not None
    }
    for query in query_schemas.values():
        schemas.update(query.pop("$defs", {}))
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method] = _operation(op, refs, query_schemas)
    return paths, schemas


def build_openapi(server_url: str = "/api/v1") -> dict[str, Any]:
    """The whole document: the frame (`overview`) and the declared operations with their
    models' schemas. A fresh dict each call."""
    document = overview.frame(server_url)
    paths, schemas = generated()
    document["paths"].update(paths)
    document["components"]["schemas"].update(NAMED_SCHEMAS)
    document["components"]["schemas"].update(schemas)
    _every_operation_may_refuse(document)
    for kind in [k for k, entries in document["components"].items() if not entries]:
        del document["components"][kind]
    _sort(document)
    return copy.deepcopy(document)


def _sort(document: dict[str, Any]) -> None:
    """Paths and component schemas in name order: operations are recorded as their view
    modules are imported, and the import order differs between a test run and the CLI; the
    snapshot must not."""
    document["paths"] = {
        path: dict(sorted(item.items(), key=lambda kv: _method_rank(kv[0])))
        for path, item in sorted(document["paths"].items())
    }
    components = document["components"]
    components["schemas"] = dict(sorted(components["schemas"].items()))


def _method_rank(key: str) -> tuple[int, str]:
    # Path-level keys (parameters, summary) first, then the methods in METHODS' order.
    return (METHODS.index(key) + 1 if key in METHODS else 0, key)


def _every_operation_may_refuse(document: dict[str, Any]) -> None:
    """Any request may be refused with a 400 before its view runs: a NUL character in a query
    parameter (`fieldapp.errors.refuse_nul_characters`). Operations that document no 400 of
    their own get this one, so the document lists every status the API answers."""
    document["components"]["responses"]["BadRequest"] = {
        "description": "The request cannot be read: e.g. a NUL character (U+0000) in a "
        "parameter, which no field accepts.",
        "content": {
            JSON: {
                "schema": {"$ref": REF.format(model="Error")},
                "examples": {
                    "nul": {
                        "summary": "NUL in a query parameter",
                        "value": error_answer(
                            "invalid_text",
                            "The request contains a NUL character (U+0000), which no field "
                            "accepts.",
                        ),
                    }
                },
            }
        },
    }
    for item in document["paths"].values():
        for method, op in item.items():
            if method in METHODS and "400" not in op.get("responses", {}):
                op["responses"]["400"] = {"$ref": "#/components/responses/BadRequest"}


def render(document: dict[str, Any]) -> str:
    """The snapshot's text: stable key order as built, UTF-8, one trailing newline."""
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help=f"write {SNAPSHOT}")
    parser.add_argument("--check", action="store_true", help="exit 1 when the snapshot differs")
    args = parser.parse_args(argv)
    text = render(build_openapi())
    if args.write:
        SNAPSHOT.write_text(text, encoding="utf-8")
        print(f"wrote {SNAPSHOT}")
        return 0
    if args.check:
        same = SNAPSHOT.exists() and SNAPSHOT.read_text(encoding="utf-8") == text
        if not same:
            print(f"{SNAPSHOT} is stale: python -m fieldapp.contract.document --write")
        return 0 if same else 1
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
