"""JSON request bodies that are refused at the door when they cannot be stored or answered.

Python's `json` takes `NaN` and `Infinity` (not JSON; no database column or client can hold
them), `1e999` (infinity again), lone surrogates such as "\\ud800" (which no UTF-8 column or
response can encode), and fails with errors other than JSONDecodeError on 5,000-digit
integers (ValueError) and deeply nested arrays (RecursionError). `parse_json` turns each of
these into a 400 problem. `BodyParser` does the same for ninja's typed bodies.
"""

from __future__ import annotations

import json
import math

from ninja.parser import Parser

from apps.core.problems import ApiError

MAX_DEPTH = 64
MAX_INTEGER_DIGITS = 300


class InvalidJson(ValueError):
    def __init__(self, reason: str, *, malformed: bool = False) -> None:
        super().__init__(reason)
        self.malformed = malformed  # not JSON at all, rather than JSON we refuse


def _refuse_constant(name: str):
    raise InvalidJson(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidJson(f"the number {text[:20]}… is too large")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise InvalidJson(f"integers may have at most {MAX_INTEGER_DIGITS} digits")
    return int(text)


def _check_string(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidJson("a string contains a lone surrogate (such as \\ud800)") from None


def _check_tree(value: object) -> None:
    """Walk without recursion: depth, and strings that UTF-8 cannot encode (keys too)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_string(item)
        elif isinstance(item, (dict, list)):
            if depth > MAX_DEPTH:
                raise InvalidJson(f"it is nested more than {MAX_DEPTH} levels deep")
            if isinstance(item, dict):
                for key, child in item.items():
                    _check_string(key)
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)


def loads(raw: bytes | str) -> object:
    """json.loads for untrusted input; raises InvalidJson (a ValueError) with the reason."""
    try:
        value = json.loads(
            raw,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            parse_int=_bounded_int,
        )
    except RecursionError:
        raise InvalidJson(f"it is nested more than {MAX_DEPTH} levels deep") from None
    except InvalidJson:
        raise
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError
        raise InvalidJson(str(error), malformed=True) from None
    _check_tree(value)
    return value


def parse_json(raw: bytes | str) -> object:
    """The body of an API request, or a 400 problem saying what is wrong with it."""
    try:
        return loads(raw)
    except InvalidJson as error:
        detail = f"The request body is not valid JSON: {error}"
        raise ApiError(400, "Invalid JSON", detail) from None


class BodyParser(Parser):
    def parse_body(self, request):
        return parse_json(request.body)
