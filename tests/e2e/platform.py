"""The platform as a user runs it: a real daphne web server and real worker processes on
loopback, against the test database and the test Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from textwrap import dedent

import httpx
from django.conf import settings
from django.db import connections

from apps.catalog.models import Model, Version
from apps.catalog.services import version_push
from apps.core.net import free_port
from apps.core.process_groups import stop_groups

PREDICTORS = {
    "hello": """
        import time
        from cog import BasePredictor, Input, Path

        class Predictor(BasePredictor):
            def setup(self):
                print("hello model ready")

            def predict(self, text: str = Input(default="world", description="Who to greet"),
                        sleep: float = Input(default=0, ge=0, le=120),
                        upper: bool = False) -> str:
                print(f"greeting {text}")
                for _ in range(int(sleep * 10)):
                    time.sleep(0.1)
                return ("hello " + text).upper() if upper else "hello " + text
    """,
    "streamer": """
        import time
        from cog import BasePredictor, ConcatenateIterator, Input, streaming

        class Predictor(BasePredictor):
            @streaming
            def predict(self, words: int = Input(default=5, ge=1, le=500),
                        delay: float = Input(default=0.05, ge=0, le=5)
                        ) -> ConcatenateIterator[str]:
                for i in range(words):
                    print(f"token {i}")
                    yield f"w{i} "
                    time.sleep(delay)
    """,
    "sizer": """
        from cog import BasePredictor, Path

        class Predictor(BasePredictor):
            def predict(self, file: Path) -> int:
                return len(open(file, "rb").read())
    """,
}


def database_url() -> str:
    database = connections["default"].settings_dict
    if database["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{database['NAME']}"
    return (
        f"postgres://{database['USER']}:{database['PASSWORD']}@{database['HOST']}:"
        f"{database['PORT']}/{database['NAME']}"
    )


def process_env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "SELFREP_BOOTSTRAP": "0",
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        **extra,
    }


def daphne_argv(port: int) -> list[str]:
    application = "config.asgi:application"
    return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), application]


def wait_until_serving(url: str, logs, timeout: float = 30) -> None:
    """Until `url`/healthz answers 200; `logs()` says why not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("the web server did not start:\n" + logs())


class Platform:
    def __init__(self, tmp: Path, extra_env: dict[str, str] | None = None) -> None:
        """`extra_env` is added to (or overrides) the processes' environment, e.g. a
        PREDICTION_TIME_LIMIT or a REDIS_URL of the test's own."""
        self.tmp = tmp
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = process_env(
            **{
                "PUBLIC_URL": self.url,
                "RUNTIME_WORK_DIR": str(tmp / "runtime"),
                "WORKER_HEARTBEAT_SECONDS": "1",
                "SWEEP_STARTING_AFTER": "5",
                **(extra_env or {}),
            }
        )
        self.web = self._spawn("web", daphne_argv(self.port))
        self.workers: list[subprocess.Popen] = []
        self.start_worker("cpu")
        self.start_worker("webhooks", "default", threads=4)
        self._wait_until_serving()

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = open(self.tmp / f"{name}-{time.monotonic_ns()}.log", "wb")  # noqa: SIM115
        return subprocess.Popen(
            argv,
            cwd=settings.BASE_DIR,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start_worker(self, *queues: str, threads: int = 1) -> subprocess.Popen:
        argv = [
            sys.executable,
            str(settings.BASE_DIR / "manage.py"),
            "worker",
            "--threads",
            str(threads),
        ]
        if queues:
            argv += ["--queues", *queues]
        worker = self._spawn("worker", argv)
        self.workers.append(worker)
        return worker

    def _wait_until_serving(self) -> None:
        wait_until_serving(self.url, self.logs)

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
            for p in sorted(self.tmp.glob("*.log"))
        )

    def stop(self) -> None:
        stop_groups([self.web, *self.workers])


def push_model(owner, name: str, root: Path, visibility: str = "public") -> Version:
    directory = root / name
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "cog.yaml").write_text('predict: "predict.py:Predictor"\n')
    (directory / "predict.py").write_text(dedent(PREDICTORS[name]))
    model = Model.objects.create(owner=owner, name=name, visibility=visibility)
    version, _ = version_push(model=model, source_dir=directory)
    return version
