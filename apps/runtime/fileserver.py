"""A loopback HTTP server that hands file inputs to model processes and receives file outputs.

Cog's runtime only takes URLs for file inputs and uploads file outputs with PUT when started
with --upload-url. This server, bound to 127.0.0.1 inside the worker, serves the inputs the
worker already fetched (under unguessable paths) and stores the outputs per prediction, so
files never travel as base64 through JSON.
"""

from __future__ import annotations

import mimetypes
import secrets
import shutil
import tempfile
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socketserver import ThreadingUnixStreamServer
from urllib.parse import quote, unquote

CHUNK = 1 << 20
UNCLAIMED_SECONDS = 3600  # an upload no prediction output claimed by then is dropped


class _UnixHTTPServer(ThreadingUnixStreamServer):
    daemon_threads = True
    request_queue_size = 128

    def get_request(self):
        request, _address = super().get_request()
        return request, ("sandbox", 0)  # handlers expect a (host, port) client address


class FileServer:
    def __init__(
        self, root: Path, *, max_upload_bytes: int, max_held_bytes: int | None = None
    ) -> None:
        self.root = root
        self.max_upload_bytes = max_upload_bytes
        # Uploads wait here until their prediction's output claims them (seconds); a model
        # that uploads without returning them must not fill the worker's disk.
        self.max_held_bytes = max_held_bytes or 4 * max_upload_bytes
        self.token = secrets.token_urlsafe(16)
        self._inputs: dict[str, Path] = {}
        self._outputs: dict[str, Path] = {}
        self._held: dict[str, tuple[int, float]] = {}  # key -> (bytes, when uploaded)
        self._lock = threading.Lock()
        (root / "outputs").mkdir(parents=True, exist_ok=True)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._server.request_queue_size = 128
        self.port = self._server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        # The same routes on a unix socket, for model processes in sandboxes (whose loopback is
        # their own): their relay carries 127.0.0.1:<port> to it.
        # (Under /tmp: a unix socket's path must stay under 108 bytes.)
        self.socket_path = Path(tempfile.mkdtemp(prefix="selfrep-files-")) / "files.sock"
        self.socket_path.parent.chmod(0o711)
        self._unix = _UnixHTTPServer(str(self.socket_path), self._handler())
        self.socket_path.chmod(0o666)  # sandboxes run as user ids of their own
        threading.Thread(target=self._unix.serve_forever, daemon=True).start()

    @property
    def upload_url(self) -> str:
        return f"{self.base}/upload/{self.token}"

    def serve_input(self, path: Path, filename: str) -> str:
        """A URL from which the model process can download this local file."""
        key = secrets.token_urlsafe(16)
        with self._lock:
            self._inputs[key] = path
        return f"{self.base}/in/{key}/{quote(filename)}"

    def forget_inputs(self, urls: list[str]) -> None:
        with self._lock:
            for url in urls:
                self._inputs.pop(url.removeprefix(f"{self.base}/in/").split("/", 1)[0], None)

    def output_path(self, url: str) -> Path | None:
        """The stored file behind an output URL that the model process got from us."""
        prefix = f"{self.base}/out/"
        if not isinstance(url, str) or not url.startswith(prefix):
            return None
        with self._lock:
            return self._outputs.get(url.removeprefix(prefix).split("/", 1)[0])

    def discard_outputs(self, paths: list[Path]) -> None:
        with self._lock:
            for key, path in list(self._outputs.items()):
                if path in paths:
                    del self._outputs[key]
                    self._held.pop(key, None)
        for path in paths:
            shutil.rmtree(path.parent, ignore_errors=True)

    def _hold(self, key: str, size: int) -> bool:
        """Room for an upload of `size` bytes, after dropping uploads no output claimed
        within UNCLAIMED_SECONDS; False when the worker already holds too much."""
        expired = []
        with self._lock:
            now = time.monotonic()
            for old, (_size, when) in list(self._held.items()):
                if now - when > UNCLAIMED_SECONDS:
                    del self._held[old]
                    expired.append(self._outputs.pop(old, None))
            if sum(held for held, _when in self._held.values()) + size > self.max_held_bytes:
                allowed = False
            else:
                self._held[key] = (size, now)
                allowed = True
        for path in filter(None, expired):
            shutil.rmtree(path.parent, ignore_errors=True)
        return allowed

    def close(self) -> None:
        for server in (self._server, self._unix):
            server.shutdown()
            server.server_close()
        shutil.rmtree(self.socket_path.parent, ignore_errors=True)

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):  # noqa: A002 (quiet: the worker logs enough)
                pass

            def do_GET(self):
                parts = self.path.split("/")
                if len(parts) < 4 or parts[1] != "in":
                    return self.send_error(HTTPStatus.NOT_FOUND)
                with server._lock:
                    path = server._inputs.get(parts[2])
                if path is None or not path.is_file():
                    return self.send_error(HTTPStatus.NOT_FOUND)
                content_type = mimetypes.guess_type(unquote(parts[3]))[0]
                self.send_response(HTTPStatus.OK)
                self.send_header("Content-Type", content_type or "application/octet-stream")
                self.send_header("Content-Length", str(path.stat().st_size))
                self.end_headers()
                with open(path, "rb") as handle:
                    shutil.copyfileobj(handle, self.wfile, CHUNK)

            def do_PUT(self):
                parts = self.path.split("?", 1)[0].split("/")
                if len(parts) != 4 or parts[1] != "upload" or parts[2] != server.token:
                    return self.send_error(HTTPStatus.NOT_FOUND)
                length = int(self.headers.get("Content-Length") or 0)
                if length > server.max_upload_bytes:
                    return self.send_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
                filename = Path(unquote(parts[3])).name or "output"
                key = secrets.token_urlsafe(16)
                if not server._hold(key, length):
                    return self.send_error(
                        HTTPStatus.INSUFFICIENT_STORAGE,
                        "this worker holds too many files no output has claimed",
                    )
                target = server.root / "outputs" / key / filename
                target.parent.mkdir(parents=True)
                remaining = length
                with open(target, "wb") as handle:
                    while remaining > 0:
                        chunk = self.rfile.read(min(CHUNK, remaining))
                        if not chunk:
                            break
                        handle.write(chunk)
                        remaining -= len(chunk)
                with server._lock:
                    server._outputs[key] = target
                self.send_response(HTTPStatus.CREATED)
                self.send_header("Location", f"{server.base}/out/{key}/{quote(filename)}")
                self.send_header("Content-Length", "0")
                self.end_headers()

        return Handler
