"""The foundation of the API contract (#18): one typed declaration per request and answer, from
which validation, the error answer and the OpenAPI document all come.

A view declares its models where it is routed (`Contract.post(...)` etc.); the models live in
the resource modules of `fieldapp.contract`. This module holds what they share:

- `BodyModel` (JSON bodies: unknown fields refused, no type coercion so `true` is never a
  number, NaN/Infinity refused), `QueryModel` (query strings: parsed from text; `parse_query`
  refuses a parameter the operation does not declare, `lang` declared for all), `AnswerModel`
  (answers).
- `Text`, `OptionalText`: text that refuses NUL and lone surrogates (PostgreSQL cannot store the
  one, the other is not text).
- `validation_error`: pydantic's errors turned into our one error shape
  `{"error": {"code", "message", "fields": {...}}}` with field-level messages in the request's
  language.
- `Contract`: routes a view on an ordinary Flask blueprint and records its operation, so
  `fieldapp.contract.document` can write the OpenAPI document without an app.

Why our own thin layer and not spectree / flask-openapi3 / APIFlask / flask-smorest: see
/work/wt/CONTRACT.md and the closing note of #18 (in short: the intake path reads the raw bytes
with `model_validate_json`, our error shape and messages are ours, and the blueprints stay).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import wraps
from typing import Annotated, Any, ClassVar, Final, TypeVar

from flask import Blueprint, current_app, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import ErrorDetails, core_schema

from fieldapp.errors import ApiError

F = TypeVar("F", bound=Callable[..., ResponseReturnValue])

#: Where the API lives; operation paths in the document are relative to it.
API_PREFIX: Final = "/api/v1"

_SURROGATE = re.compile("[\ud800-\udfff]")
_INDEX = re.compile(r"\[\d+\]")


def check_text(value: str) -> str:
    """`value` unless it holds NUL (PostgreSQL text cannot) or a lone surrogate (not text);
    ValueError with the message a person reads otherwise."""
    if "\x00" in value:
        raise ValueError(_("Contains a character that is not allowed."))
    # Only text outside ASCII can hold a surrogate; most text is searched not at all.
    if not value.isascii() and _SURROGATE.search(value):
        raise ValueError(_("Contains a character that is not allowed."))
    return value


#: Text as people type it: refused with NUL or lone surrogates, surrounding blanks dropped
#: (before the limits apply). Limits go with the field:
#: `Annotated[Text, Field(min_length=1, max_length=100)]`.
Text = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(check_text)]


class BodyModel(BaseModel):
    """A JSON request body. Unknown fields are refused; values are not coerced (strict), so a
    boolean is never taken for a number and a number never for text; NaN and Infinity are
    refused. Subclasses may set `error_code` (the answer's `error.code`, e.g.
    `invalid_checkin`), `error_summary` (its `message`) and `field_messages` (what a person
    reads for a field whatever is wrong with it, instead of the generic message by error
    type)."""

    model_config = ConfigDict(
        extra="forbid", strict=True, allow_inf_nan=False, str_max_length=100_000
    )

    error_code: ClassVar[str] = "invalid_parameters"
    error_summary: ClassVar[Any] = lazy_gettext("Some fields need correcting.")
    field_messages: ClassVar[Mapping[str, Any]] = {}


class QueryModel(BaseModel):
    """Query parameters. They arrive as text, so values are parsed (lax), but a number must
    still be a number. An empty value is the parameter's absence (`?to=` from a form with the
    field left blank); the document says so for every optional parameter.

    The model itself ignores parameters it does not know, because pages validate their own
    query string with it (the triage queue: `services.queue.parse_filters`), which carries
    the page's `lang` and more. The API does not: `parse_query` refuses a parameter the
    operation does not declare, naming it (the document cannot say "any other parameter is
    ignored" — OpenAPI tools take the declared ones as the whole list — and a misspelt
    filter silently ignored answers a different question). `lang` is declared for every
    operation with query parameters (`COMMON_QUERY`): the field app sends it on every
    request."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False, str_max_length=10_000)

    error_code: ClassVar[str] = "invalid_parameters"
    error_summary: ClassVar[Any] = lazy_gettext("Check the parameters.")
    field_messages: ClassVar[Mapping[str, Any]] = {}

    @model_validator(mode="before")
    @classmethod
    def _empty_is_absent(cls, values: Any) -> Any:
        if isinstance(values, dict):
            return {k: v for k, v in values.items() if v != ""}
        return values


class AnswerModel(BaseModel):
    """An answer body. `extra="forbid"` makes the document say `additionalProperties: false`,
    so a field the view adds without declaring it fails the tests (see `Contract`)."""

    model_config = ConfigDict(extra="forbid")


class ErrorDetail(AnswerModel):
    """What went wrong."""

    code: str = Field(
        description="Stable, for programs (e.g. `invalid_report`, `not_found`).",
        examples=["invalid_parameters"],
    )
    message: str = Field(
        description="For a person, in the request's language.",
        examples=["Some fields need correcting."],
    )
    fields: dict[str, str] = Field(
        default_factory=dict,
        description="Only when input was wrong: per field, what needs correcting (nested "
        "fields are named like `parties[0].id_number`); absent otherwise.",
    )


class Error(AnswerModel):
    """The one error shape of the whole API (错误)."""

    error: ErrorDetail


def error_answer(code: str, message: str, fields: dict[str, str] | None = None) -> dict[str, Any]:
    """An error body (the same as `fieldapp.errors.error_body`), e.g. for examples."""
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return {"error": body}


# --- errors ----------------------------------------------------------------------------------


def _field_name(loc: tuple[int | str, ...]) -> str:
    """('parties', 0, 'name') → 'parties[0].name', as people and the old parsers name it."""
    name = ""
    for part in loc:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{part}" if name else str(part)
    return name


def _generic_message(error: ErrorDetails) -> str:
    """The message for an error a field did not word itself, by pydantic's error type."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "missing":
        return _("Required.")
    if kind == "extra_forbidden":
        return _("Unknown field; remove it.")
    if kind in ("bool_type", "bool_parsing"):
        return _("true or false.")
    if kind in ("int_type", "int_parsing", "int_from_float", "int_parsing_size"):
        return _("A whole number.")
    if kind in ("float_type", "float_parsing"):
        return _("A number.")
    if kind == "finite_number":
        return _("Must be a finite number.")
    if kind in ("string_type", "string_unicode"):
        return _("Must be text.")
    # A length constraint on a validated type (Text) is a generic too_long/too_short; its
    # field_type tells text ("Value") from lists ("List").
    text = kind.startswith("string_") or ctx.get("field_type") == "Value"
    if kind in ("string_too_short", "too_short") and text:
        return _("Required.")
    if kind in ("string_too_long", "too_long") and text:
        return _("Too long: at most %(limit)d characters.", limit=int(ctx.get("max_length", 0)))
    if kind in ("greater_than_equal", "greater_than"):
        return _("At least %(limit)s.", limit=ctx.get("ge", ctx.get("gt")))
    if kind in ("less_than_equal", "less_than"):
        return _("At most %(limit)s.", limit=ctx.get("le", ctx.get("lt")))
    if kind in ("literal_error", "enum"):
        return _("One of: %(values)s.", values=ctx.get("expected", ""))
    if kind.startswith("uuid"):
        return _("A UUID, e.g. %(example)s.", example="9b2f0c1e-5d3a-4c7e-8f41-2a6b9d0e1f23")
    if kind.startswith("date_") or kind == "date_type":
        return _("A date like %(example)s.", example="2026-11-25")
    if kind.startswith("datetime"):
        return _("A date and time, e.g. %(example)s.", example="2026-11-25T09:30:00+08:00")
    if kind in ("list_type", "tuple_type"):
        return _("A list.")
    if kind == "too_long":
        return _("At most %(n)d items.", n=int(ctx.get("max_length", 0)))
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return _("An object.")
    if kind == "string_pattern_mismatch":
        return _("Check the format.")
    return _("Not a valid value here.")


def field_errors(
    exc: ValidationError, field_messages: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """Per field, what a person reads: a validator's own ValueError message first (it is
    already in the request's language), then the field's `field_messages` entry, then the
    generic message of the error type. One message per field (the first)."""
    messages = field_messages or {}
    fields: dict[str, str] = {}
    for error in exc.errors(include_url=False, include_input=False):
        name = _field_name(error["loc"])
        if name in fields:
            continue
        kind = error["type"]
        # `parties[*].phone` words the message of every party's phone.
        pattern = _INDEX.sub("[*]", name)
        if kind in ("value_error", "assertion_error"):
            fields[name] = str((error.get("ctx") or {}).get("error", error["msg"]))
        elif kind != "extra_forbidden" and (name in messages or pattern in messages):
            fields[name] = str(messages.get(name) or messages[pattern])
        else:
            fields[name] = _generic_message(error)
    return fields


def _not_json() -> ApiError:
    return ApiError(
        400, "invalid_json", _("The body must be JSON (Content-Type: application/json).")
    )


def validation_error(model: type[BodyModel] | type[QueryModel], exc: ValidationError) -> ApiError:
    """The 400 for a request `model` refused: the whole body when it is not JSON or not an
    object, otherwise every field at once."""
    errors = exc.errors(include_url=False, include_input=False)
    whole = [e for e in errors if not e["loc"]]
    if whole:
        if whole[0]["type"] == "json_invalid":
            return _not_json()
        return ApiError(400, model.error_code, _("The body must be a JSON object."))
    return ApiError(
        400, model.error_code, str(model.error_summary), field_errors(exc, model.field_messages)
    )


B = TypeVar("B", bound=BodyModel)
Q = TypeVar("Q", bound=QueryModel)


@functools.cache
def _auth() -> Any:
    """fieldapp.auth, imported on first use: it imports the models and services, which
    import these contract modules."""
    from fieldapp import auth

    return auth


def validation_context() -> dict[str, Any]:
    """What validators may need besides the value: the request's time (`now`, the app's
    clock), so "not in the future" holds against the same clock as the rest of the request."""
    return {"now": _auth().now()}


def parse_body(model: type[B], context: Mapping[str, Any] | None = None) -> B:
    """The request's JSON body as `model`, read from the raw bytes in one pass (no
    `json.loads` + walk: pydantic's parser refuses NaN, Infinity, invalid UTF-8 and lone
    surrogates itself, and `Text` fields refuse NUL); ApiError 400 otherwise. Only a refused
    body is read a second time, by the app's strict JSON reader, so that NUL, a lone
    surrogate or nesting too deep anywhere (a key included) is answered as before #18:
    `invalid_text` / `invalid_json` naming where."""
    if not request.is_json:
        raise _not_json()
    raw = request.get_data(cache=True)
    try:
        return model.model_validate_json(raw, context={**validation_context(), **(context or {})})
    except ValidationError as exc:
        _refuse_hostile(raw)
        raise validation_error(model, exc) from None


def _refuse_hostile(raw: bytes) -> None:
    """ApiError for what `fieldapp.errors.HostileJSONProvider` refuses in `raw` (NUL, lone
    surrogates, too deep, NaN, integers beyond 2**53); nothing when it reads it, or when it is
    not JSON at all (the caller's answer says so)."""
    try:
        current_app.json.loads(raw)
    except ValueError:
        return


#: Query parameters every operation with a query model takes besides its own (the document
#: declares them too): `lang`, the language of messages and labels (`fieldapp.i18n`), which
#: wins over Accept-Language; an unsupported value is ignored.
COMMON_QUERY: Final[dict[str, dict[str, Any]]] = {
    "lang": {
        "description": "Language of messages and labels: `zh` (default) or `en`; wins over "
        "Accept-Language. Another value is ignored.",
        "schema": {"type": "string", "examples": ["en"]},
    }
}


@functools.cache
def query_names(model: type[QueryModel]) -> frozenset[str]:
    """The query parameters an operation with `model` takes, by the names the document gives
    them (aliases such as `from`), `COMMON_QUERY` included."""
    return frozenset(model.model_json_schema().get("properties", {})) | frozenset(COMMON_QUERY)


def unknown_parameters(model: type[QueryModel]) -> ApiError | None:
    """The 400 for query parameters `model`'s operation does not take, naming each; None when
    there are none."""
    unknown = sorted(set(request.args) - query_names(model))
    if not unknown:
        return None
    message = _(
        "Unknown parameters: %(names)s. This operation takes: %(known)s.",
        names=", ".join(f"“{name}”" for name in unknown),
        known=", ".join(sorted(query_names(model))),
    )
    fields = {name: _("Not a parameter of this operation.") for name in unknown}
    return ApiError(400, model.error_code, message, fields)


def parse_query(model: type[Q], context: Mapping[str, Any] | None = None) -> Q:
    """The query string as `model` (first value of each parameter); ApiError 400 otherwise,
    also for a parameter the operation does not take (`unknown_parameters`)."""
    refused = unknown_parameters(model)
    if refused is not None:
        raise refused
    try:
        return model.model_validate(
            request.args.to_dict(), context={**validation_context(), **(context or {})}
        )
    except ValidationError as exc:
        raise validation_error(model, exc) from None


# --- operations ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Binary:
    """An answer that is not JSON (a photo, a file): its media types."""

    media_types: tuple[str, ...]
    headers: Mapping[str, Any] = field(default_factory=dict)
    #: The body's JSON schema; bytes unless said otherwise (an HTML page is text).
    schema: Mapping[str, Any] = field(
        default_factory=lambda: {"type": "string", "format": "binary"}
    )


#: One documented error answer: its description, or (description, {name: (summary, body)})
#: with example bodies (`error_answer(...)`), optionally with its headers as a third element
#: (`{"Retry-After": {"$ref": "#/components/headers/RetryAfter"}}`).
ErrorDoc = (
    str
    | tuple[str, Mapping[str, tuple[str, Any]]]
    | tuple[str, Mapping[str, tuple[str, Any]], Mapping[str, Any]]
)

#: Component schemas the document names although no model is behind them: the enumerations
#: several models share (Severity, Role, ...), recorded by `Named` as their schemas are made.
NAMED_SCHEMAS: dict[str, dict[str, Any]] = {}


@dataclass(frozen=True)
class Named:
    """Documents a type once, as the component schema `name`, which every use refers to:
    `SeverityName = Annotated[Severity, Named("Severity", "Warning colour ...")]`. Validation
    is the annotated type's own."""

    name: str
    description: str

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        inline = {"description": self.description, **handler(schema)}
        if not isinstance(getattr(handler, "generate_json_schema", None), Schemas):
            return inline  # a plain `model_json_schema()`: no components to refer to
        NAMED_SCHEMAS[self.name] = inline
        return {"$ref": f"#/components/schemas/{self.name}"}


class Schemas(GenerateJsonSchema):
    """The document's JSON schemas: pydantic's, without the per-field `title` it makes from
    the field name ("People Involved": the property's name says it, and Swagger UI shows
    both), and with `Named` types as references to their components."""

    def field_title_should_be_set(self, schema: core_schema.CoreSchema) -> bool:
        return False

    def handle_ref_overrides(self, json_schema: dict[str, Any]) -> dict[str, Any]:
        # A `Named` type refers to a component pydantic does not know of; there is nothing
        # of it to compare the reference's siblings with.
        ref = str(json_schema.get("$ref", ""))
        if ref.removeprefix("#/components/schemas/") in NAMED_SCHEMAS:
            return json_schema
        return super().handle_ref_overrides(json_schema)


#: One documented answer: (description, body). Body: an AnswerModel subclass, a Binary, a JSON
#: schema dict (for the rare answer no model fits), or None (no body, e.g. 204).
#: A third element, {name: (summary, value)}, gives examples where the body has none of its own.
Body = type[BaseModel] | Binary | dict[str, Any] | None
Answer = tuple[str, Body] | tuple[str, Body, Mapping[str, tuple[str, Any]]]


@dataclass(frozen=True)
class Operation:
    """What the document says about one method on one path; recorded by `Contract`."""

    path: str  # OpenAPI template relative to API_PREFIX, e.g. "/reports/{report_id}"
    method: str  # lower case
    operation_id: str
    summary: str
    description: str
    tags: tuple[str, ...]
    body: type[BodyModel] | None
    query: type[QueryModel] | None
    answers: Mapping[int, Answer]
    errors: Mapping[int, ErrorDoc]
    public: bool
    path_params: Mapping[str, tuple[str, dict[str, Any]]]
    body_media: dict[str, Any] | None = None  # a non-JSON body (multipart), as OpenAPI says it
    extra: Mapping[str, Any] = field(default_factory=dict)


#: Every operation declared so far, in declaration order; `fieldapp.contract.document` writes
#: the document from it. Keyed by (path, method) so importing a module twice is harmless.
OPERATIONS: dict[tuple[str, str], Operation] = {}

_RULE_VARIABLE = re.compile(r"<(?:[a-zA-Z_][a-zA-Z0-9_]*(?:\([^)]*\))?:)?([a-zA-Z_][a-zA-Z0-9_]*)>")


def openapi_path(rule: str) -> str:
    """A Flask rule as an OpenAPI path template: `/reports/<report_id>` → `/reports/{report_id}`."""
    return _RULE_VARIABLE.sub(r"{\1}", rule)


class Contract:
    """Routes views on an ordinary Flask blueprint and records what each takes and answers.

        contract = Contract(bp)

        @contract.post("/checkins", body=CheckinInput, answers={201: ("Recorded.", Checkin)},
                       errors={403: "Not a grid officer."}, tags=("checkins",),
                       operation_id="checkIn", summary="Zero reporting check-in")
        def checkin(body: CheckinInput) -> ResponseReturnValue:
            '''The operation's description (Markdown).'''

    The view gets the parsed `body` and/or `query` as keyword arguments (a 400 in our error
    shape never reaches it). It answers as any Flask view does; under `app.testing` every JSON
    answer is checked against the model declared for its status, so a view cannot drift from
    its contract unnoticed."""

    def __init__(self, blueprint: Blueprint) -> None:
        self.blueprint = blueprint
        prefix = blueprint.url_prefix or ""
        if not prefix.startswith(API_PREFIX):
            raise ValueError(f"{blueprint.name}: the API lives under {API_PREFIX}")
        self.prefix = prefix[len(API_PREFIX) :]

    def route(
        self,
        method: str,
        rule: str,
        *,
        operation_id: str,
        summary: str,
        tags: tuple[str, ...],
        answers: Mapping[int, Answer],
        body: type[BodyModel] | None = None,
        query: type[QueryModel] | None = None,
        errors: Mapping[int, ErrorDoc] | None = None,
        public: bool = False,
        path_params: Mapping[str, tuple[str, dict[str, Any]]] | None = None,
        body_media: dict[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
        context: Callable[[], Mapping[str, Any]] | None = None,
    ) -> Callable[[F], F]:
        """Declare and route one operation. `path_params` maps a rule variable to (description,
        JSON schema); `errors` maps a status to its description (400/401/500 are added as
        needed); `extra` is merged into the operation as is (e.g. `x-` fields)."""

        def decorate(view: F) -> F:
            operation = Operation(
                path=self.prefix + openapi_path(rule),
                method=method.lower(),
                operation_id=operation_id,
                summary=summary,
                description=_dedent(view.__doc__ or ""),
                tags=tags,
                body=body,
                query=query,
                answers=dict(answers),
                errors=dict(errors or {}),
                public=public,
                path_params=dict(path_params or {}),
                body_media=body_media,
                extra=dict(extra or {}),
            )
            OPERATIONS[(operation.path, operation.method)] = operation

            @wraps(view)
            def wrapper(*args: Any, **kwargs: Any) -> ResponseReturnValue:
                # Who asks comes first: without a token the answer is 401, whatever the
                # body (the user is kept on `g` for the view). An operation with a `context`
                # checks the caller there (reads that also take the web session do), and
                # adds what its validators need beyond the clock (the caller, lookups), so
                # such checks name their fields with the others.
                more = None
                if context is not None:
                    more = context()
                elif not public:
                    _auth().api_user()
                if body is not None:
                    kwargs["body"] = parse_body(body, more)
                if query is not None:
                    kwargs["query"] = parse_query(query, more)
                answer = view(*args, **kwargs)
                if current_app.testing:
                    _check_answer(operation, answer)
                return answer

            self.blueprint.add_url_rule(rule, view_func=wrapper, methods=[method.upper()])
            return view

        return decorate

    def get(self, rule: str, **kwargs: Any) -> Callable[[F], F]:
        return self.route("GET", rule, **kwargs)

    def post(self, rule: str, **kwargs: Any) -> Callable[[F], F]:
        return self.route("POST", rule, **kwargs)

    def delete(self, rule: str, **kwargs: Any) -> Callable[[F], F]:
        return self.route("DELETE", rule, **kwargs)


def _dedent(doc: str) -> str:
    import inspect

    return inspect.cleandoc(doc)


def _check_answer(operation: Operation, answer: Any) -> None:
    """Under tests: the JSON answer fits the model declared for its status (AssertionError
    otherwise, so the test fails where the drift is)."""
    response = current_app.make_response(answer)
    declared = operation.answers.get(response.status_code)
    if declared is None:
        raise AssertionError(
            f"{operation.method.upper()} {operation.path} answered {response.status_code}, "
            "which its contract does not declare"
        )
    model = declared[1]
    if isinstance(model, type) and issubclass(model, BaseModel):
        try:
            model.model_validate_json(response.get_data())
        except ValidationError as exc:
            raise AssertionError(
                f"{operation.method.upper()} {operation.path} {response.status_code}: the "
                f"answer does not fit {model.__name__}: {exc}"
            ) from None
