"""`apps.runtime.schema.inputs`, the one reader of a version's inputs: order, required,
enums however they are referenced, and the kind of each input."""

from __future__ import annotations

from apps.runtime import inputs as file_inputs
from apps.runtime import schema

ENUM = {"title": "style", "description": "An enumeration.", "enum": ["a", "b"], "type": "string"}


def document(properties: dict, required=(), **components) -> dict:
    schemas = {"Input": {"type": "object", "properties": properties, "required": list(required)}}
    return {"components": {"schemas": {**schemas, **components}}}


DOCUMENT = document(
    {
        "files": {
            "type": "array",
            "items": {"type": "string", "format": "uri"},
            "x-order": 7,
        },
        "prompt": {"type": "string", "title": "Prompt", "description": "Say", "x-order": 0},
        "steps": {"type": "integer", "minimum": 1, "maximum": 9, "default": 2, "x-order": 1},
        "style": {"allOf": [{"$ref": "#/components/schemas/style"}], "x-order": 2, "default": "b"},
        "bare": {"$ref": "#/components/schemas/style", "x-order": 3, "description": "Mine"},
        "image": {"type": "string", "format": "uri", "nullable": True, "x-order": 4},
        "token": {"type": "string", "format": "password", "x-cog-secret": True, "x-order": 5},
        "tags": {"type": "array", "items": {"type": "string"}, "x-order": 6},
        "extra": {"type": "object", "x-order": 8},
        "either": {"anyOf": [{"type": "string"}, {"type": "integer"}], "x-order": 9},
        "flag": {"type": "boolean", "default": False, "x-order": 10},
        "ratio": {"type": "number", "x-order": 11},
        "unordered": {"type": "string"},
    },
    required=("prompt", "bare"),
    style=ENUM,
)


def test_inputs_come_in_x_order_with_required_and_kind():
    specs = schema.inputs(DOCUMENT)
    assert [(s.name, s.kind, s.required) for s in specs] == [
        ("prompt", "string", True),
        ("steps", "integer", False),
        ("style", "choice", False),
        ("bare", "choice", True),
        ("image", "file", False),
        ("token", "secret", False),
        ("tags", "list", False),
        ("files", "files", False),
        ("extra", "json", False),
        ("either", "json", False),
        ("flag", "boolean", False),
        ("ratio", "number", False),
        ("unordered", "string", False),
    ]
    by_name = {s.name: s for s in specs}
    assert by_name["steps"].minimum == 1 and by_name["steps"].maximum == 9
    assert by_name["steps"].has_default and by_name["steps"].default == 2
    assert by_name["prompt"].title == "Prompt" and by_name["prompt"].description == "Say"
    assert by_name["image"].nullable and not by_name["image"].has_default
    assert [by_name[n].api_type for n in ("tags", "files", "image", "token", "either")] == [
        "array of strings",
        "array of files",
        "file",
        "secret",
        "string",
    ]


def test_an_enum_reads_the_same_through_allof_or_a_bare_ref():
    by_name = {s.name: s for s in schema.inputs(DOCUMENT)}
    style, bare = by_name["style"], by_name["bare"]
    assert style.choices == bare.choices == ["a", "b"]
    assert style.type == bare.type == "string"
    assert style.default == "b" and not bare.has_default
    # The enum's own title and description ("An enumeration.") are not the input's.
    assert style.title == "Style" and style.description == ""
    assert bare.description == "Mine"


def test_a_missing_or_circular_ref_is_left_alone():
    specs = schema.inputs(
        document(
            {
                "gone": {"$ref": "#/components/schemas/gone", "x-order": 0},
                "loop": {"$ref": "#/components/schemas/loop", "x-order": 1},
            },
            loop={"$ref": "#/components/schemas/loop"},
        )
    )
    assert [(s.name, s.kind) for s in specs] == [("gone", "json"), ("loop", "json")]
    assert schema.inputs({}) == [] and schema.inputs(None) == []


def test_the_model_processes_find_file_inputs_through_it():
    assert file_inputs.file_fields(DOCUMENT) == ({"image"}, {"files"})


def test_the_validation_schema_lets_a_nullable_bare_ref_be_null():
    root = schema.input_json_schema(
        document({"bare": {"$ref": "#/components/schemas/style", "nullable": True}}, style=ENUM)
    )
    bare = root["components"]["schemas"]["Input"]["properties"]["bare"]
    assert bare == {"anyOf": [{"type": "null"}, {"$ref": "#/components/schemas/style"}]}
