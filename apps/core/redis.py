"""One shared redis-py client for our own keys (events, health, rate limits)."""

from __future__ import annotations

from functools import cache

import redis
from django.conf import settings


@cache
def client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, **settings.REDIS_CONNECTION_OPTIONS)
