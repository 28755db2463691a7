"""The ordered, replayable event log of each prediction, in a Redis stream.

The worker appends every output item, log chunk and status change as it happens; watchers
(the SSE endpoint behind `urls.stream`, the web pages' websocket) read from any position and
then block for more, so a late or reconnecting watcher replays what it missed and nothing is
lost or duplicated: the stream entry id is the event id. The database stays the source of
truth: the log is kept while the prediction runs and for EVENT_LOG_TTL seconds after.

A chatty prediction cannot fill Redis: the worker keeps at most EVENT_LOG_MAX_BYTES of log
events in the log, deleting the oldest (outputs, status changes and the end stay; outputs are
bounded by MAX_OUTPUT_JSON_BYTES). Its log events are numbered, and how many were dropped is
kept beside the log, so every reader puts a notice where logs are missing: before the first
event after the last dropped one, or wherever the numbers jump. The notice carries the id of
the dropped event it stands for (or one just below the next event), so resuming after it
neither repeats nor skips anything.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref
from collections import deque
from typing import Any

import redis
import redis.asyncio
from django.conf import settings

from apps.core.redis import client
from apps.predictions.limits import size_text, tail_of

KINDS = ("output", "logs", "status", "error", "done")
ENTRY_COST = 64  # what a stream entry costs Redis beyond its data, roughly (bytes)
LAST_SEQUENCE = 2**64 - 1

logger = logging.getLogger(__name__)


def stream_key(prediction_id: str) -> str:
    return f"selfrep:events:{prediction_id}"


def dropped_key(prediction_id: str) -> str:
    """What the worker dropped from the log: {"last": id, "count": n, "bytes": b} as JSON."""
    return f"selfrep:events-dropped:{prediction_id}"


def dropped_notice(size: int | None) -> str:
    what = f"{size_text(size)} of earlier logs" if size else "earlier logs"
    return f"[… {what} were dropped from the live stream to keep it small]\n"


def append(prediction_id: str, kind: str, data: Any) -> str:
    """Add one event; returns its id (Redis assigns increasing ids)."""
    entry_id = client().xadd(stream_key(prediction_id), {"k": kind, "d": json.dumps(data)})
    return entry_id.decode()


def finish(prediction_id: str, reason: str | None = None, error: str | None = None) -> None:
    """Close the log: an `error` event if the prediction failed, then `done`; keep it a while
    (Writer.finish, for a writer that wrote nothing before)."""
    Writer(prediction_id).finish(None, reason, error, patience=0.0)


Event = tuple[str, str, Any]  # (id, kind, data)


def _decode(entries) -> list[tuple[str, str, Any, int | None]]:
    """Stream entries as (id, kind, data, number): log events the worker wrote carry their
    number among the prediction's log events."""
    events = []
    for entry_id, fields in entries:
        number = fields.get(b"n")
        events.append(
            (
                entry_id.decode(),
                fields[b"k"].decode(),
                json.loads(fields[b"d"]),
                int(number) if number is not None else None,
            )
        )
    return events


def _just_before(event_id: str) -> str:
    ms, seq = id_key(event_id)
    return f"{ms}-{seq - 1}" if seq else f"{ms - 1}-{LAST_SEQUENCE}"


class _Gaps:
    """Puts a notice into one reader's events where the worker dropped log events: before
    the first event after the last dropped one when the reader starts before it, and wherever
    the numbers of the log events it gets jump (the worker dropped some meanwhile)."""

    def __init__(self, after: str, dropped: bytes | None) -> None:
        self.after = after  # the last event handed on
        self.pending: str | None = None  # the last dropped event, which the reader never saw
        self.size: int | None = None
        self.number: int | None = 0 if after == "0-0" else None  # of the last log event seen
        info = json.loads(dropped) if dropped else None
        if info and id_key(after) < id_key(info["last"]):
            self.pending, self.size, self.number = info["last"], info["bytes"], None

    def mark(self, batch, *, complete: bool) -> list[Event]:
        """The batch (read in order after self.after) with the notices; `complete` when
        nothing else was in the log after it, so a pending notice goes at its end."""
        marked: list[Event] = []
        for event_id, kind, data, number in batch:
            if self.pending is not None and id_key(event_id) > id_key(self.pending):
                marked.append((self.pending, "logs", dropped_notice(self.size)))
                self.pending, self.after = None, self.pending
            if number is not None:
                jumped = self.number is not None and number > self.number + 1
                if jumped and id_key(before := _just_before(event_id)) > id_key(self.after):
                    marked.append((before, "logs", dropped_notice(None)))
                self.number = number
            marked.append((event_id, kind, data))
            self.after = event_id
        if complete and self.pending is not None:
            marked.append((self.pending, "logs", dropped_notice(self.size)))
            self.after, self.pending = self.pending, None
        return marked


def read(
    prediction_id: str,
    after: str = "0-0",
    *,
    block_ms: int | None = None,
    count: int = 1000,
    notices: bool = True,
) -> list[Event]:
    """Events after `after` ("0-0": from the start), waiting up to block_ms for new ones;
    with `notices`, a notice where log events were dropped."""
    key = stream_key(prediction_id)
    pipe = client().pipeline(transaction=False)
    if notices:
        pipe.get(dropped_key(prediction_id))
    if block_ms is None:
        pipe.xrange(key, min=f"({after}" if after != "0-0" else "-", count=count)
    else:
        pipe.xread({key: after}, count=count, block=block_ms)
    replies = pipe.execute()
    entries = replies[-1] if block_ms is None else (replies[-1][0][1] if replies[-1] else [])
    batch = _decode(entries)
    if not notices:
        return [event[:3] for event in batch]
    return _Gaps(after, replies[0]).mark(batch, complete=len(batch) < count)


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
) -> list[tuple[str, str, Any, int | None]]:
    result = await async_client().xread(
        {stream_key(prediction_id): after}, count=count, block=block_ms
    )
    return _decode(result[0][1]) if result else []


async def arange(prediction_id: str, after: str = "0-0", *, count: int = 1000):
    """Everything in the log after `after`, now (no waiting), as _decode has it."""
    key = stream_key(prediction_id)
    found: list[tuple[str, str, Any, int | None]] = []
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
                if any(event[1] == "done" for event in batch):
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
    empty batch after `keepalive_ms` of quiet; a notice where log events were dropped
    (_Gaps). Watchers of one prediction in one process share one reader (_Feed). The caller
    stops after `done`."""
    gaps = _Gaps(after, await async_client().get(dropped_key(prediction_id)))
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
            earlier = gaps.mark(await arange(prediction_id, after), complete=True)
            if earlier:
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
            position = id_key(gaps.after)
            batch = gaps.mark([e for e in item if id_key(e[0]) > position], complete=False)
            if batch:
                yield batch
    finally:
        feed.leave(queue)


def valid_event_id(value: str) -> bool:
    left, sep, right = value.partition("-")
    return bool(sep) and left.isdigit() and right.isdigit()


class Writer:
    """The worker's side of a prediction's event log.

    It remembers every event in the log, with its id. When Redis loses the log while the
    prediction runs (a restart without persistence), the next append puts it back with the
    same ids, so watchers that reconnect with Last-Event-ID get exactly what they missed; an
    event that cannot be appended while Redis is away waits for the next append.

    Log events are numbered and count against EVENT_LOG_MAX_BYTES: past it, the oldest are
    deleted (down to three quarters of it, so deletions come in batches) and what was dropped
    is recorded under dropped_key for readers (_Gaps); the worker forgets them too.
    """

    def __init__(self, prediction_id: str, *, budget: int | None = None) -> None:
        self.key = stream_key(prediction_id)
        self.dropped_key = dropped_key(prediction_id)
        self.budget = settings.EVENT_LOG_MAX_BYTES if budget is None else budget
        self.written: dict[bytes, dict] = {}  # what the log holds, in order
        self.waiting: list[dict] = []
        self.begun = False
        self.numbered = 0  # log events so far
        self.logs: deque[tuple[bytes, int, int]] = deque()  # in the log: (id, cost, text size)
        self.log_bytes = 0
        self.dropped: dict[str, Any] = {"count": 0, "bytes": 0}

    def append(self, kind: str, data: Any) -> None:
        fields = {"k": kind}
        if kind == "logs":
            data = tail_of(str(data), max(1, self.budget // 2))
            self.numbered += 1
            fields["n"] = str(self.numbered)
        fields["d"] = json.dumps(data)
        self.waiting.append(fields)
        try:
            self._write()
        except redis.RedisError as exc:  # written with the next event, or at the end
            logger.warning("could not append to %s (%s); will retry", self.key, exc)

    def finish(
        self,
        status: str | None,
        reason: str | None,
        error: str | None,
        *,
        forget: tuple[str, ...] = (),
        patience: float = 30.0,
    ) -> None:
        """Close the log: the final `status` (if given), an `error` event if the prediction
        failed, then `done`; keep the log a while and delete the `forget` keys, in one round
        trip. Waits out a Redis outage of up to `patience` seconds."""
        if status is not None:
            self.waiting.append({"k": "status", "d": json.dumps(status)})
        if error is not None:
            self.waiting.append({"k": "error", "d": json.dumps({"detail": error})})
        self.waiting.append({"k": "done", "d": json.dumps({"reason": reason} if reason else {})})
        deadline = time.monotonic() + patience
        while True:
            try:
                self._write(closing=forget)
                return
            except redis.RedisError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.5)

    def _write(self, closing: tuple[str, ...] | None = None) -> None:
        """Append the waiting events in one pipeline; with `closing`, also set the log's
        expiry and delete those keys once every event is in."""
        while self.waiting or closing is not None:
            pipe = client().pipeline(transaction=False)
            batch = list(self.waiting)
            for index, fields in enumerate(batch):
                # NOMKSTREAM: once begun, a log that vanished is restored, never begun again.
                pipe.xadd(self.key, fields, nomkstream=self.begun or index > 0)
            if closing is not None:
                pipe.expire(self.key, settings.EVENT_LOG_TTL)
                pipe.expire(self.dropped_key, settings.EVENT_LOG_TTL)
                if closing:
                    pipe.delete(*closing)
            replies = pipe.execute()
            for fields, entry_id in zip(batch, replies, strict=False):
                if entry_id is None:
                    break
                self._written(entry_id, fields)
                self.waiting.pop(0)
            if self.waiting:
                self._restore()  # the log vanished: put it back, then append the rest
                continue
            if self.log_bytes > self.budget:
                self._trim()
            return

    def _written(self, entry_id: bytes, fields: dict) -> None:
        self.begun = True
        self.written[entry_id] = fields
        if "n" in fields:
            size = len(fields["d"])
            self.logs.append((entry_id, size + ENTRY_COST, size))
            self.log_bytes += size + ENTRY_COST

    def _trim(self) -> None:
        """Delete the oldest log events (never the newest) until they take three quarters
        of the budget."""
        gone, cost, size = [], 0, 0
        for entry_id, entry_cost, entry_size in list(self.logs)[:-1]:
            if self.log_bytes - cost <= self.budget * 3 // 4:
                break
            gone.append(entry_id)
            cost += entry_cost
            size += entry_size
        if not gone:
            return
        dropped = {
            "last": gone[-1].decode(),
            "count": self.dropped["count"] + len(gone),
            "bytes": self.dropped["bytes"] + size,
        }
        pipe = client().pipeline(transaction=True)  # readers never see one without the other
        pipe.xdel(self.key, *gone)
        pipe.set(self.dropped_key, json.dumps(dropped))
        pipe.execute()
        self.dropped = dropped
        self.log_bytes -= cost
        for entry_id in gone:
            self.logs.popleft()
            del self.written[entry_id]

    def _restore(self) -> None:
        logger.warning(
            "%s was lost (Redis restarted?); restoring its %d events", self.key, len(self.written)
        )
        pipe = client().pipeline(transaction=True)
        for entry_id, fields in self.written.items():
            pipe.xadd(self.key, fields, id=entry_id)
        if "last" in self.dropped:
            pipe.set(self.dropped_key, json.dumps(self.dropped))
        pipe.execute()
