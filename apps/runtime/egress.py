"""The one way out of a sandbox: an HTTP proxy on a unix socket, with a rule for each use.

Sandboxes have no network of their own (apps/runtime/sandbox.py). pip, building an
environment, reaches the installation's package index through this proxy and nothing else;
a model process reaches it only where the operator allows model egress (SANDBOX_MODEL_EGRESS),
and then only addresses the outbound guard allows (no loopback, private, link-local or
metadata addresses), connecting to the very addresses the guard approved.

It speaks `CONNECT host:port` (HTTPS, what pip and model downloads use) and plain HTTP
requests in absolute form; the sandbox's relay makes it reachable as 127.0.0.1:<port> inside,
named by HTTP(S)_PROXY.
"""

from __future__ import annotations

import logging
import select
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path
from socketserver import StreamRequestHandler, ThreadingUnixStreamServer
from urllib.parse import urlsplit

from apps.core import outbound

logger = logging.getLogger(__name__)

Rule = Callable[[str, int], list[str]]  # (host, port) -> addresses to connect to, or raises
CHUNK = 1 << 16
MAX_HEADER = 64 * 1024


class Refused(ValueError):
    pass


def guarded(host: str, port: int) -> list[str]:
    """Model egress: whatever the outbound guard lets file inputs and webhooks reach."""
    try:
        return outbound.allowed_addresses(host, port)
    except outbound.OutboundRefused as exc:
        raise Refused(str(exc)) from None


def package_index(hosts: set[str]) -> Rule:
    """pip: the hosts of the installation's package index (and its files host), nothing else.
    The operator chose these hosts, so a mirror on the local network is fine."""
    allowed = {host.lower() for host in hosts}

    def rule(host: str, port: int) -> list[str]:
        if host.lower().rstrip(".") not in allowed:
            raise Refused(
                f"{host} is not the installation's package index ({', '.join(sorted(allowed))})"
            )
        try:
            infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError):
            raise Refused(f"the host {host!r} does not resolve") from None
        return list(dict.fromkeys(info[4][0] for info in infos))

    return rule


def connect(addresses: list[str], port: int, timeout: float = 30) -> socket.socket:
    failure: OSError | None = None
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout=timeout)
        except OSError as exc:
            failure = exc
    raise failure or OSError("no address to connect to")


class EgressProxy:
    def __init__(self, rule: Rule, *, name: str = "egress") -> None:
        self.rule = rule
        # (Under /tmp: a unix socket's path must stay under 108 bytes.)
        self.socket_path = Path(tempfile.mkdtemp(prefix=f"selfrep-{name}-")) / "proxy.sock"
        self.socket_path.parent.chmod(0o711)
        self._server = ThreadingUnixStreamServer(str(self.socket_path), self._handler())
        self._server.daemon_threads = True
        self.socket_path.chmod(0o666)  # sandboxes run as user ids of their own
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"{name}-proxy", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        shutil.rmtree(self.socket_path.parent, ignore_errors=True)

    def __enter__(self) -> EgressProxy:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _handler(self):
        proxy = self

        class Handler(StreamRequestHandler):
            def handle(self) -> None:
                head = self._read_head()
                if head is None:
                    return
                request_line, rest = head
                try:
                    method, target, _version = request_line.split(" ", 2)
                    if method == "CONNECT":
                        host, _, port = target.rpartition(":")
                        host, port = host.strip("[]"), int(port)
                    else:
                        parts = urlsplit(target)
                        if parts.scheme != "http" or not parts.hostname:
                            raise Refused("only CONNECT and absolute http:// requests")
                        host, port = parts.hostname, parts.port or 80
                    addresses = proxy.rule(host, port)
                    upstream = connect(addresses, port)
                except (Refused, ValueError) as exc:
                    logger.info("egress refused: %s (%s)", request_line[:200], exc)
                    return self._answer(HTTPStatus.FORBIDDEN, f"Refused by the sandbox: {exc}")
                except OSError as exc:
                    return self._answer(HTTPStatus.BAD_GATEWAY, f"Could not connect: {exc}")
                with upstream:
                    if method == "CONNECT":
                        self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                        self.wfile.flush()
                    else:
                        path = parts.path or "/"
                        if parts.query:
                            path += "?" + parts.query
                        _m, _t, version = request_line.split(" ", 2)
                        upstream.sendall(f"{method} {path} {version}\r\n".encode() + rest)
                    _splice(self.connection, upstream)

            def _read_head(self) -> tuple[str, bytes] | None:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = self.connection.recv(4096)
                    if not chunk or len(data) > MAX_HEADER:
                        return None
                    data += chunk
                line, _, rest = data.partition(b"\r\n")
                return line.decode("latin-1"), rest

            def _answer(self, status: HTTPStatus, message: str) -> None:
                body = (message + "\n").encode()
                self.wfile.write(
                    f"HTTP/1.1 {status.value} {status.phrase}\r\nContent-Type: text/plain\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                    + body
                )

        return Handler


def _splice(one: socket.socket, other: socket.socket) -> None:
    sockets = [one, other]
    while sockets:
        readable, _, _ = select.select(sockets, [], [], 300)
        if not readable:
            return
        for source in readable:
            target = other if source is one else one
            try:
                data = source.recv(CHUNK)
            except OSError:
                return
            if not data:
                sockets.remove(source)
                try:
                    target.shutdown(socket.SHUT_WR)
                except OSError:
                    return
                continue
            try:
                target.sendall(data)
            except OSError:
                return
