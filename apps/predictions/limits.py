"""What one prediction may cost: the tail of its logs that is kept, and the largest JSON output.

A model that prints a hundred megabytes or returns a 200 MB string must not cost that much in
the database, every API read, the page and the worker's memory. Logs keep their most recent
part (MAX_PREDICTION_LOG_BYTES) with a line at the top saying how much was dropped; a JSON
output larger than MAX_OUTPUT_JSON_BYTES fails the prediction with a message that says to
return a file instead.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any

from django.conf import settings


def size_text(size: int) -> str:
    """1023 bytes, 64 KB, 95.3 MB: sizes as people read them (1 KB = 1024 bytes)."""
    if size < 1024:
        return f"{size} bytes"
    for unit in ("KB", "MB", "GB"):
        size /= 1024
        if size < 1024 or unit == "GB":
            return f"{size:.1f}".removesuffix(".0") + f" {unit}"
    raise AssertionError("unreachable")


def tail_of(text: str, limit: int) -> str:
    """The last `limit` bytes of text (UTF-8), never splitting a character."""
    if len(text) <= limit // 4:  # at most 4 bytes a character: no need to encode
        return text
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[-limit:].decode(errors="ignore")


class LogTail:
    """The most recent `limit` bytes of a prediction's logs, held in chunks as they came; what
    fell out is counted, and `text()` starts with a line saying how much."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = settings.MAX_PREDICTION_LOG_BYTES if limit is None else limit
        self.chunks: deque[tuple[str, int]] = deque()
        self.size = 0
        self.dropped = 0

    def add(self, chunk: str) -> str:
        """Keep a chunk (its tail, if it alone is over the limit); returns what was kept."""
        size = len(chunk.encode())
        if size > self.limit:
            kept = tail_of(chunk, self.limit)
            self.dropped += size - len(kept.encode())
            chunk, size = kept, len(kept.encode())
        self.chunks.append((chunk, size))
        self.size += size
        while self.size > self.limit:
            _old, old_size = self.chunks.popleft()
            self.size -= old_size
            self.dropped += old_size
        return chunk

    def __bool__(self) -> bool:
        return bool(self.chunks) or bool(self.dropped)

    def text(self) -> str:
        body = "".join(chunk for chunk, _size in self.chunks)
        return dropped_logs_notice(self.dropped, self.limit) + body if self.dropped else body


def dropped_logs_notice(dropped: int, kept: int) -> str:
    return (
        f"[… {size_text(dropped)} of earlier logs were dropped; "
        f"the last {size_text(kept)} are kept]\n"
    )


def cap_logs(text: str, limit: int | None = None) -> str:
    """Logs as they are stored: at most the last `limit` bytes, with the notice on top."""
    tail = LogTail(limit)
    tail.add(text)
    return tail.text()


def json_size(value: Any, limit: int | None = None) -> int:
    """The size of a value's JSON as it is stored (files count as their paths or URLs). A
    string longer than `limit` is measured by its length, without copying it into JSON."""
    if isinstance(value, str) and limit is not None and len(value) > limit:
        return len(value) + 2
    return len(json.dumps(value, default=str))


def over_output_limit(value: Any, limit: int | None = None) -> int | None:
    """The size of the value's JSON when it is over MAX_OUTPUT_JSON_BYTES, else None."""
    limit = settings.MAX_OUTPUT_JSON_BYTES if limit is None else limit
    size = json_size(value, limit)
    return size if size > limit else None


def output_too_large(size: int, limit: int | None = None, *, streamed: bool = False) -> str:
    limit = settings.MAX_OUTPUT_JSON_BYTES if limit is None else limit
    verb = "The streamed output reached" if streamed else "The output is"
    return (
        f"{verb} {size_text(size)} of JSON, over this platform's limit of {size_text(limit)} "
        "(MAX_OUTPUT_JSON_BYTES). Return a file instead: write it to disk and return a "
        "cog.Path, which is stored and served by URL."
    )
