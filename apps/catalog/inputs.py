"""A version's inputs and outputs as people read them: the fields of its `Input` schema in
Cog's order, the input a snippet starts from, and what kind of output it returns."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,8}$")

# What a snippet puts in for a required input that has neither a default nor an example.
PLACEHOLDERS = {
    "string": "",
    "integer": 0,
    "number": 0.0,
    "boolean": False,
    "array": [],
    "file": "https://example.com/your-file",
    "secret": "YOUR_SECRET",
}


@dataclass
class InputField:
    name: str
    kind: str  # string, integer, number, boolean, array, object, file or secret
    title: str = ""
    description: str = ""
    required: bool = False
    has_default: bool = False
    default: Any = None
    choices: list = field(default_factory=list)
    minimum: float | None = None
    maximum: float | None = None
    item_kind: str = ""

    @property
    def type_label(self) -> str:
        return f"{self.kind} of {self.item_kind}s" if self.item_kind else self.kind


def _components(openapi_schema: dict) -> dict:
    return (openapi_schema or {}).get("components", {}).get("schemas", {})


def _resolve(node: dict, components: dict) -> dict:
    """The property with its `allOf: [{$ref}]` (Cog's enums) folded in."""
    merged = {k: v for k, v in node.items() if k != "allOf"}
    for part in node.get("allOf", []):
        ref = part.get("$ref", "")
        target = components.get(ref.rsplit("/", 1)[-1], {}) if ref else part
        for key, value in target.items():
            merged.setdefault(key, value)
    return merged


def _kind(prop: dict) -> str:
    if prop.get("x-cog-secret"):
        return "secret"
    if prop.get("format") == "uri":
        return "file"
    return prop.get("type") or "string"


def input_fields(openapi_schema: dict) -> list[InputField]:
    """The fields of the `Input` schema, ordered by Cog's `x-order`."""
    components = _components(openapi_schema)
    schema = components.get("Input", {})
    required = set(schema.get("required", []))
    properties = schema.get("properties", {})
    ordered = sorted(properties.items(), key=lambda item: item[1].get("x-order", 1_000_000))
    fields = []
    for name, raw in ordered:
        prop = _resolve(raw, components)
        items = prop.get("items", {}) if prop.get("type") == "array" else {}
        fields.append(
            InputField(
                name=name,
                kind=_kind(prop),
                title=prop.get("title", name),
                description=prop.get("description", ""),
                required=name in required,
                has_default="default" in prop,
                default=prop.get("default"),
                choices=list(prop.get("enum", [])),
                minimum=prop.get("minimum"),
                maximum=prop.get("maximum"),
                item_kind=_kind(items) if items else "",
            )
        )
    return fields


def snippet_input(openapi_schema: dict, given: dict | None = None) -> dict:
    """The input a code snippet shows: `given` values (an example's or a prediction's input)
    over the schema's defaults, in the schema's order. Secrets are never copied (a stored
    prediction only has their mask anyway); required fields nobody filled get a placeholder so
    the snippet shows every input it needs."""
    given = given or {}
    values: dict = {}
    for spec in input_fields(openapi_schema):
        if spec.kind == "secret":
            if spec.required:
                values[spec.name] = PLACEHOLDERS["secret"]
        elif spec.name in given and given[spec.name] is not None:
            values[spec.name] = given[spec.name]
        elif spec.has_default and spec.default is not None:
            values[spec.name] = spec.default
        elif spec.required:
            values[spec.name] = PLACEHOLDERS.get(spec.kind, "")
    return values


@dataclass(frozen=True)
class OutputShape:
    files: bool = False  # the output is a file URL, or a list of them
    many: bool = False  # a list (or an iterator) of items
    streams_text: bool = False  # an iterator of text: `replicate.stream` prints it as it comes
    extension: str = ""


def output_shape(version, example_output=None) -> OutputShape:
    """How a client sees the version's output; file names take the extension of an example
    output when there is one."""
    schema = version.output_schema
    many = schema.get("type") == "array"
    item = schema.get("items", {}) if many else schema
    files = item.get("format") == "uri"
    sample = example_output[0] if isinstance(example_output, list) and example_output else None
    sample = sample if sample is not None else example_output
    extension = ""
    if files and isinstance(sample, str):
        suffix = PurePosixPath(urlsplit(sample).path).suffix
        extension = suffix if SUFFIX.match(suffix) else ""
    return OutputShape(
        files=files,
        many=many,
        streams_text=version.is_streaming and not files and item.get("type") == "string",
        extension=extension,
    )
