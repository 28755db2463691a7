"""Shared pieces of the benchmark suite: statistics, processes, the platform, clients, results.

Every scenario script (`bench/overhead.py`, ...) runs on its own or under `manage.py bench`:

    VAR_DIR=/tmp/bench-x EMBEDDED_REDIS_NAME=bench .venv/bin/python bench/overhead.py [--quick]

A script uses the database and the embedded Redis under VAR_DIR (a throwaway folder: never the
checkout's var/), starts every process it needs on loopback (daphne, workers, Cog servers),
stops them by PID at the end, and writes its results as JSON (`--json PATH`) for the command
to collect; it also prints them.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
BENCH_DIR = BASE_DIR / "bench"
PYTHON = sys.executable


# --- statistics --------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between the closest ranks (as numpy's default)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": percentile(values, 0.5),
        "p95": percentile(values, 0.95),
        "p99": percentile(values, 0.99),
        "min": min(values) if values else float("nan"),
        "max": max(values) if values else float("nan"),
        "mean": sum(values) / len(values) if values else float("nan"),
    }


def ms(seconds: float) -> float:
    return seconds * 1000


# --- results -----------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the suite's table."""

    scenario: str
    what: str
    n: int = 0
    p50: float | None = None  # ms
    p95: float | None = None  # ms
    value: str = ""  # a figure that is not a latency (throughput, counts)
    versus: str = ""  # the comparison, measured in the same run
    ratio: str = ""
    target: str = ""
    met: bool | None = None


@dataclass
class Results:
    scenario: str
    rows: list[Row] = field(default_factory=list)
    sections: list[tuple[str, str]] = field(default_factory=list)  # (title, markdown)
    notes: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    load_start: float = field(default_factory=lambda: os.getloadavg()[0])

    def add(self, what: str, **kwargs) -> Row:
        row = Row(self.scenario, what, **kwargs)
        self.rows.append(row)
        return row

    def add_summary(self, what: str, stats: dict[str, float], **kwargs) -> Row:
        """A row for latencies already summarised (`summary()`): their count, p50 and p95."""
        return self.add(what, n=stats["n"], p50=stats["p50"], p95=stats["p95"], **kwargs)

    def section(self, title: str, markdown: str) -> None:
        self.sections.append((title, markdown.strip()))

    def to_json(self) -> dict:
        return {
            "scenario": self.scenario,
            "rows": [asdict(r) for r in self.rows],
            "sections": self.sections,
            "notes": self.notes,
            "seconds": time.time() - self.started,
            "load_start": self.load_start,
            "load_end": os.getloadavg()[0],
        }


def fmt(value: float | None, digits: int = 2) -> str:
    if value is None or value != value:  # None or NaN
        return "-"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.{digits}f}"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b and a == a and b == b else "-"


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def text_table(header: list[str], rows: list[list[Any]]) -> str:
    cells = [header] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for index, row in enumerate(cells):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def table_rows(rows: list[Row]) -> tuple[list[str], list[list[str]]]:
    header = ["scenario", "measurement", "n", "p50 ms", "p95 ms", "value", "vs (same run)"]
    header += ["ratio", "target", "met"]
    body = []
    for row in rows:
        verdict = {True: "yes", False: "NO", None: ""}[row.met]
        body.append(
            [
                row.scenario,
                row.what,
                str(row.n or ""),
                fmt(row.p50),
                fmt(row.p95),
                row.value,
                row.versus,
                row.ratio,
                row.target,
                verdict,
            ]
        )
    return header, body


# --- running a scenario ------------------------------------------------------------------


def arguments(description: str, extra: Callable[[argparse.ArgumentParser], None] | None = None):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a handful of operations each")
    parser.add_argument("--json", type=Path, help="write the results here")
    if extra:
        extra(parser)
    return parser.parse_args()


# Variables that would point a benchmark at another database, Redis or folders: never used.
NOT_INHERITED = (
    "DATABASE_URL",
    "REDIS_URL",
    "MEDIA_ROOT",
    "STATIC_ROOT",
    "RUNTIME_WORK_DIR",
    "DRAMATIQ_NAMESPACE",
    "PUBLIC_URL",
)


def setup_django() -> None:
    """Django for this benchmark: the database and embedded Redis of a throwaway VAR_DIR."""
    if not os.environ.get("VAR_DIR"):
        raise SystemExit("set VAR_DIR to a throwaway folder (e.g. /tmp/bench-var): see bench/")
    if Path(os.environ["VAR_DIR"]).resolve().is_relative_to((BASE_DIR / "var").resolve()):
        raise SystemExit("VAR_DIR must not be the checkout's var/")
    for name in NOT_INHERITED:  # the processes we start inherit this environment
        os.environ.pop(name, None)
    os.environ.setdefault("EMBEDDED_REDIS_NAME", "bench")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["SELFREP_BOOTSTRAP"] = "0"
    if str(BASE_DIR) not in sys.path:
        sys.path.insert(0, str(BASE_DIR))
    import django

    django.setup()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Processes:
    """Processes this scenario started, each in its own session; stopped by PID."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        self.started: list[tuple[str, subprocess.Popen]] = []

    def spawn(
        self, name: str, argv: list[str], *, env: dict | None = None, cwd: Path | None = None
    ) -> subprocess.Popen:
        log = self.log_dir / f"{name}-{len(self.started)}.log"
        with log.open("wb") as handle:
            process = subprocess.Popen(
                argv,
                cwd=cwd or BASE_DIR,
                env=env or os.environ.copy(),
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process.log_path = log  # type: ignore[attr-defined]
        self.started.append((name, process))
        return process

    def stop(self, *processes: subprocess.Popen, timeout: float = 20) -> None:
        """SIGTERM to each process's own group (it and its children), all at once; then wait,
        and SIGKILL the group of any that is still there after `timeout`."""
        for process in processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.started = [(n, p) for n, p in self.started if p not in processes]

    def stop_all(self) -> None:
        """Everything this scenario started; Redis last, once the others are gone."""
        others = [p for name, p in self.started if name != "redis"]
        self.stop(*others)
        self.stop(*[p for _name, p in self.started])

    def log_tail(self, process: subprocess.Popen, chars: int = 3000) -> str:
        try:
            return process.log_path.read_text(errors="replace")[-chars:]  # type: ignore[attr-defined]
        except OSError:
            return ""


@contextlib.contextmanager
def scenario_processes(name: str) -> Iterator[Processes]:
    """The processes of scenario `name`, with VAR_DIR's Redis answering and its database
    migrated; every one of them is stopped when the block ends, even on an error, so that a
    failed run leaves nothing behind."""
    from django.conf import settings

    processes = Processes(settings.VAR_DIR / "logs" / name)
    try:
        ensure_redis(processes)
        prepare_database()
        yield processes
    finally:
        processes.stop_all()


# --- the platform ------------------------------------------------------------------------


def ensure_redis(processes: Processes) -> subprocess.Popen | None:
    """The embedded Redis of VAR_DIR: started (and later stopped) by us unless it answers."""
    from django.conf import settings

    from apps.core import embedded_redis

    if not settings.EMBEDDED_REDIS:
        return None
    socket_path = settings.EMBEDDED_REDIS_SOCKET
    if embedded_redis.is_answering(socket_path):
        return None
    argv = embedded_redis.server_command(socket_path, settings.VAR_DIR / "redis", daemonize=False)
    socket_path.parent.mkdir(parents=True, exist_ok=True)
    process = processes.spawn("redis", argv)
    embedded_redis.wait_until_answering(socket_path)
    return process


def redis_pid() -> int | None:
    from django.conf import settings

    pidfile = settings.VAR_DIR / "redis" / f"{settings.EMBEDDED_REDIS_SOCKET.stem}.pid"
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def prepare_database() -> None:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def bench_account(name: str = "bench"):
    """A user (get or create) and a fresh API token for it."""
    from apps.accounts import services
    from apps.accounts.models import User

    user = User.objects.filter(username=name).first()
    if user is None:
        user = services.user_create(username=name, password=None)
    _token, raw = services.token_create(account=user.account, name="bench", created_by=user)
    return user, raw


def push(account, name: str, source: Path, visibility: str = "public"):
    """A model and a version of `source` (the same content again returns the same version)."""
    from apps.catalog.models import Model
    from apps.catalog.services import version_push

    model = Model.objects.filter(owner=account, name=name).first()
    if model is None:
        model = Model.objects.create(owner=account, name=name, visibility=visibility)
    version, _created = version_push(model=model, source_dir=source)
    return version


def environment_for(version):
    from apps.runtime import environments
    from apps.runtime.cogyaml import pip_commands

    commands, _ = pip_commands(version.config.get("build") or {})
    return environments.ensure(
        list(version.requirements), log=lambda line: None, pip_commands=commands
    )


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "SELFREP_BOOTSTRAP": "0",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


class Platform:
    """daphne plus workers, as `manage.py up` runs them, against VAR_DIR's database and Redis.

    The per-account rate limits are raised (the defaults, 600 creations a minute, would cap a
    benchmark account at 10 predictions a second); everything else is the default.
    """

    def __init__(
        self,
        processes: Processes,
        *,
        cpu_workers: int = 1,
        env: dict[str, str] | None = None,
        wait: bool = True,
    ) -> None:
        self.processes = processes
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = child_env(
            PUBLIC_URL=self.url,
            RATE_LIMIT_CREATE_PER_MINUTE=str(10**9),
            RATE_LIMIT_OTHER_PER_MINUTE=str(10**9),
            RUNTIME_WORK_DIR=str(Path(os.environ["VAR_DIR"]) / "runtime"),
            **(env or {}),
        )
        argv = [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port)]
        self.web = processes.spawn("web", [*argv, "config.asgi:application"], env=self.env)
        self.workers: list[subprocess.Popen] = []
        for _ in range(cpu_workers):
            self.add_worker()
        manage = [PYTHON, str(BASE_DIR / "manage.py"), "worker"]
        self.services = processes.spawn(
            "worker-services",
            [*manage, "--queues", "webhooks", "default", "--threads", "4"],
            env=self.env,
        )
        if wait:  # else call wait_until_serving() (to start other servers meanwhile)
            self.wait_until_serving()

    def add_worker(self) -> subprocess.Popen:
        worker = self.processes.spawn(
            "worker",
            [PYTHON, str(BASE_DIR / "manage.py"), "worker", "--queues", "cpu"],
            env=self.env,
        )
        self.workers.append(worker)
        return worker

    def stop_worker(self, worker: subprocess.Popen) -> None:
        self.processes.stop(worker)
        self.workers.remove(worker)

    def wait_until_serving(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.web.poll() is not None:
                break
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("the web server did not start:\n" + self.processes.log_tail(self.web))

    def members(self) -> list[subprocess.Popen]:
        return [self.web, *self.workers, self.services]

    def stop(self) -> None:
        self.processes.stop(*self.members())

    def pids(self) -> dict[str, list[int]]:
        groups: dict[str, list[int]] = {"web (daphne)": [self.web.pid]}
        groups["prediction workers"] = [w.pid for w in self.workers]
        groups["services worker"] = [self.services.pid]
        return groups


# --- Cog's own server, started directly ----------------------------------------------------


class CogServer:
    """`python -m cog.server.http` for a model directory, in the version's environment."""

    def __init__(
        self, processes: Processes, model_dir: Path, environment, predictor_ref: str, schema: dict
    ) -> None:
        (model_dir / ".cog").mkdir(exist_ok=True)
        (model_dir / ".cog" / "openapi_schema.json").write_text(json.dumps(schema))
        self.port = free_port()
        env = dict(os.environ)
        for key in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "SECRET_KEY"):
            env.pop(key, None)
        env.update(
            {
                "PATH": f"{environment.bin}:{os.environ.get('PATH', '/usr/bin:/bin')}",
                "PORT": str(self.port),
                "COG_PREDICT_TYPE_STUB": predictor_ref,
                "PYTHONNOUSERSITE": "1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        self.started = time.perf_counter()
        argv = [str(environment.python), "-m", "cog.server.http", "--host", "127.0.0.1"]
        self.process = processes.spawn("cog", argv, env=env, cwd=model_dir)
        self.processes = processes

    @classmethod
    def for_version(
        cls, processes: Processes, version, environment, source: Path, name: str, schema=None
    ) -> CogServer:
        """Cog for `version`, in a copy of `source` under VAR_DIR (it writes into its folder)."""
        from django.conf import settings

        directory = copy_model(source, settings.VAR_DIR / "cog-direct" / name)
        schema = schema or version.openapi_schema
        return cls(processes, directory, environment, version.predictor_ref, schema)

    def health(self) -> str | None:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            connection.request("GET", "/health-check")
            return json.loads(connection.getresponse().read()).get("status")
        except (OSError, ValueError):
            return None

    def wait_ready(self, timeout: float = 60, interval: float = 0.005) -> float:
        """Seconds from start to READY."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.health() == "READY":
                return time.perf_counter() - self.started
            if self.process.poll() is not None:
                break
            time.sleep(interval)
        raise RuntimeError("Cog did not get ready:\n" + self.processes.log_tail(self.process))

    def stop(self) -> None:
        self.processes.stop(self.process)


def copy_model(source: Path, target: Path) -> Path:
    import shutil

    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".cog", "__pycache__"))
    return target


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
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Accept: text/event-stream"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        status, response_headers = await read_head(reader)
        if status != 200:
            raise RuntimeError(f"stream answered {status}")
        chunked = response_headers.get("transfer-encoding", "").lower() == "chunked"
        buffer = b""
        while True:
            data = await read_chunk(reader) if chunked else await reader.read(65536)
            if not data:
                return
            arrived = time.monotonic()
            buffer += data
            while b"\n\n" in buffer:
                block, buffer = buffer.split(b"\n\n", 1)
                event, event_id, payload = None, None, []
                for line in block.decode().split("\n"):
                    if line.startswith(":"):
                        continue
                    name, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if name == "event":
                        event = value
                    elif name == "id":
                        event_id = value
                    elif name == "data":
                        payload.append(value)
                if event:
                    yield event, event_id, "\n".join(payload), arrived
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


# --- CPU time of processes -----------------------------------------------------------------


def _tree(pid: int) -> list:
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def classify(groups: dict[str, list[int]]) -> dict[str, list]:
    """Processes by group; Cog servers (and their Python workers) under any root go to 'cog'."""
    import psutil

    result: dict[str, list] = {name: [] for name in groups}
    result.setdefault("Cog model processes", [])
    for name, pids in groups.items():
        for pid in pids:
            for process in _tree(pid):
                try:
                    lineage = [process, *process.parents()]
                    is_cog = any("cog.server.http" in " ".join(p.cmdline()) for p in lineage)
                except psutil.Error:
                    continue
                result["Cog model processes" if is_cog else name].append(process)
    return result


def cpu_seconds(processes: list) -> dict[int, float]:
    import psutil

    times = {}
    for process in processes:
        try:
            cpu = process.cpu_times()
            times[process.pid] = cpu.user + cpu.system
        except psutil.Error:
            continue
    return times


class CpuMeter:
    """CPU seconds used by groups of processes between start() and stop()."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups

    def start(self) -> None:
        import resource

        self.members = classify(self.groups)
        self.before = {name: cpu_seconds(ps) for name, ps in self.members.items()}
        self.self_before = resource.getrusage(resource.RUSAGE_SELF)
        self.wall = time.perf_counter()

    def stop(self) -> dict[str, float]:
        import resource

        wall = time.perf_counter() - self.wall
        used = {}
        for name, processes in self.members.items():
            after = cpu_seconds(processes)
            used[name] = sum(after[p] - self.before[name].get(p, 0) for p in after)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        used["load generator (this script)"] = (
            usage.ru_utime + usage.ru_stime - self.self_before.ru_utime - self.self_before.ru_stime
        )
        used["_wall"] = wall
        return used


def redis_commandstats(client) -> dict[str, int]:
    info = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): stats["calls"] for name, stats in info.items()}


def machine() -> dict[str, str]:
    import platform

    import django

    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().splitlines()[0].split()[1])
        memory = f"{kb / 1024 / 1024:.0f} GiB"
    versions = {}
    for name in ("daphne", "channels", "channels_redis", "dramatiq", "redis", "cog", "coglet"):
        with contextlib.suppress(Exception):
            import importlib.metadata

            versions[name] = importlib.metadata.version(name)
    return {
        "cpu": f"{os.cpu_count()} x {cpu}",
        "memory": memory,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "django": django.get_version(),
        **versions,
    }


def finish(results: Results, json_path: Path | None) -> None:
    header, body = table_rows(results.rows)
    print(text_table(header, body))
    for title, markdown in results.sections:
        print(f"\n## {title}\n\n{markdown}")
    if json_path:
        json_path.write_text(json.dumps(results.to_json(), indent=1))
