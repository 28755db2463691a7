"""The HTTP conversation with Cog's server (`coglet`): a prediction is `PUT /predictions/{id}`
with `Accept: text/event-stream`, answered by server-sent events (`log`, `output`, `metric`,
`completed`). Over loopback TCP, or over the unix socket of a sandbox's relay.

The standard library's client, not httpx: this is the one request of every prediction, and
httpx spends ~1 ms of CPU on it, ten times as much.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EventHandler = Callable[[str, Any], None]  # ("log" | "output" | "metric", payload)

TERMINAL = {"succeeded", "failed", "canceled"}


@dataclass
class Result:
    status: str
    output: Any = None
    error: str | None = None
    logs: str = ""
    metrics: dict = field(default_factory=dict)


def open_prediction(address: int | Path, prediction_id: str, inputs: dict) -> Stream:
    """Send the prediction; Cog answers 409 for a moment after the previous one while its
    slot is released, so that is retried briefly."""
    body = json.dumps({"id": prediction_id, "input": inputs}).encode()
    headers = {
        "Content-Type": "application/json",
        "Accept": "text/event-stream",
        # A fresh connection per prediction: a request after another one on a kept-alive
        # connection (a health check, a cancel) stalled Cog's reply by ~40 ms
        # (docs/benchmarks.md); a new loopback connection costs ~0.1 ms.
        "Connection": "close",
    }
    deadline = time.monotonic() + 5
    while True:
        stream = Stream.open(address, f"/predictions/{prediction_id}", body, headers)
        if stream.status != 409 or time.monotonic() > deadline:
            return stream
        stream.close()  # the slot is still being released: try again shortly
        time.sleep(0.005)


def read_prediction(response: Stream, on_event: EventHandler) -> tuple[Result | None, dict | None]:
    """Follow the prediction's events to the end: (a failed Result if Cog refused it, the
    `completed` payload, or None when the stream broke off)."""
    try:
        if response.status == 422:
            return Result("failed", error=validation_message(response.text())), None
        if response.status != 200:
            error = f"the model process answered {response.status}: {response.text()[:500]}"
            return Result("failed", error=error), None
        try:
            for event, data in sse_events(response.lines()):
                if event == "log":
                    on_event("log", data.get("data", ""))
                elif event == "output":
                    on_event("output", data.get("chunk"))
                elif event == "metric":
                    on_event("metric", data)
                elif event == "completed":
                    return None, data
        except STREAM_ERRORS:
            pass
        return None, None
    finally:
        response.close()


STREAM_ERRORS = (OSError, http.client.HTTPException, UnicodeDecodeError)


class Stream:
    """One prediction's request to coglet and its server-sent events, on a connection of its
    own."""

    def __init__(self, connection: http.client.HTTPConnection) -> None:
        self.connection = connection
        self.response: http.client.HTTPResponse | None = None
        self.status = 0

    @classmethod
    def open(cls, address: int | Path, path: str, body: bytes, headers: dict[str, str]) -> Stream:
        if isinstance(address, Path):
            connection = UnixConnection(address)
        else:
            connection = http.client.HTTPConnection("127.0.0.1", address, timeout=10)
        stream = cls(connection)
        try:
            stream.connection.request("PUT", path, body=body, headers=headers)
            # Connected and sent: from now on a prediction may take as long as its time limit
            # (the watchdog ends it), so reads wait without a timeout.
            stream.connection.sock.settimeout(None)
            stream.response = stream.connection.getresponse()
        except BaseException:
            stream.close()
            raise
        stream.status = stream.response.status
        return stream

    def text(self) -> str:
        return self.response.read().decode(errors="replace")

    def lines(self):
        while line := self.response.readline():
            yield line.decode(errors="replace").rstrip("\r\n")

    def close(self) -> None:
        if self.response is not None:
            self.response.close()
        self.connection.close()


class UnixConnection(http.client.HTTPConnection):
    """HTTP to Cog's server through the unix socket of its sandbox's relay."""

    def __init__(self, path: Path) -> None:
        super().__init__("127.0.0.1", timeout=10)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(str(self.path))


def sse_events(lines):
    event, data = None, []
    for line in lines:
        if line == "":
            if event is not None:
                raw = "\n".join(data)
                try:
                    payload = json.loads(raw) if raw else {}
                except json.JSONDecodeError:
                    payload = {"data": raw}
                yield event, payload
            event, data = None, []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())


def validation_message(text: str) -> str:
    try:
        detail = json.loads(text).get("detail", [])
        messages = [
            f"{'.'.join(str(p) for p in item.get('loc', [])[2:])}: {item.get('msg')}"
            for item in detail
        ]
        return "Input validation failed: " + "; ".join(messages)
    except (ValueError, AttributeError):
        return f"Input validation failed: {text[:500]}"
