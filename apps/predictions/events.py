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


async def arange(prediction_id: str, after: str = "0-0", *, count: int = 1000):
    """Everything in the log after `after`, now (no waiting)."""
    key = stream_key(prediction_id)
    found: list[tuple[str, str, Any]] = []
    while True:
        low = f"({after}" if after != "0-0" else "-"
        page = _decode(await async_client().xrange(key, min=low, count=count))
        found += page
        if len(page) < count:
            return found
        after = page[-1][0]


def id_key(event_id: str) -> tuple[int, int]:
    left, _, right = event_id.partition("-")
    return int(left), int(right)


class _Feed:
    """The one reader of a prediction's log in this event loop, shared by all its watchers.

    A hundred people watching one prediction cost one blocking XREAD per batch of events
    instead of a hundred, and the events are decoded once. The feed starts where its first
    watcher starts, hands every batch to each watcher's queue, and stops after `done` or
    when its last watcher leaves; a Redis error reaches every watcher."""

    def __init__(self, registry: dict, prediction_id: str, after: str) -> None:
        self.registry, self.prediction_id, self.after = registry, prediction_id, after
        self.queues: set[asyncio.Queue] = set()
        self.closing = False  # its last watcher left: a new watcher starts a new feed
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        try:
            while self.queues:
                batch = await aread(self.prediction_id, self.after, block_ms=FEED_BLOCK_MS)
                if not batch:
                    continue
                self.after = batch[-1][0]
                for queue in self.queues:
                    queue.put_nowait(batch)
                if any(kind == "done" for _id, kind, _data in batch):
                    return
        except Exception as exc:  # noqa: BLE001 (handed to every watcher, who raise it)
            for queue in self.queues:
                queue.put_nowait(exc)
        finally:
            if self.registry.get(self.prediction_id) is self:
                del self.registry[self.prediction_id]

    def leave(self, queue: asyncio.Queue) -> None:
        self.queues.discard(queue)
        if not self.queues and not self.task.done():
            self.closing = True
            self.task.cancel()


FEED_BLOCK_MS = 15000
_feeds: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


async def follow(prediction_id: str, after: str = "0-0", *, keepalive_ms: int = 15000):
    """The prediction's events after `after`, in batches as they come, each exactly once; an
    empty batch after `keepalive_ms` of quiet. Watchers of one prediction in one process
    share one reader (_Feed). The caller stops after `done`."""
    registry = _feeds.setdefault(asyncio.get_running_loop(), {})
    queue: asyncio.Queue = asyncio.Queue()
    feed = registry.get(prediction_id)
    if feed is not None and (feed.closing or feed.task.done()):
        feed = None  # stopping: it would never hand this watcher anything
    joined = feed is not None
    if feed is None:  # the feed starts at our position: it brings everything after it
        feed = registry[prediction_id] = _Feed(registry, prediction_id, after)
    feed.queues.add(queue)
    try:
        if joined:  # joined first, then read what came before: the overlap is dropped by id
            earlier = await arange(prediction_id, after)
            if earlier:
                after = earlier[-1][0]
                yield earlier
        while True:
            if queue.empty():
                try:
                    async with asyncio.timeout(keepalive_ms / 1000):
                        item = await queue.get()
                except TimeoutError:
                    yield []
                    continue
            else:
                item = queue.get_nowait()
            if isinstance(item, Exception):
                raise item
            position = id_key(after)
            batch = [event for event in item if id_key(event[0]) > position]
            if batch:
                after = batch[-1][0]
                yield batch
    finally:
        feed.leave(queue)


def valid_event_id(value: str) -> bool:
    left, sep, right = value.partition("-")
    return bool(sep) and left.isdigit() and right.isdigit()
