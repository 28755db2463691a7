"""Test-only actors for tests/core/test_queue.py, on a queue no one else serves.

Worker processes load them with `python -m dramatiq config.worker tests.core.queue_actors`.
"""

from __future__ import annotations

import os
import time

import dramatiq

from apps.core.queue import broker  # noqa: F401 (the actor below must bind to our broker)
from apps.core.redis import client

QUEUE = "test-queue-wakeups"


@dramatiq.actor(queue_name=QUEUE, max_retries=0)
def record(key: str, token: str, sleep_s: float = 0) -> None:
    """Push `token pid time` onto the key, after sleeping a while if asked to."""
    time.sleep(sleep_s)
    client().rpush(key, f"{token} {os.getpid()} {time.time()}")
    client().expire(key, 300)
