"""Checking our /v1 responses against Replicate's published OpenAPI document (the contract).

    assert_matches_contract("GET", "/models/{owner}/{name}", 200, response.json())
    assert_response_matches(response, "GET", "/models/{owner}/{name}")
    assert_problem(response, 404)

Path templates may start with /v1 and may name their parameters differently from the contract
(`/models/{owner}/{name}` finds `/models/{model_owner}/{model_name}`). The schema is read from
the contract with every $ref inlined and OpenAPI 3.0's dialect turned into JSON Schema:
`nullable: true` also admits null, and `oneOf` becomes `anyOf` (the contract's only `oneOf`,
a prediction's `version`, lists a string and the string "hidden", which a strict oneOf refuses).
Formats `uri` (absolute, with a host) and `date-time` (ISO 8601 with an offset) are checked.

The contract is REPLICATE_OPENAPI_CONTRACT when set, else the shared copy beside the checkout.
"""

from __future__ import annotations

import functools
import json
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import yaml

CANDIDATES = [
    Path(__file__).resolve().parent / "contracts" / "replicate-openapi.yaml",
    Path(__file__).resolve().parents[2] / "shared" / "contracts" / "replicate-openapi.yaml",
    Path("/work/shared/contracts/replicate-openapi.yaml"),
]
PROBLEM_CONTENT_TYPE = "application/problem+json"

# OpenAPI 3.0 has no QUERY method; Replicate's search answers like the list of models.
ALIASES = {("query", "/models"): ("get", "/models")}


def contract_path() -> Path:
    configured = os.environ.get("REPLICATE_OPENAPI_CONTRACT")
    if configured:
        return Path(configured)
    for candidate in CANDIDATES:
        if candidate.exists():
            return candidate
    raise AssertionError(
        "The OpenAPI contract is missing: set REPLICATE_OPENAPI_CONTRACT or put it at "
        + " or ".join(map(str, CANDIDATES))
    )


@functools.cache
def contract() -> dict:
    return yaml.safe_load(contract_path().read_text())


def _normalise(template: str) -> str:
    template = template.split("?", 1)[0].rstrip("/") or "/"
    template = template.removeprefix("/v1") or "/"
    return re.sub(r"\{[^}]*\}", "{}", template)


def operation(method: str, path_template: str) -> dict:
    method, wanted = method.lower(), _normalise(path_template)
    method, wanted = ALIASES.get((method, wanted), (method, wanted))
    for path, operations in contract()["paths"].items():
        if _normalise(path) == wanted:
            if method not in operations:
                raise AssertionError(f"The contract has no {method.upper()} {path}")
            return operations[method]
    raise AssertionError(f"The contract has no path like {path_template}")


def _resolve(node: Any, seen: tuple[str, ...] = ()) -> Any:
    """`node` with $refs inlined and OpenAPI 3.0's keywords turned into JSON Schema."""
    if isinstance(node, list):
        return [_resolve(item, seen) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        if ref in seen:
            raise AssertionError(f"Recursive $ref {ref} in the contract")
        target: Any = contract()
        for part in ref.removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        return _resolve(target, (*seen, ref))
    schema = {key: _resolve(value, seen) for key, value in node.items()}
    if "oneOf" in schema:
        schema["anyOf"] = schema.pop("oneOf")
    if schema.pop("nullable", False):
        if "type" in schema:
            schema["type"] = [schema["type"], "null"]
        if "enum" in schema:
            schema["enum"] = [*schema["enum"], None]
        if "type" not in schema and "enum" not in schema:
            schema = {"anyOf": [schema, {"type": "null"}]}
    return schema


def response_schema(
    method: str, path_template: str, status: int, content_type: str | None = None
) -> dict | None:
    """The JSON Schema of that response's body; None when the contract describes no body."""
    responses = operation(method, path_template)["responses"]
    response = responses.get(str(status)) or responses.get(status)
    if response is None:
        raise AssertionError(
            f"The contract has no {status} response for {method.upper()} {path_template} "
            f"(it has {', '.join(map(str, responses))})"
        )
    content = response.get("content")
    if not content:
        return None
    if content_type is None:
        content_type = "application/json" if "application/json" in content else next(iter(content))
    if content_type not in content:
        raise AssertionError(
            f"{method.upper()} {path_template} {status} is {', '.join(content)}, not {content_type}"
        )
    return _resolve(content[content_type].get("schema", {}))


format_checker = jsonschema.FormatChecker()


@format_checker.checks("uri", raises=ValueError)
def _is_uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return bool(parts.scheme and parts.netloc)


@format_checker.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    return datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None


def assert_matches_contract(
    method: str,
    path_template: str,
    status: int,
    body: Any,
    *,
    content_type: str | None = None,
) -> None:
    """Fail with every difference between `body` (parsed JSON, or text) and the contract."""
    schema = response_schema(method, path_template, status, content_type)
    if schema is None:
        assert body in (None, b"", ""), f"The contract has no body here, we sent {body!r}"
        return
    validator = jsonschema.Draft7Validator(schema, format_checker=format_checker)
    errors = sorted(validator.iter_errors(body), key=lambda error: list(error.absolute_path))
    if errors:
        lines = [
            f"  at {'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
            for error in errors[:20]
        ]
        raise AssertionError(
            f"{method.upper()} {path_template} {status} does not match the contract:\n"
            + "\n".join(lines)
        )


def assert_response_matches(response, method: str, path_template: str) -> None:
    """The same for a Django test client (or httpx) response, JSON or text by its type."""
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
    content = response.content
    if content_type == "application/json" or content_type.endswith("+json"):
        # Our errors are application/problem+json, JSON all the same; the contract says json.
        content_type = "application/json"
        body = json.loads(content)
    elif content_type.startswith("text/"):
        body = content.decode()
    else:
        body = content or None
    assert_matches_contract(
        method, path_template, response.status_code, body, content_type=content_type or None
    )


def assert_problem(response, status: int) -> dict:
    """An RFC 7807 error as our API sends them; returns the body."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response.headers["Content-Type"].startswith(PROBLEM_CONTENT_TYPE), response.headers
    body = json.loads(response.content)
    assert body["status"] == status, body
    assert isinstance(body.get("title"), str) and body["title"], body
    assert isinstance(body.get("detail"), str) and body["detail"], body
    return body
