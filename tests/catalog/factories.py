"""Models, versions and predictions for the tests of the model and prediction pages and API."""

from __future__ import annotations

from apps.catalog.models import Model, Version


def make_model(cast, visibility="private", *, owner=None, name="secret-sauce", **fields) -> Model:
    return Model.objects.create(
        owner=owner or cast.acme.account, name=name, visibility=visibility, **fields
    )


STEPS = {
    "type": "integer",
    "title": "Steps",
    "minimum": 1,
    "maximum": 10,
    "default": 2,
    "x-order": 1,
}
STYLE = {"title": "style", "description": "An enumeration.", "enum": ["a", "b"], "type": "string"}
TEXT_OUTPUT = {"type": "string", "title": "Output"}
STREAMING_OUTPUT = {
    "type": "array",
    "items": {"type": "string"},
    "title": "Output",
    "x-cog-array-type": "iterator",
    "x-cog-array-display": "concatenate",
}
FILE_OUTPUT = {"type": "string", "format": "uri", "title": "Output"}


def style_input(default: str, order: int) -> dict:
    return {"allOf": [{"$ref": "#/components/schemas/style"}], "default": default, "x-order": order}


def cog_schema(properties: dict, output=TEXT_OUTPUT, required=("prompt",), **enums) -> dict:
    """The OpenAPI document Cog writes, so that a test spells out only its inputs and output."""
    inputs = {"type": "object", "title": "Input"}
    if required:
        inputs["required"] = list(required)
    schemas = {"Input": {**inputs, "properties": properties}, **enums, "Output": output}
    return {"openapi": "3.0.2", "paths": {}, "components": {"schemas": schemas}}


SCHEMA = cog_schema(
    {
        "prompt": {"type": "string", "title": "Prompt", "description": "What to say", "x-order": 0},
        "steps": STEPS,
        "style": style_input("a", 2),
        "loud": {"type": "boolean", "title": "Loud", "default": False, "x-order": 3},
        "api_key": {
            "type": "string",
            "format": "password",
            "x-cog-secret": True,
            "writeOnly": True,
            "title": "Api Key",
            "nullable": True,
            "x-order": 4,
        },
    },
    style={"title": "style", "enum": ["a", "b"], "type": "string"},
)


def schema_with_output(output: dict) -> dict:
    schemas = {**SCHEMA["components"]["schemas"], "Output": output}
    return {**SCHEMA, "components": {"schemas": schemas}}


def add_version(model, digest="d" * 64, schema=SCHEMA) -> Version:
    version = Version.objects.create(
        model=model,
        digest=digest,
        openapi_schema=schema,
        cog_version="0.23.1",
        predictor_ref="predict.py:Predictor",
    )
    model.refresh_latest_version()
    return version


def add_prediction(model, version, owner, **fields):
    from apps.predictions.models import Prediction

    fields = {"status": "succeeded", "input": {"prompt": "hi"}, "output": "hello", **fields}
    return Prediction.objects.create(owner=owner, model=model, version=version, **fields)
