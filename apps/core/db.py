"""Database connections around long waits."""

from __future__ import annotations

from django.db import connection


def release_connection() -> None:
    """Give this thread's database connection back before a long wait (`Prefer: wait`, an SSE
    stream): with a pool (PostgreSQL) it serves other requests meanwhile, and the next query
    takes one again. Without a pool, or inside a transaction, nothing changes."""
    if connection.settings_dict.get("OPTIONS", {}).get("pool") and not connection.in_atomic_block:
        connection.close()
