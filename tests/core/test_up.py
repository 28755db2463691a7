"""The README's first command, run for real: `manage.py up` in embedded mode."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from django.conf import settings

from apps.core import embedded_redis
from apps.core.net import free_port


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


class Platform:
    """`manage.py up` in a fresh var/ folder, with no DATABASE_URL or REDIS_URL."""

    def __init__(self, var_dir, port: int, *options: str):
        # As a new user runs it: none of the variables that would change the mode or the key.
        left_out = ("DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY", "SECRET_KEY_FILE")
        env = {k: v for k, v in os.environ.items() if k not in left_out}
        env |= {"VAR_DIR": str(var_dir), "SELFREP_BOOTSTRAP": "0", "EMBEDDED_REDIS_NAME": "redis"}
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(settings.BASE_DIR / "manage.py"),
                "up",
                "--no-demo",
                "--port",
                str(port),
                *options,
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.output.append(line)
            self.lines.put(line)

    def wait_for(self, pattern: str, timeout: float = 90) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                assert self.process.poll() is None, "".join(self.output)
                continue
            if match := re.search(pattern, line):
                return match
        raise AssertionError(f"{pattern!r} not printed in {timeout}s:\n{''.join(self.output)}")

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=40)


def wait_until_serving(base: str) -> httpx.Response:
    deadline = time.monotonic() + 30
    while True:
        try:
            return httpx.get(f"{base}/healthz", timeout=2)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_up_starts_everything_prints_credentials_and_stops_cleanly(tmp_path):
    var_dir = tmp_path / "var"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    platform = Platform(var_dir, port)
    try:
        username = platform.wait_for(r"Log in as:\s+(\S+)").group(1)
        password = platform.wait_for(r"Password:\s+(\S+)").group(1)
        token = platform.wait_for(r"API token:\s+(r8_\S+)").group(1)
        health = wait_until_serving(base)
        assert health.json() == {"status": "ok", "database": "ok", "redis": "ok"}

        account = httpx.get(f"{base}/v1/account", headers={"Authorization": f"Bearer {token}"})
        assert account.status_code == 200
        assert account.json()["username"] == username

        with httpx.Client(base_url=base) as browser:
            login_page = browser.get("/login/")
            assert login_page.status_code == 200
            csrf = browser.cookies["csrftoken"]
            response = browser.post(
                "/login/",
                data={"username": username, "password": password, "csrfmiddlewaretoken": csrf},
                headers={"Referer": f"{base}/login/"},
            )
            assert response.status_code == 302
            assert browser.get("/account/").status_code == 200
            assert browser.get("/static/css/site.css").status_code == 200

        # A worker that dies is replaced, and the platform keeps running.
        worker = next(pid for pid in children(platform.process.pid) if b"dramatiq" in cmdline(pid))
        os.killpg(worker, signal.SIGKILL)
        platform.wait_for(r"starting a new one", timeout=30)
        assert httpx.get(f"{base}/healthz").status_code == 200
    finally:
        code = platform.stop()
    assert code == 0, "".join(platform.output)
    assert "Stopped." in "".join(platform.output)
    socket_path = embedded_redis.embedded_socket_path(var_dir, "redis")
    assert not embedded_redis.is_answering(socket_path)
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0

    # A second start reuses the data and does not reset the operator's password.
    platform = Platform(var_dir, port)
    try:
        platform.wait_for(r"Log in with your existing account")
        assert wait_until_serving(base).status_code == 200
        account = httpx.get(f"{base}/v1/account", headers={"Authorization": f"Bearer {token}"})
        assert account.json()["username"] == username
    finally:
        assert platform.stop() == 0
    assert "Password:" not in "".join(platform.output)


def secret_key_file(var_dir) -> tuple[str, int]:
    path = var_dir / "secret_key"
    return path.read_text(), path.stat().st_mode & 0o777


def test_it_runs_in_production_mode_by_default_and_in_development_mode_with_dev(tmp_path):
    var_dir = tmp_path / "var"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    platform = Platform(var_dir, port)
    try:
        token = platform.wait_for(r"API token:\s+(r8_\S+)").group(1)
        wait_until_serving(base)
        missing = httpx.get(f"{base}/no-such-page")
        assert missing.status_code == 404
        assert "There is nothing here" in missing.text  # our own page, not Django's
        assert "URLconf" not in missing.text and "admin/" not in missing.text
        assert httpx.get(f"{base}/static/css/site.css").status_code == 200
        key, mode = secret_key_file(var_dir)
        assert len(key.strip()) >= 50 and mode == 0o600
    finally:
        assert platform.stop() == 0
    assert "Development mode" not in "".join(platform.output)

    platform = Platform(var_dir, port, "--dev")
    try:
        platform.wait_for(r"Development mode \(DEBUG=1\)")
        wait_until_serving(base)
        missing = httpx.get(f"{base}/no-such-page")
        assert missing.status_code == 404
        assert "Using the URLconf defined in" in missing.text  # Django's debug page
        # The key kept from the first start still signs: the operator's token still works.
        account = httpx.get(f"{base}/v1/account", headers={"Authorization": f"Bearer {token}"})
        assert account.status_code == 200
    finally:
        assert platform.stop() == 0
    assert secret_key_file(var_dir) == (key, 0o600)
