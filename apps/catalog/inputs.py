"""A version's inputs and outputs as people read them: the fields of its `Input` schema in
Cog's order, the input a snippet starts from, and what kind of output it returns."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from apps.runtime import schema

SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,8}$")

# What a snippet puts in for a required input that has neither a default nor an example: by the
# input's kind (`schema.Input.kind`), else by its JSON type; an input with choices gets its first.
PLACEHOLDERS = {
    "string": "",
    "integer": 0,
    "number": 0.0,
    "boolean": False,
    "array": [],
    "file": "https://example.com/your-file",
    "secret": "YOUR_SECRET",
}


def input_fields(openapi_schema: dict) -> list[schema.Input]:
    """The inputs the API tab and a version's page list, in Cog's `x-order`."""
    return schema.inputs(openapi_schema)


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
        elif spec.required and spec.choices:
            values[spec.name] = spec.choices[0]
        elif spec.required:
            values[spec.name] = PLACEHOLDERS.get(spec.kind, PLACEHOLDERS.get(spec.type, ""))
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
    output = version.output_schema
    many = output.get("type") == "array"
    item = output.get("items", {}) if many else output
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
