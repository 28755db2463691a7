"""The worker side of the runtime: one model pool per worker process, fed from the catalog."""

from __future__ import annotations

import dataclasses
import threading

from django.conf import settings

from apps.catalog.models import Version
from apps.files.services import own_file
from apps.runtime.cogyaml import pip_commands
from apps.runtime.pool import ModelPool, PoolSettings, VersionSpec

_pool: ModelPool | None = None
_lock = threading.Lock()


def get_pool() -> ModelPool:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ModelPool(
                PoolSettings(
                    work_dir=settings.RUNTIME_WORK_DIR,
                    memory_budget_bytes=settings.MODEL_MEMORY_BUDGET_MB * 1024 * 1024,
                    max_processes=settings.MAX_MODEL_PROCESSES,
                    setup_timeout=settings.MODEL_SETUP_TIMEOUT,
                    max_input_bytes=settings.MAX_INPUT_FILE_BYTES,
                    max_output_bytes=settings.MAX_OUTPUT_FILE_BYTES,
                    fetch_timeout=settings.INPUT_FETCH_TIMEOUT,
                    own_file=own_file,
                    model_egress=settings.SANDBOX_MODEL_EGRESS,
                )
            )
        return _pool


def shutdown_pool() -> None:
    global _pool
    with _lock:
        if _pool is not None:
            _pool.shutdown()
            _pool = None


def training_spec(version: Version) -> VersionSpec:
    """The version's trainer: train() in Cog's train mode, checked against TrainingInput."""
    spec = version_spec(version)
    return dataclasses.replace(
        spec,
        predictor_ref=version.config.get("train") or "",
        schema=version.training_schema,
        concurrency=1,
        train=True,
    )


def version_spec(version: Version) -> VersionSpec:
    def load_artifact() -> bytes:
        with version.artifact.open("rb") as handle:
            return handle.read()

    environment = version.config.get("environment") or []
    commands, _skipped = pip_commands(version.config.get("build") or {})
    return VersionSpec(
        digest=version.digest,
        predictor_ref=version.predictor_ref,
        requirements=tuple(version.requirements),
        schema=version.openapi_schema,
        load_artifact=load_artifact,
        environment=tuple(tuple(str(e).split("=", 1)) for e in environment if "=" in str(e)),
        concurrency=version.concurrency,
        pip_commands=tuple(tuple(command) for command in commands),
        weights=version.weights,
    )
