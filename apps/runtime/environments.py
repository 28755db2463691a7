"""Per-version Python environments, built from cog.yaml and cached by what they contain.

An environment is a virtualenv with `cog` and the model's requirements. Heavy packages the
platform already has (torch by default) are not installed again: a `.pth` file points the
environment at a folder of links to exactly those distributions and their dependencies,
so `pip` sees them as installed and the model imports the platform's build.

Environments live outside the checkout (SELFREP_CACHE_DIR, by default the user's cache
folder), keyed by a hash of the Python version, the cog version, the shared packages and the
requirements, so versions, test runs and CI that need the same environment reuse it.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import time
import venv
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from packaging.requirements import Requirement

from apps.runtime import egress, packageindex, sandbox

Log = Callable[[str], None]
NOT_SHARED = {"pip", "setuptools", "wheel"}
PROXY_PORT = 3128  # the egress proxy, as pip sees it inside the sandbox


class EnvironmentBuildError(RuntimeError):
    """pip could not build the environment; the message carries pip's last lines."""


@dataclass(frozen=True)
class Environment:
    path: Path

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def bin(self) -> Path:
        return self.path / "bin"


def cog_version() -> str:
    return importlib.metadata.version("cog")


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _closure(names: list[str]) -> list[importlib.metadata.Distribution]:
    """The installed distributions named, with everything they require (extras left out)."""
    seen: dict[str, importlib.metadata.Distribution] = {}
    pending = list(names)
    while pending:
        name = pending.pop()
        key = name.lower().replace("_", "-")
        if key in seen or key in NOT_SHARED:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        seen[key] = dist
        for requirement in dist.requires or []:
            parsed = Requirement(requirement)
            if parsed.marker is None or parsed.marker.evaluate({"extra": ""}):
                pending.append(parsed.name)
    return sorted(seen.values(), key=lambda d: d.metadata["Name"].lower())


@functools.lru_cache
def _shared(names: tuple[str, ...]) -> tuple[list[importlib.metadata.Distribution], str]:
    """The closure of the shared packages and its fingerprint, worked out once per process
    (reading the metadata of torch's dependencies takes ~10 ms: every cold boot asks)."""
    dists = _closure(list(names))
    fingerprint = hashlib.sha256(
        json.dumps([sys.prefix, [f"{d.metadata['Name']}=={d.version}" for d in dists]]).encode()
    ).hexdigest()[:16]
    return dists, fingerprint


def shared_packages_dir() -> Path:
    """A folder of links to the shared distributions' files, built once per platform build."""
    dists, fingerprint = _shared(tuple(settings.RUNTIME_SHARED_PACKAGES))
    target = settings.SELFREP_CACHE_DIR / "shared" / fingerprint
    if (target / ".ready").exists():
        return target
    with _locked(target.with_suffix(".lock")):
        if (target / ".ready").exists():
            return target
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for dist in dists:
            site = Path(dist.locate_file("")).resolve()
            for top in {str(f).split("/")[0] for f in dist.files or []}:
                source = site / top
                if top == ".." or not source.exists() or (target / top).exists():
                    continue
                (target / top).symlink_to(source)
        (target / ".ready").write_text(json.dumps([d.metadata["Name"] for d in dists]))
    return target


def shared_paths() -> list[Path]:
    """What a sandbox must see of the shared packages: the folder of links and their targets."""
    folder = shared_packages_dir()
    return [folder, *_link_targets(folder)]


@functools.lru_cache
def _link_targets(folder: Path) -> tuple[Path, ...]:
    return tuple(sorted(entry.resolve() for entry in folder.iterdir() if entry.is_symlink()))


def sandbox_paths(environment: Environment) -> list[Path]:
    """Everything a model process of this environment reads, for its sandbox (read-only)."""
    return [environment.path, *shared_paths()]


def environment_key(requirements: list[str], pip_commands=()) -> str:
    payload = {
        "python": list(sys.version_info[:3]),
        "cog": cog_version(),
        "shared": str(shared_packages_dir()),
        "requirements": [line.strip() for line in requirements],
    }
    if pip_commands:
        payload["pip_commands"] = [list(command) for command in pip_commands]
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def find(requirements: list[str], pip_commands=()) -> Environment | None:
    path = settings.SELFREP_CACHE_DIR / "envs" / environment_key(requirements, pip_commands)[:24]
    return Environment(path) if (path / ".ready").exists() else None


def ensure(requirements: list[str], log: Log = print, pip_commands=()) -> Environment:
    """The environment for these requirements, built now (streaming pip's output) if missing.
    `pip_commands` are extra `pip install` argument lists run afterwards (cog.yaml build.run)."""
    key = environment_key(requirements, pip_commands)
    path = settings.SELFREP_CACHE_DIR / "envs" / key[:24]
    environment = Environment(path)
    if (path / ".ready").exists():
        return environment
    with _locked(path.with_suffix(".lock")):
        if (path / ".ready").exists():
            return environment
        started = time.monotonic()
        log("Setting up the model's Python environment (done once, then cached)")
        shutil.rmtree(path, ignore_errors=True)
        try:
            _build(path, requirements, log)
            for arguments in pip_commands:
                log("$ pip install " + " ".join(arguments))
                _pip(path, list(arguments), log)
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)
            raise
        (path / ".ready").write_text(json.dumps({"key": key, "requirements": requirements}))
        log(f"Environment ready in {time.monotonic() - started:.1f}s")
    return environment


def _build(path: Path, requirements: list[str], log: Log) -> None:
    venv.EnvBuilder(with_pip=True, symlinks=True).create(path)
    site = next((path / "lib").glob("python3*/site-packages"))
    (site / "selfrep-shared.pth").write_text(f"{shared_packages_dir()}\n")
    requirements_file = path / "requirements.txt"
    requirements_file.write_text("\n".join([f"cog=={cog_version()}", *requirements]) + "\n")
    _pip(path, ["-r", str(requirements_file)], log)


def _pip(path: Path, arguments: list[str], log: Log) -> None:
    command = [
        str(path / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "--no-input",
        "--disable-pip-version-check",
        "--progress-bar",
        "off",
        *arguments,
    ]
    if not sandbox.enabled():
        env = dict(os.environ, PIP_NO_WARN_SCRIPT_LOCATION="1", PYTHONNOUSERSITE="1")
        _stream(
            subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
            ),
            log,
        )
        return
    # pip runs the setup.py of source distributions: model code. It runs sandboxed, writing
    # only this environment and reaching only the package index, through the egress proxy.
    sandbox.require()
    index = packageindex.configuration()
    with egress.EgressProxy(egress.package_index(index.hosts), name="pip") as proxy:
        box = sandbox.Sandbox(
            read_only=[*shared_paths(), *index.paths, sandbox.RELAY],
            writable=[path],
            sockets={"egress.sock": proxy.socket_path},
            env={
                **index.env,
                "HTTP_PROXY": f"http://127.0.0.1:{PROXY_PORT}",
                "HTTPS_PROXY": f"http://127.0.0.1:{PROXY_PORT}",
                "PIP_NO_WARN_SCRIPT_LOCATION": "1",
                "PIP_ROOT_USER_ACTION": "ignore",
            },
        )
        relay = [str(path / "bin" / "python"), "-I", "-S", str(sandbox.RELAY)]
        relay += ["--forward", f"{PROXY_PORT}={sandbox.INSIDE / 'egress.sock'}", "--"]
        with box.owning(path):
            _stream(
                subprocess.Popen(
                    box.command([*relay, *command]),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    env={},
                    preexec_fn=box.preexec(),  # noqa: PLW1509
                ),
                log,
            )


def _stream(process: subprocess.Popen, log: Log) -> None:
    tail: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        line = line.rstrip()
        if not line or line.startswith("WARNING: Location"):
            continue
        log(line)
        tail = (tail + [line])[-15:]
    if process.wait() != 0:
        message = "Installing the model's requirements failed:\n" + "\n".join(tail)
        raise EnvironmentBuildError(message)
