"""The Dramatiq broker shared by the web process and the workers."""

from __future__ import annotations

import dramatiq
from django.conf import settings
from dramatiq.brokers.redis import RedisBroker


def redis_ready() -> None:
    """In embedded mode, make sure the embedded Redis answers, starting a detached one if not.

    For processes started on their own (`manage.py worker`); `manage.py up` runs its own.
    """
    if settings.EMBEDDED_REDIS:
        from apps.core import embedded_redis

        embedded_redis.ensure_running(settings.EMBEDDED_REDIS_SOCKET, settings.VAR_DIR / "redis")


broker = RedisBroker(
    url=settings.REDIS_URL,
    namespace=settings.DRAMATIQ_NAMESPACE,
    **settings.REDIS_CONNECTION_OPTIONS,
)
dramatiq.set_broker(broker)
