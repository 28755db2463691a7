"""Checks on user text before it reaches the database."""

from __future__ import annotations


def contains_nul(value) -> bool:
    """Whether a JSON-like value holds a NUL character anywhere (keys included): PostgreSQL's
    text and jsonb columns cannot store one."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(contains_nul(k) or contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(contains_nul(v) for v in value)
    return False
