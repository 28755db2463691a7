"""Per-account API rate limits: a fixed one-minute window counted in Redis."""

from __future__ import annotations

import time

from django.conf import settings

from apps.core.problems import ApiError
from apps.core.redis import client


def _is_create(request) -> bool:
    return request.method == "POST" and request.path.rstrip("/").endswith("/predictions")


def check(request, account_id: int) -> None:
    """Count this request; raise 429 with Retry-After once the account's limit is spent."""
    create = _is_create(request)
    limit = (
        settings.RATE_LIMIT_CREATE_PER_MINUTE if create else settings.RATE_LIMIT_OTHER_PER_MINUTE
    )
    now = time.time()
    window = int(now // 60)
    key = f"selfrep:ratelimit:{account_id}:{'create' if create else 'other'}:{window}"
    pipe = client().pipeline()
    pipe.incr(key)
    pipe.expire(key, 61)
    count, _ = pipe.execute()
    if count > limit:
        retry_after = max(1, int(60 - now % 60) + 1)
        error = ApiError(
            429,
            "Too many requests",
            f"Request was throttled. Your rate limit resets in ~{retry_after}s.",
        )
        error.headers["Retry-After"] = str(retry_after)
        raise error
