"""Reading and checking a model directory's cog.yaml."""

from __future__ import annotations

import platform
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from apps.runtime.packageindex import LOCATION_OPTIONS, PackageSourceRefused, check_requirement

SUPPORTED_KEYS = {
    "build",
    "image",
    "run",
    "predict",
    "train",
    "concurrency",
    "environment",
    "weights",
}
BUILD_KEYS = {
    "gpu",
    "python_version",
    "python_requirements",
    "python_packages",
    "system_packages",
    "run",
    "cuda",
    "cudnn",
    "sdk_version",
    "pre_install",
}


class ConfigError(ValueError):
    """cog.yaml is missing, unreadable, or asks for something this platform cannot do."""


@dataclass
class ModelConfig:
    predictor_ref: str
    requirements: list[str]
    python_version: str | None = None
    gpu: bool = False
    concurrency_max: int | None = None
    environment: dict[str, str] = field(default_factory=dict)
    pip_commands: list[list[str]] = field(default_factory=list)
    train_ref: str | None = None
    warnings: list[str] = field(default_factory=list)
    raw: dict = field(default_factory=dict)


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError("cog.yaml not found: a model directory needs a cog.yaml at its top level")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"cog.yaml is not valid YAML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError("cog.yaml is not UTF-8 text") from None
    if not isinstance(data, dict):
        raise ConfigError("cog.yaml must be a mapping of keys (build, predict, ...)")
    return data


def _predictor_ref(data: dict, model_dir: Path) -> str:
    run, predict = data.get("run"), data.get("predict")
    if run and predict:
        raise ConfigError("cog.yaml sets both run and predict; keep one (run is the newer name)")
    ref = run or predict
    if not ref:
        raise ConfigError('cog.yaml needs run: "predict.py:Predictor" (or the older predict:)')
    return _checked_ref(ref, model_dir, "run/predict", "predictor", "ClassName")


def _train_ref(data: dict, model_dir: Path) -> str | None:
    ref = data.get("train")
    if ref is None:
        return None
    return _checked_ref(ref, model_dir, "train", "trainer", "train")


def _checked_ref(ref, model_dir: Path, key: str, what: str, example: str) -> str:
    if not isinstance(ref, str) or not ref.split(":", 1)[0].endswith(".py"):
        raise ConfigError(f'{key} must look like "file.py:{example}", not {ref!r}')
    file_part = ref.split(":", 1)[0]
    target = (model_dir / file_part).resolve()
    if model_dir.resolve() not in target.parents or not target.is_file():
        raise ConfigError(f"the {what} file {file_part} named in cog.yaml does not exist")
    return ref


def _requirements(build: dict, model_dir: Path) -> list[str]:
    requirements_file = build.get("python_requirements")
    packages = build.get("python_packages")
    if requirements_file and packages:
        raise ConfigError("build.python_requirements and build.python_packages are exclusive")
    if packages:
        if not isinstance(packages, list) or not all(isinstance(p, str) for p in packages):
            raise ConfigError("build.python_packages must be a list of requirement strings")
        return [p.strip() for p in packages if p.strip()]
    if requirements_file:
        path = (model_dir / str(requirements_file)).resolve()
        if model_dir.resolve() not in path.parents or not path.is_file():
            raise ConfigError(
                f"build.python_requirements names {requirements_file}, "
                "which is not in the model directory"
            )
        lines = []
        for line in path.read_text().splitlines():
            line = line.split("#", 1)[0].strip() if not line.lstrip().startswith("-") else line
            line = line.strip()
            if not line:
                continue
            if line.startswith(("-r", "-c", "--requirement", "--constraint", "-e", "--editable")):
                raise ConfigError(
                    f"{requirements_file}: {line.split()[0]} is not supported; "
                    "list the packages themselves"
                )
            lines.append(line)
        return lines
    return []


def _missing_system_packages(names: list[str]) -> list[str]:
    if not shutil.which("dpkg-query"):
        return list(names)
    missing = []
    for name in names:
        result = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", name], capture_output=True, text=True
        )
        if "install ok installed" not in result.stdout:
            missing.append(name)
    return missing


PIP_PREFIXES = (
    ["pip", "install"],
    ["pip3", "install"],
    ["python", "-m", "pip", "install"],
    ["python3", "-m", "pip", "install"],
)
FORBIDDEN_PIP_OPTIONS = {
    "-t",
    "--target",
    "--prefix",
    "--root",
    "--user",
    "-e",
    "--editable",
    "--src",
    "-r",
    "--requirement",
    "-c",
    "--constraint",
}


def pip_commands(build: dict) -> tuple[list[list[str]], list[str]]:
    """The `pip install ...` lines of build.run (run after the requirements, as Cog does), and
    the other commands, which this platform does not run."""
    commands, skipped = [], []
    for entry in build.get("run") or []:
        command = entry.get("command") if isinstance(entry, dict) else entry
        try:
            argv = shlex.split(str(command))
        except ValueError:
            raise ConfigError(f"build.run: cannot parse {command!r}") from None
        prefix = next((p for p in PIP_PREFIXES if argv[: len(p)] == p), None)
        if prefix is None or any(a.split("=", 1)[0] in FORBIDDEN_PIP_OPTIONS for a in argv):
            skipped.append(str(command))
            continue
        commands.append(argv[len(prefix) :])
    return commands, skipped


def _check_package_sources(requirements: list[str], commands: list[list[str]]) -> None:
    """pip fetches from the installation's package index only (apps/runtime/packageindex)."""
    lines = list(requirements)
    for argv in commands:
        # `--index-url URL` as two arguments is one option to check.
        lines += [
            f"{a} {argv[i + 1]}" if a in LOCATION_OPTIONS and i + 1 < len(argv) else a
            for i, a in enumerate(argv)
            if i == 0 or argv[i - 1] not in LOCATION_OPTIONS
        ]
    for line in lines:
        try:
            check_requirement(line)
        except PackageSourceRefused as exc:
            raise ConfigError(str(exc)) from None


def load(model_dir: Path, *, gpu_available: bool = False) -> ModelConfig:
    data = _read_yaml(model_dir / "cog.yaml")
    unknown = sorted(set(data) - SUPPORTED_KEYS)
    warnings = [f"cog.yaml: unknown key {key!r} ignored" for key in unknown]
    build = data.get("build") or {}
    if not isinstance(build, dict):
        raise ConfigError("build in cog.yaml must be a mapping")
    warnings += [
        f"cog.yaml: unknown build key {key!r} ignored" for key in sorted(set(build) - BUILD_KEYS)
    ]

    ours = ".".join(platform.python_version_tuple()[:2])
    python_version = build.get("python_version")
    if python_version is not None and str(python_version) != ours:
        warnings.append(
            f"build.python_version is {python_version}, but models run on Python "
            f"{ours} here; most code runs unchanged"
        )
    gpu = bool(build.get("gpu", False))
    if gpu and not gpu_available:
        warnings.append(
            "build.gpu is true but this machine has no GPU: the model will run on "
            "the CPU (slowly, or not at all if it needs CUDA)"
        )
    if build.get("cuda") or build.get("cudnn"):
        warnings.append("build.cuda/cudnn are ignored: CUDA comes from the platform's torch")
    system_packages = build.get("system_packages") or []
    if system_packages:
        missing = _missing_system_packages([str(p) for p in system_packages])
        if missing:
            raise ConfigError(
                "build.system_packages needs packages this machine does not have: "
                f"{', '.join(missing)}. Ask an operator to install them."
            )
    commands, skipped = pip_commands(build)
    for command in skipped:
        warnings.append(
            f"build.run: {command!r} is not run by this platform (only "
            "`pip install` lines are); setup() must not rely on it"
        )
    if build.get("pre_install"):
        warnings.append("build.pre_install is not run by this platform")

    concurrency = data.get("concurrency") or {}
    concurrency_max = concurrency.get("max") if isinstance(concurrency, dict) else None
    if concurrency_max is not None and (
        not isinstance(concurrency_max, int) or concurrency_max < 1
    ):
        raise ConfigError("concurrency.max must be a positive integer")

    environment = {}
    for item in data.get("environment") or []:
        key, sep, value = str(item).partition("=")
        if not sep or not key:
            raise ConfigError(f"environment entries must look like NAME=value, not {item!r}")
        environment[key] = value

    requirements = _requirements(build, model_dir)
    _check_package_sources(requirements, commands)
    return ModelConfig(
        predictor_ref=_predictor_ref(data, model_dir),
        requirements=requirements,
        python_version=str(python_version) if python_version is not None else None,
        gpu=gpu,
        concurrency_max=concurrency_max,
        environment=environment,
        pip_commands=commands,
        train_ref=_train_ref(data, model_dir),
        warnings=warnings,
        raw=data,
    )
