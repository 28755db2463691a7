"""The ordered, replayable event log of each prediction, in a Redis stream.

The worker appends every output item, log chunk and status change as it happens; watchers
(the SSE endpoint behind `urls.stream`, the web pages' websocket) read from any position and
then block for more, so a late or reconnecting watcher replays what it missed and nothing is
lost or duplicated: the stream entry id is the event id. The database stays the source of
truth: the log is kept while the prediction runs and for EVENT_LOG_TTL seconds after.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from typing import Any

import redis.asyncio
from django.conf import settings

from apps.core.redis import client

KINDS = ("output", "logs", "status", "error", "done")


def stream_key(prediction_id: str) -> str:
    return f"selfrep:events:{prediction_id}"


def append(prediction_id: str, kind: str, data: Any) -> str:
    """Add one event; returns its id (Redis assigns increasing ids)."""
    entry_id = client().xadd(stream_key(prediction_id), {"k": kind, "d": json.dumps(data)})
    return entry_id.decode()


def finish(prediction_id: str, reason: str | None = None, error: str | None = None) -> None:
    """Close the log: an `error` event if the prediction failed, then `done`; keep it a while."""
    pipe = client().pipeline()
    key = stream_key(prediction_id)
    if error is not None:
        pipe.xadd(key, {"k": "error", "d": json.dumps({"detail": error})})
    pipe.xadd(key, {"k": "done", "d": json.dumps({"reason": reason} if reason else {})})
    pipe.expire(key, settings.EVENT_LOG_TTL)
    pipe.execute()


def _decode(entries) -> list[tuple[str, str, Any]]:
    events = []
    for entry_id, fields in entries:
        kind = fields[b"k"].decode()
        events.append((entry_id.decode(), kind, json.loads(fields[b"d"])))
    return events


def read(
    prediction_id: str, after: str = "0-0", *, block_ms: int | None = None, count: int = 1000
) -> list[tuple[str, str, Any]]:
    """Events after `after` ("0-0": from the start), waiting up to block_ms for new ones."""
    key = stream_key(prediction_id)
    if block_ms is None:
        return _decode(
            client().xrange(key, min=f"({after}" if after != "0-0" else "-", count=count)
        )
    result = client().xread({key: after}, count=count, block=block_ms)
    return _decode(result[0][1]) if result else []


_async_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def async_client() -> redis.asyncio.Redis:
    """An asyncio Redis client for the running event loop (connections belong to a loop)."""
    loop = asyncio.get_running_loop()
    if loop not in _async_clients:
        _async_clients[loop] = redis.asyncio.Redis.from_url(
            settings.REDIS_URL, **settings.REDIS_CONNECTION_OPTIONS
        )
    return _async_clients[loop]


async def aread(
    prediction_id: str, after: str = "0-0", *, block_ms: int = 15000, count: int = 1000
) -> list[tuple[str, str, Any]]:
    result = await async_client().xread(
        {stream_key(prediction_id): after}, count=count, block=block_ms
    )
    return _decode(result[0][1]) if result else []


def valid_event_id(value: str) -> bool:
    left, sep, right = value.partition("-")
    return bool(sep) and left.isdigit() and right.isdigit()
