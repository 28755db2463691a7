"""The worker's model processes: one per loaded version, kept warm, evicted least recently
used when they would exceed the memory budget."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apps.runtime import artifacts, egress, environments, inputs, sandbox
from apps.runtime.cogclient import EventHandler, Result
from apps.runtime.fileserver import FileServer
from apps.runtime.process import CogProcess, SetupFailed, SetupInfo

EGRESS_PORT = 3128  # the egress proxy, as a model process sees it inside its sandbox


@dataclass(frozen=True)
class VersionSpec:
    """What the runtime needs to know about a version (built from a catalog Version)."""

    digest: str
    predictor_ref: str
    requirements: tuple[str, ...]
    schema: dict = field(compare=False, hash=False)
    load_artifact: Callable[[], bytes] = field(compare=False, hash=False)
    environment: tuple[tuple[str, str], ...] = ()
    concurrency: int = 1
    pip_commands: tuple[tuple[str, ...], ...] = ()
    # A training runs the version's train() (`predictor_ref` names it, `schema` is the
    # training view) in a process of its own; a trained version's setup() gets `weights`.
    train: bool = False
    weights: str = ""  # relative to the version's folder

    @property
    def key(self) -> str:
        """The pool's name for the version's process: its predictor's, or its trainer's."""
        return f"{self.digest}:train" if self.train else self.digest


@dataclass
class RunOutcome:
    result: Result
    setup: SetupInfo | None = None  # set when this prediction started the process (cold boot)
    setup_failed: bool = False
    files: list[Path] = field(default_factory=list)


@dataclass
class PoolSettings:
    work_dir: Path
    memory_budget_bytes: int
    max_processes: int
    setup_timeout: float
    max_input_bytes: int
    max_output_bytes: int
    fetch_timeout: float
    own_file: Callable[[str], Path | None] = lambda url: None
    model_egress: bool = False


def _out_of_memory(process: CogProcess, result: Result) -> bool:
    """A prediction that hit the sandbox's memory limit: say so, and have the process (which
    may be left in any state) replaced."""
    if process.sandbox is None or "MemoryError" not in (result.error or ""):
        return False
    limit = process.sandbox.limits.memory_bytes >> 20
    result.error = (
        f"The model ran out of memory: a model process may use at most {limit} MB here "
        f"(SANDBOX_MEMORY_MB). Its process is restarted for the next prediction. ({result.error})"
    )
    return True


class ModelPool:
    def __init__(self, config: PoolSettings) -> None:
        self.config = config
        self.processes: dict[str, CogProcess] = {}
        self.running: dict[str, CogProcess] = {}  # prediction id -> process
        self._lock = threading.RLock()
        self._start_locks: dict[str, threading.Lock] = {}
        config.work_dir.mkdir(parents=True, exist_ok=True)
        self.files = FileServer(config.work_dir / "files", max_upload_bytes=config.max_output_bytes)
        # Model downloads (weights in setup()) only where the operator allows them.
        self.egress = (
            egress.EgressProxy(egress.guarded, name="model")
            if config.model_egress and sandbox.enabled()
            else None
        )

    # --- versions on disk ----------------------------------------------------------------

    def _model_dir(self, spec: VersionSpec) -> Path:
        target = self.config.work_dir / "versions" / spec.digest
        if (target / ".unpacked").exists():
            return target
        staging = Path(tempfile.mkdtemp(dir=self.config.work_dir, prefix="unpack-"))
        try:
            artifacts.unpack(spec.load_artifact(), staging, max_bytes=8 << 30)
            (staging / ".unpacked").write_text(spec.digest)
            sandbox.make_readable(staging)  # read-only, by the sandbox's own user id
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                staging.rename(target)
            except OSError:  # another worker unpacked it first
                if not (target / ".unpacked").exists():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target

    # --- processes -----------------------------------------------------------------------

    def _evict(self, *, keep: str, room_for: int = 0) -> None:
        """Stop idle processes, least recently used first, until the budget holds."""
        with self._lock:
            idle = sorted(
                (p for k, p in self.processes.items() if k != keep and not p.busy),
                key=lambda p: p.last_used,
            )
            while idle and (
                len(self.processes) + room_for > self.config.max_processes
                or sum(p.memory_bytes() for p in self.processes.values())
                > self.config.memory_budget_bytes
            ):
                victim = idle.pop(0)
                self.processes.pop(victim.name, None)
                victim.stop()

    def _acquire(
        self, spec: VersionSpec, on_event: EventHandler
    ) -> tuple[CogProcess, SetupInfo | None]:
        with self._lock:
            start_lock = self._start_locks.setdefault(spec.key, threading.Lock())
        with start_lock:
            with self._lock:
                process = self.processes.get(spec.key)
            if process is not None and process.is_ready():
                return process, None
            if process is not None:
                on_event("log", "Restarting the model process (the previous one stopped)\n")
                with self._lock:
                    self.processes.pop(spec.key, None)
                process.stop()
            environment = environments.ensure(
                list(spec.requirements),
                log=lambda line: on_event("log", line + "\n"),
                pip_commands=spec.pip_commands,
            )
            model_dir = self._model_dir(spec)
            suffix = "-train" if spec.train else ""
            self._evict(keep=spec.key, room_for=1)
            process = CogProcess(
                **self._isolation(environment, model_dir),
                name=spec.key,
                model_dir=model_dir,
                environment=environment,
                predictor_ref=spec.predictor_ref,
                schema=spec.schema,
                upload_url=self.files.upload_url,
                log_path=self.config.work_dir / "logs" / f"{spec.key[:16]}{suffix}.log",
                extra_env=dict(spec.environment),
                concurrency=spec.concurrency,
                train=spec.train,
                weights=spec.weights,
            )
            on_event("log", "Starting the model (running setup())\n")
            setup = process.start(setup_timeout=self.config.setup_timeout)
            with self._lock:
                self.processes[spec.key] = process
            self._evict(keep=spec.key)
            return process, setup

    def _isolation(self, environment: environments.Environment, model_dir: Path) -> dict:
        """The sandbox of a model process (none when the operator turned it off): its version
        read-only at /src, the file server (and egress proxy, if allowed) through sockets."""
        if not sandbox.enabled():
            return {}
        sandbox.require()
        sockets = {"files.sock": self.files.socket_path}
        forwards = {self.files.port: str(sandbox.INSIDE / "files.sock")}
        env = {}
        if self.egress is not None:
            sockets["egress.sock"] = self.egress.socket_path
            forwards[EGRESS_PORT] = str(sandbox.INSIDE / "egress.sock")
            proxy = f"http://127.0.0.1:{EGRESS_PORT}"
            env = {"HTTP_PROXY": proxy, "HTTPS_PROXY": proxy, "NO_PROXY": "127.0.0.1,localhost"}
        box = sandbox.Sandbox(
            read_only=[*environments.sandbox_paths(environment), sandbox.RELAY],
            source=model_dir,
            sockets=sockets,
            env=env,
        )
        return {"sandbox": box, "forwards": forwards}

    def preload(self, spec: VersionSpec, on_event: EventHandler) -> SetupInfo | None:
        """Start the version's model process (and run its setup()) before any prediction asks:
        a deployment's warm instance. A prediction arriving meanwhile waits for this start."""
        _process, setup = self._acquire(spec, on_event)
        return setup

    def run(
        self,
        spec: VersionSpec,
        prediction_id: str,
        raw_inputs: dict,
        *,
        on_event: EventHandler,
        time_limit: float,
    ) -> RunOutcome:
        """Run one prediction to a terminal Result; errors become failed results, never raise."""
        try:
            process, setup = self._acquire(spec, on_event)
        except SetupFailed as exc:
            if exc.logs:
                on_event("log", exc.logs + "\n")
            error = f"Model setup failed: {exc}"
            if spec.train and "run or predict method not found" in str(exc):
                error += (
                    ". Cog's runtime loads a trainer class as it loads a predictor: give it a "
                    "run() (or predict()) method too, as a Predictor with train() has, or make "
                    "`train:` in cog.yaml name a function."
                )
            return RunOutcome(Result("failed", error=error, logs=exc.logs), setup_failed=True)
        except environments.EnvironmentBuildError as exc:
            return RunOutcome(Result("failed", error=str(exc)))
        except sandbox.SandboxUnavailable as exc:
            return RunOutcome(Result("failed", error=f"Models cannot run here yet: {exc}"))
        except artifacts.ArtifactError as exc:
            return RunOutcome(Result("failed", error=f"The version's files are unusable: {exc}"))
        if setup is not None:
            if setup.logs:
                on_event("log", setup.logs + "\n")
            on_event("log", f"Model setup took {setup.seconds:.2f}s (cold boot)\n")

        scratch: list[Path] = []  # a folder for fetched input files, made on first use
        served: list[str] = []
        try:
            try:
                model_inputs = self._localize(spec, raw_inputs, scratch, served)
            except inputs.InputFileError as exc:
                return RunOutcome(Result("failed", error=str(exc)), setup=setup)
            with self._lock:
                self.running[prediction_id] = process
            on_event("start", None)
            result = process.predict(
                prediction_id, model_inputs, on_event=on_event, time_limit=time_limit
            )
        finally:
            with self._lock:
                self.running.pop(prediction_id, None)
            self.files.forget_inputs(served)
            for folder in scratch:
                shutil.rmtree(folder, ignore_errors=True)
        if result.status == "failed" and (
            _out_of_memory(process, result) or not process.is_usable()
        ):
            with self._lock:
                if self.processes.get(spec.key) is process:
                    self.processes.pop(spec.key)
            process.stop()
        files: list[Path] = []
        result.output = self.local_files(result.output, files)
        return RunOutcome(result, setup=setup, files=files)

    def _localize(self, spec, raw_inputs, scratch: list[Path], served: list[str]) -> dict:
        single, many = inputs.file_fields(spec.schema)
        # Cog's validator refuses an explicit null even for optional inputs: leave them out.
        localized = {k: v for k, v in raw_inputs.items() if v is not None}

        def one(name: str, value: Any) -> str:
            if not scratch:
                scratch.append(Path(tempfile.mkdtemp(dir=self.config.work_dir, prefix="inputs-")))
            try:
                path = inputs.fetch(
                    value,
                    scratch[0],
                    max_bytes=self.config.max_input_bytes,
                    timeout=self.config.fetch_timeout,
                    own_file=self.config.own_file,
                )
            except inputs.InputFileError as exc:
                raise inputs.InputFileError(f"Input {name}: {exc}") from None
            url = self.files.serve_input(path, path.name)
            served.append(url)
            return url

        for name in single & localized.keys():
            if localized[name] is not None:
                localized[name] = one(name, localized[name])
        for name in many & localized.keys():
            if isinstance(localized[name], list):
                localized[name] = [one(f"{name}[{i}]", v) for i, v in enumerate(localized[name])]
        return localized

    def local_files(self, value: Any, found: list[Path]) -> Any:
        """Replace the model's uploaded-file URLs by their local paths (recorded in found)."""
        if isinstance(value, str):
            path = self.files.output_path(value)
            if path is not None:
                found.append(path)
                return path
            return value
        if isinstance(value, list):
            return [self.local_files(v, found) for v in value]
        if isinstance(value, dict):
            return {k: self.local_files(v, found) for k, v in value.items()}
        return value

    def cancel(self, prediction_id: str) -> bool:
        with self._lock:
            process = self.running.get(prediction_id)
        return process.cancel(prediction_id) if process is not None else False

    def loaded(self) -> dict[str, dict]:
        with self._lock:
            return {
                k: {
                    "busy": p.busy,
                    "memory_bytes": p.memory_bytes(),
                    "idle_seconds": time.monotonic() - p.last_used,
                }
                for k, p in self.processes.items()
            }

    def shutdown(self) -> None:
        with self._lock:
            processes = list(self.processes.values())
            self.processes.clear()
        for process in processes:
            process.stop()
        self.files.close()
        if self.egress is not None:
            self.egress.close()
