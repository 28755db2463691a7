"""Checking a prediction's input against its version's `Input` schema, with Replicate's
error shape: `invalid_fields` of `{type, field, description}` and one `- field: message` line
per problem in `detail`."""

from __future__ import annotations

import json

from jsonschema import Draft7Validator

from apps.core.problems import ApiError
from apps.core.text import contains_nul
from apps.runtime import schema

_TYPE_NAMES = {
    "string": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
    "array": "array",
    "object": "object",
}


def input_validator(openapi_schema: dict) -> Draft7Validator:
    return Draft7Validator(schema.input_json_schema(openapi_schema))


def _describe(error) -> tuple[str, str, str]:
    """(type, field, description) in the style of Replicate's (gojsonschema's) messages."""
    path = [str(p) for p in error.absolute_path]
    name = path[-1] if path else "input"
    field = "input." + ".".join(path) if path else "input"
    validator, value = error.validator, error.validator_value
    if validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else "a value"
        return "required", "input", f"{missing} is required"
    if validator == "enum":
        choices = ", ".join(json.dumps(v) for v in value)
        return "enum", field, f"{name} must be one of the following: {choices}"
    if validator == "maximum":
        return "number_lte", field, f"{name} must be less than or equal to {value}"
    if validator == "minimum":
        return "number_gte", field, f"{name} must be greater than or equal to {value}"
    if validator == "maxLength":
        return "string_lte", field, f"String length must be less than or equal to {value}"
    if validator == "minLength":
        return "string_gte", field, f"String length must be greater than or equal to {value}"
    if validator == "pattern":
        return "pattern", field, f"{name} does not match pattern {value}"
    if validator == "type":
        expected = value if isinstance(value, str) else " or ".join(value)
        return (
            "invalid_type",
            field,
            f"Invalid type. Expected: {expected}, given: {_json_type(error.instance)}",
        )
    return validator, field, error.message


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def validate_input(openapi_schema: dict, value) -> dict:
    """The input restricted to the schema's properties, or an ApiError 422 saying what is
    wrong with each field."""
    if not isinstance(value, dict):
        raise invalid([("invalid_type", "input", "input must be an object")])
    if contains_nul(value):
        raise invalid(
            [("invalid_string", "input", "input must not contain NUL (\\u0000) characters")]
        )
    errors = sorted(
        input_validator(openapi_schema).iter_errors(value), key=lambda e: list(e.absolute_path)
    )
    if errors:
        raise invalid([_describe(error) for error in errors])
    names = {spec.name for spec in schema.inputs(openapi_schema)}
    return {k: v for k, v in value.items() if k in names}


def invalid(problems: list[tuple[str, str, str]]) -> ApiError:
    detail = "".join(
        f"- {field}: {description}\n" if field else f"- {description}\n"
        for _type, field, description in problems
    )
    fields = [{"type": t, "field": f, "description": d} for t, f, d in problems]
    return ApiError(422, "Input validation failed", detail, invalid_fields=fields)
