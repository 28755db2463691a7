"""Clients of the servers under test: a plain keep-alive HTTP client (http.client) and,
for the load generators, asyncio ones (HTTP/1.1 keep-alive, server-sent events, websocket)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.client
import json
import os
import time
from collections.abc import Callable
from typing import Any

# --- a plain HTTP client (one keep-alive connection, http.client) --------------------------


class Client:
    """Sequential requests on one keep-alive connection; used alike for every server."""

    def __init__(self, port: int, headers: dict[str, str] | None = None) -> None:
        self.port = port
        self.headers = headers or {}
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def request(
        self, method: str, path: str, body: Any = None, headers: dict | None = None
    ) -> tuple[int, Any]:
        payload = json.dumps(body).encode() if body is not None else None
        all_headers = {**self.headers, **(headers or {})}
        if payload is not None:
            all_headers["Content-Type"] = "application/json"
        for attempt in range(2):
            try:
                self.connection.request(method, path, body=payload, headers=all_headers)
                response = self.connection.getresponse()
                data = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.connection.close()
                if attempt:
                    raise
        try:
            return response.status, json.loads(data) if data else None
        except ValueError:
            return response.status, data

    def close(self) -> None:
        self.connection.close()


# --- asyncio clients: HTTP/1.1 keep-alive, server-sent events, websocket -------------------


class AsyncHTTP:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams (cheap for the load generator)."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            await self.connect()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        status, response_headers = await read_head(self.reader)
        if response_headers.get("transfer-encoding", "").lower() == "chunked":
            data = b""
            while True:
                chunk = await read_chunk(self.reader)
                if not chunk:
                    break
                data += chunk
        else:
            data = await self.reader.readexactly(int(response_headers.get("content-length", 0)))
        if response_headers.get("connection", "").lower() == "close":
            await self.close()
        return status, response_headers, data

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
        self.reader = self.writer = None


async def read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return status, headers


async def read_chunk(reader: asyncio.StreamReader) -> bytes:
    size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
    data = await reader.readexactly(size + 2)
    return data[:-2]


async def sse_events(port: int, path: str, headers: dict[str, str] | None = None):
    """Yield (event, id, data, arrival time.monotonic()) from a text/event-stream response."""
    from apps.core.sse import EventParser

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Accept: text/event-stream"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        status, response_headers = await read_head(reader)
        if status != 200:
            raise RuntimeError(f"stream answered {status}")
        chunked = response_headers.get("transfer-encoding", "").lower() == "chunked"
        parser, buffer = EventParser(), b""
        while True:
            data = await read_chunk(reader) if chunked else await reader.read(65536)
            if not data:
                return
            arrived = time.monotonic()
            *complete, buffer = (buffer + data).split(b"\n")
            for line in complete:
                event = parser.feed(line.decode())
                if event is not None:
                    yield *event, arrived
    finally:
        writer.close()


class WebSocketWatcher(asyncio.Protocol):
    """A minimal websocket client (RFC 6455) that only listens.

    Frames are parsed in data_received, so each message is stamped (time.monotonic()) when
    its bytes reach the process, not when a coroutine gets round to it: with a hundred
    watchers in one event loop that would add the loop's own queueing to every latency.
    """

    def __init__(self, port: int, path: str, on_message: Callable[[str, float], None]) -> None:
        self.port, self.path, self.on_message = port, path, on_message
        self.buffer = bytearray()
        self.fragments = bytearray()
        self.handshaken = False
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future = loop.create_future()
        self.closed: asyncio.Future = loop.create_future()
        self.transport: asyncio.Transport | None = None

    @classmethod
    async def connect(
        cls, port: int, path: str, on_message: Callable[[str, float], None]
    ) -> WebSocketWatcher:
        loop = asyncio.get_running_loop()
        _transport, protocol = await loop.create_connection(
            lambda: cls(port, path, on_message), "127.0.0.1", port
        )
        await protocol.opened
        return protocol

    def connection_made(self, transport) -> None:
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {self.path} HTTP/1.1",
            f"Host: 127.0.0.1:{self.port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            f"Origin: http://127.0.0.1:{self.port}",
        ]
        transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    def data_received(self, data: bytes) -> None:
        arrived = time.monotonic()
        self.buffer += data
        if not self.handshaken:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status_line = bytes(self.buffer[: self.buffer.find(b"\r\n")]).decode("latin-1")
            del self.buffer[: end + 4]
            if " 101 " not in status_line + " ":
                self.opened.set_exception(RuntimeError(f"websocket handshake: {status_line}"))
                self.transport.close()
                return
            self.handshaken = True
            self.opened.set_result(True)
        while len(self.buffer) >= 2:
            first, second = self.buffer[0], self.buffer[1]
            length, offset = second & 0x7F, 2
            if length == 126:
                if len(self.buffer) < 4:
                    return
                length, offset = int.from_bytes(self.buffer[2:4], "big"), 4
            elif length == 127:
                if len(self.buffer) < 10:
                    return
                length, offset = int.from_bytes(self.buffer[2:10], "big"), 10
            if len(self.buffer) < offset + length:
                return
            payload = bytes(self.buffer[offset : offset + length])
            del self.buffer[: offset + length]
            opcode = first & 0x0F
            if opcode == 0x8:
                self.close()
                return
            if opcode == 0x9:
                self._send(0xA, payload[:125])
            elif opcode in (0x0, 0x1, 0x2):
                self.fragments += payload
                if first & 0x80:
                    message = self.fragments.decode()
                    self.fragments = bytearray()
                    self.on_message(message, arrived)

    def _send(self, opcode: int, payload: bytes = b"") -> None:
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.transport.write(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            with contextlib.suppress(Exception):
                self._send(0x8, (1000).to_bytes(2, "big"))
            self.transport.close()

    def connection_lost(self, exc) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed during the handshake"))
        if not self.closed.done():
            self.closed.set_result(True)
