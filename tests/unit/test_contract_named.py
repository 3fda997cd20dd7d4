"""`Named` (fieldapp.contract.base): a type documented once as a component that every use
refers to, validated as the type itself; and the document's frame is the contract's own."""

from __future__ import annotations

from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from fieldapp.contract import document, overview
from fieldapp.contract.base import NAMED_SCHEMAS, Named, Schemas

Colour = Annotated[Literal["red", "blue"], Named("TestColour", "A colour.")]


class Paint(BaseModel):
    colour: Colour
    second: Colour | None = None


def test_every_use_refers_to_the_one_component() -> None:
    _keys, defs = models_json_schema(
        [(Paint, "serialization")], ref_template=document.REF, schema_generator=Schemas
    )
    props = defs["$defs"]["Paint"]["properties"]
    ref = {"$ref": "#/components/schemas/TestColour"}
    assert props["colour"] == ref
    assert ref in props["second"]["anyOf"]
    assert NAMED_SCHEMAS.pop("TestColour") == {
        "description": "A colour.",
        "enum": ["red", "blue"],
        "type": "string",
    }


def test_a_plain_schema_of_the_model_inlines_it_and_validation_is_the_types() -> None:
    assert Paint.model_json_schema()["properties"]["colour"]["enum"] == ["red", "blue"]
    assert Paint.model_validate({"colour": "red"}).colour == "red"
    with pytest.raises(ValidationError):
        Paint.model_validate({"colour": "green"})


def test_the_frame_is_the_contracts_own() -> None:
    """What stays when the last hand-written module goes: info, tags, security and the
    answers every operation shares."""
    frame = overview.frame("/grid/api/v1")
    assert frame["info"]["title"].startswith("Rizhao grid platform API")
    assert frame["servers"][0]["url"] == "/grid/api/v1"
    assert {"Unauthorized", "InternalError"} <= set(frame["components"]["responses"])
    assert frame["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert frame["paths"] == {} and frame["components"]["schemas"] == {}
    doc = document.build_openapi()
    assert [t["name"] for t in doc["tags"]] == [t["name"] for t in overview.TAGS]
