"""The processes a scenario starts (each in its own session, stopped by PID): the embedded
Redis, the platform as `manage.py up` runs it, and Cog's own server for comparison."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from apps.core.process_groups import stop_groups

from .scenario import BASE_DIR, PYTHON


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
        """Each process with its whole group (`stop_groups`)."""
        stop_groups(processes, timeout)
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
        from apps.core.net import free_port

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
        from apps.core.net import free_port

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
