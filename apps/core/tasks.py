"""Housekeeping actors."""

from __future__ import annotations

import dramatiq

from apps.core.redis import client


@dramatiq.actor(queue_name="default", max_retries=0)
def ping(key: str) -> None:
    """Answer a liveness probe: the caller waits for the reply on the key."""
    client().rpush(key, "pong")
    client().expire(key, 60)
