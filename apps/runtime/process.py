"""One model process: Cog's own runtime (`python -m cog.server.http`) driven over its HTTP API.

The same client would drive a Cog container on another machine; everything here goes through
coglet's public routes (`/health-check`, `PUT /predictions/{id}` with server-sent events,
`POST /predictions/{id}/cancel`). What the driver absorbs of coglet's quirks:
- it answers 409 for a moment after a prediction while its slot is released: retried;
- failed predictions come back as HTTP 200 with status "failed": read from the body;
- a crashed worker leaves the server DEFUNCT for good: the pool restarts the process; a warm
  process is checked before each prediction by its processes' states (`is_ready`, no HTTP
  request: a health check on the prediction's path costs more than the prediction);
- its responses carry no input or timestamps: the caller keeps those.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from apps.core.net import free_port
from apps.runtime import cogclient, procgroup
from apps.runtime.cogclient import TERMINAL, EventHandler, Result
from apps.runtime.environments import Environment
from apps.runtime.sandbox import RELAY, SOURCE, Sandbox, die_with_parent

STREAM_HISTORY = 16384


class SetupFailed(RuntimeError):
    def __init__(self, message: str, logs: str = "") -> None:
        super().__init__(message)
        self.logs = logs


@dataclass
class SetupInfo:
    seconds: float
    logs: str


class CogProcess:
    def __init__(
        self,
        *,
        name: str,
        model_dir: Path,
        environment: Environment,
        predictor_ref: str,
        schema: dict,
        upload_url: str,
        log_path: Path,
        extra_env: dict[str, str] | None = None,
        concurrency: int = 1,
        sandbox: Sandbox | None = None,
        forwards: dict[int, str] | None = None,
        train: bool = False,
        weights: str = "",
    ) -> None:
        self.name = name
        self.model_dir = model_dir
        self.environment = environment
        self.predictor_ref = predictor_ref
        self.schema = schema
        self.upload_url = upload_url
        self.log_path = log_path
        self.extra_env = extra_env or {}
        self.concurrency = concurrency
        self.sandbox = sandbox
        self.forwards = forwards or {}  # port inside -> unix socket inside (sandboxed only)
        # Cog's train mode: `predictor_ref` names train(), and `schema` is the training view
        # (TrainingInput as Input), so that PUT /predictions runs train() with its own inputs
        # and streams its logs (Cog's /trainings routes refuse server-sent events).
        self.train = train
        self.weights = weights  # a trained version's weights, relative to model_dir
        self.port = 0
        # Sandboxed, Cog's server is reached through a unix socket the sandbox's relay serves.
        self.socket_path: Path | None = None
        self.process: subprocess.Popen | None = None
        self.client = self._client()
        self.busy = 0
        self.setup: SetupInfo | None = None
        self.members: list[int] = []  # the group's processes once READY (coglet's worker)
        self.log_offset = 0  # where this process's part of the (per-version) log begins
        self.last_used = time.monotonic()
        self._lock = threading.Lock()

    # --- lifecycle -----------------------------------------------------------------------

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _client(self) -> httpx.Client:
        # Loopback HTTP only: no CA bundle to load (13-60 ms per process, docs/benchmarks.md).
        transport = httpx.HTTPTransport(uds=str(self.socket_path)) if self.socket_path else None
        return httpx.Client(
            timeout=httpx.Timeout(10.0, read=None),
            trust_env=False,
            verify=False,  # noqa: S501
            transport=transport,
        )

    def _write_schema(self) -> None:
        # SSE is what gives us live logs and outputs, and coglet only offers it when the schema
        # says the model streams; the copy for coglet always says so (the version's does not).
        schema = copy.deepcopy(self.schema)
        post = schema.setdefault("paths", {}).setdefault("/predictions", {}).setdefault("post", {})
        post["x-cog-streaming"] = True
        target = self.model_dir / ".cog" / "openapi_schema.json"
        target.parent.mkdir(exist_ok=True)
        temporary = target.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(schema))
        temporary.chmod(0o644)  # read by the sandbox's own user id
        target.parent.chmod(0o755)
        temporary.replace(target)

    def _cog_env(self, setup_timeout: float) -> dict[str, str]:
        env = {
            **self.extra_env,
            "PORT": str(self.port),
            "COG_TRAIN_TYPE_STUB" if self.train else "COG_PREDICT_TYPE_STUB": self.predictor_ref,
            "COG_MAX_CONCURRENCY": str(self.concurrency),
            "COG_SETUP_TIMEOUT": str(int(setup_timeout)),
            # Events a slow reader may fall behind by before Cog ends its stream (1024 by
            # default: a model printing thousands of lines on a loaded machine lost its stream).
            "COG_STREAM_HISTORY_CAPACITY": str(STREAM_HISTORY),
            "PYTHONNOUSERSITE": "1",
            "PYTHONUNBUFFERED": "1",
        }
        if self.weights and not self.train:
            # What setup(weights) receives, as Cog hands it over: the path, as a string.
            root = SOURCE if self.sandbox is not None else self.model_dir
            env["COG_WEIGHTS"] = str(root / self.weights)
        return env

    def _cog_command(self) -> list[str]:
        command = [
            str(self.environment.python),
            "-m",
            "cog.server.http",
            "--host",
            "127.0.0.1",
            "--upload-url",
            self.upload_url,
        ]
        return [*command, "--x-mode", "train"] if self.train else command

    def _spawn(self, setup_timeout: float, log_file) -> subprocess.Popen:
        if self.sandbox is None:
            self.port = free_port()
            env = {
                **os.environ,
                **self._cog_env(setup_timeout),
                "PATH": f"{self.environment.bin}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            }
            for key in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "SECRET_KEY"):
                env.pop(key, None)  # the model gets none of the platform's secrets
            return subprocess.Popen(
                self._cog_command(),
                cwd=self.model_dir,
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,  # noqa: PLW1509 (no threads touched in the child)
            )
        # Inside, Cog listens on its own loopback; the relay carries the worker's connections
        # to it from a unix socket made here and handed in as an open file descriptor.
        self.port = 5000
        # (Under /tmp: a unix socket's path must stay under 108 bytes.)
        self.socket_path = Path(tempfile.mkdtemp(prefix="selfrep-cog-")) / "cog.sock"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.socket_path))
        listener.listen(128)
        self.client.close()
        self.client = self._client()
        self.sandbox.env.update(self._cog_env(setup_timeout))
        relay = [str(self.environment.python), "-I", "-S", str(RELAY)]
        relay += ["--listen", f"{listener.fileno()}={self.port}"]
        for port, path in self.forwards.items():
            relay += ["--forward", f"{port}={path}"]
        try:
            return subprocess.Popen(
                self.sandbox.command([*relay, "--", *self._cog_command()]),
                env={},
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                pass_fds=(listener.fileno(),),
                preexec_fn=self.sandbox.preexec(),  # noqa: PLW1509
            )
        finally:
            listener.close()

    def start(self, *, setup_timeout: float) -> SetupInfo:
        self._write_schema()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log_file = open(self.log_path, "ab")  # noqa: SIM115 (handed to the child)
        self.log_offset = log_file.tell()
        try:
            self.process = self._spawn(setup_timeout, log_file)
        finally:
            log_file.close()
        started = time.monotonic()
        deadline = started + setup_timeout
        while True:
            health = self.health()
            status = health.get("status") if health else None
            if status in ("READY", "BUSY"):
                seconds = time.monotonic() - started
                self.members = self._group_members()
                self.setup = SetupInfo(seconds, self._wait_for_setup_output())
                return self.setup
            if status == "SETUP_FAILED":
                summary = health.get("setup", {}).get("logs", "").rsplit(": ", 2)[-2:]
                self.stop()
                # Cog loses the output of a failing setup() now and then, and keeps only the
                # last line of its exception: running setup() again shows both in full.
                logs = self.diagnose_setup() or self.setup_output()
                raise SetupFailed(f"setup() failed: {': '.join(summary)}", logs)
            if self.process.poll() is not None:
                tail = self.log_tail()
                raise SetupFailed(
                    f"the model process exited during setup ({self._how_it_ended()})",
                    tail,
                )
            if time.monotonic() > deadline:
                tail = self.log_tail()
                self.stop()
                raise SetupFailed(f"setup() did not finish within {setup_timeout:.0f}s", tail)
            time.sleep(0.01)

    def _how_it_ended(self) -> str:
        return procgroup.exit_description(
            self.process.returncode, sandboxed=self.sandbox is not None
        )

    def health(self) -> dict | None:
        try:
            return self.client.get(f"{self.base}/health-check", timeout=5).json()
        except (httpx.HTTPError, ValueError):
            return None

    def is_alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def is_ready(self) -> bool:
        """Whether every process of the group that was there at READY still runs: what a dead
        Python worker (DEFUNCT server) looks like, read from /proc in microseconds."""
        if not self.is_alive():
            return False
        return all(procgroup.running(pid) for pid in self.members)

    def _group_members(self) -> list[int]:
        return [pid for pid in procgroup.members(self.process.pid) if pid != self.process.pid]

    def is_usable(self) -> bool:
        if not self.is_alive():
            return False
        health = self.health()
        return health is not None and health.get("status") in ("READY", "BUSY")

    def stop(self, timeout: float = 10) -> None:
        """Stop the whole process group: Cog's server and its Python worker. The group is
        signalled even when the server is already gone, since its worker may outlive it."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # whatever is left of the group
        self.process.wait()
        self.client.close()
        if self.socket_path is not None:
            shutil.rmtree(self.socket_path.parent, ignore_errors=True)

    def kill(self) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def _wait_for_setup_output(self, marker: str = '"Setup complete"', timeout: float = 2) -> str:
        # Cog declares READY (or SETUP_FAILED) before the model's setup() prints reach its log
        # and the health-check's copy of it: wait for the record that ends setup, briefly.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if marker in self._own_log():
                    break
            except OSError:
                break
            time.sleep(0.01)
        return self.setup_output()

    def _own_log(self) -> str:
        """This process's part of the log file, which successive processes of a version share."""
        with open(self.log_path, "rb") as handle:
            handle.seek(self.log_offset)
            return handle.read().decode(errors="replace")

    def setup_output(self) -> str:
        """What the model printed during setup, read from Cog's structured log."""
        lines = []
        try:
            text = self._own_log()
        except OSError:
            return ""
        for line in text.splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            message = record.get("fields", {}).get("message", "")
            target = record.get("target")
            if target == "coglet::worker_bridge" and message == "Setup complete":
                break
            if target in ("coglet::setup", "coglet::user") and "DeprecationWarning" not in message:
                lines.append(message)
        return "\n".join(lines)

    def diagnose_setup(self, timeout: float = 120) -> str:
        """Run setup() once more outside Cog's runtime to capture the full traceback."""
        script = Path(__file__).with_name("diagnose_setup.py")
        command = [str(self.environment.python), str(script), self.predictor_ref]
        try:
            if self.sandbox is not None:
                self.sandbox.read_only.append(script)
                self.sandbox.env.update(self.extra_env)
                result = self.sandbox.run(command, capture_output=True, text=True, timeout=timeout)
            else:
                env = {
                    **os.environ,
                    **self.extra_env,
                    "PYTHONNOUSERSITE": "1",
                    "PATH": f"{self.environment.bin}:{os.environ.get('PATH', '')}",
                }
                result = subprocess.run(
                    command,
                    cwd=self.model_dir,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=timeout,
                )
        except subprocess.TimeoutExpired:
            return ""
        output = (result.stdout + result.stderr).splitlines()
        return "\n".join(line for line in output if "DeprecationWarning" not in line)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def memory_bytes(self) -> int:
        """Resident memory of the whole process group (coglet and its Python worker)."""
        if not self.is_alive():
            return 0
        return sum(procgroup.resident_bytes(pid) for pid in procgroup.members(self.process.pid))

    # --- predictions ---------------------------------------------------------------------

    def cancel(self, prediction_id: str) -> bool:
        try:
            response = self.client.post(
                f"{self.base}/predictions/{prediction_id}/cancel", timeout=5
            )
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def predict(
        self,
        prediction_id: str,
        inputs: dict,
        *,
        on_event: EventHandler,
        time_limit: float,
        cancel_grace: float = 10.0,
    ) -> Result:
        """Run one prediction, streaming logs and outputs to on_event; never raises for
        model errors, crashes or time limits: those come back as a failed Result."""
        with self._lock:
            self.busy += 1
        self.last_used = time.monotonic()
        watchdog = _Watchdog(self, prediction_id, time_limit, cancel_grace)
        try:
            return self._predict(prediction_id, inputs, on_event, watchdog)
        finally:
            watchdog.stop()
            with self._lock:
                self.busy -= 1
            self.last_used = time.monotonic()

    def _predict(self, prediction_id, inputs, on_event, watchdog) -> Result:
        address = self.socket_path or self.port
        try:
            response = cogclient.open_prediction(address, prediction_id, inputs)
        except cogclient.STREAM_ERRORS as exc:
            return self._crashed(f"could not reach the model process: {exc}")
        refused, completed = cogclient.read_prediction(response, on_event)
        if refused is not None:
            return refused
        if completed is None:
            if watchdog.killed:
                return Result("failed", error=watchdog.reason)
            if self.is_alive():  # the stream broke off, the run may go on: stop it
                self.cancel(prediction_id)
            return self._crashed("the model process stopped during the prediction")
        status = completed.get("status", "failed")
        error = completed.get("error")
        if watchdog.fired and status in ("canceled", "failed"):
            status, error = "failed", watchdog.reason
        elif status == "failed" and not self.is_usable():
            error = (
                f"The model process crashed ({error or 'no details'}). "
                "It will be restarted for the next prediction."
            )
        return Result(
            status=status if status in TERMINAL else "failed",
            output=completed.get("output"),
            error=error,
            logs=completed.get("logs") or "",
            metrics=completed.get("metrics") or {},
        )

    def _crashed(self, what: str) -> Result:
        time.sleep(0.2)  # let the exit status or DEFUNCT state settle
        if not self.is_alive():
            detail = f"{what}: it exited with {self._how_it_ended()}"
        else:
            health = self.health() or {}
            detail = f"{what} (its state is {health.get('status', 'unreachable')})"
        return Result(
            "failed",
            error=detail + ". It will be restarted for the next prediction.",
            logs=self.log_tail(10),
        )


class _Watchdog:
    """Enforces the time limit: cancel first, then kill the process if it does not stop."""

    def __init__(self, process: CogProcess, prediction_id: str, limit: float, grace: float):
        self.process, self.prediction_id, self.limit, self.grace = (
            process,
            prediction_id,
            limit,
            grace,
        )
        self.fired = self.killed = False
        self.reason = f"Prediction timed out: it ran longer than the limit of {limit:g}s"
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        if self._done.wait(self.limit):
            return
        self.fired = True
        self.process.cancel(self.prediction_id)
        if self._done.wait(self.grace):
            return
        self.killed = True
        self.reason += ", and did not stop when canceled, so its process was restarted"
        self.process.kill()

    def stop(self) -> None:
        self._done.set()
