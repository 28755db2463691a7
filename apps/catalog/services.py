"""Pushing versions: validating a model directory, building its environment, generating its
schema with Cog's inspector, and storing it as an immutable version."""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from apps.accounts.models import Account, User
from apps.catalog.models import Model, Version, validate_model_name
from apps.runtime import artifacts, cogyaml, environments, sandbox, schema

logger = logging.getLogger(__name__)


class PushError(ValueError):
    """The model directory cannot become a version; `details` holds logs or a traceback."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details


def model_create(*, owner: Account, name: str, **fields) -> Model:
    validate_model_name(name)
    if Model.objects.filter(owner=owner, name__iexact=name).exists():
        raise ValidationError({"name": f"{owner.name}/{name} already exists."})
    try:
        with transaction.atomic():
            return Model.objects.create(owner=owner, name=name, **fields)
    except IntegrityError:
        raise ValidationError({"name": f"{owner.name}/{name} already exists."}) from None


def version_push(
    *,
    model: Model,
    source_dir: Path,
    created_by: User | None = None,
    log: Callable[[str], None] | None = None,
) -> tuple[Version, bool]:
    """Make `source_dir` a version of `model`. Returns (version, created); pushing the same
    content again returns the existing version."""
    lines: list[str] = []

    def emit(line: str) -> None:
        lines.append(line)
        if log:
            log(line)

    try:
        digest = artifacts.digest(source_dir)
    except artifacts.ArtifactError as exc:
        raise PushError(str(exc)) from None
    existing = model.versions.filter(digest=digest).first()
    if existing is not None:
        emit(f"Version {digest} already exists: nothing to do")
        return existing, False
    try:
        config = cogyaml.load(source_dir)
    except cogyaml.ConfigError as exc:
        raise PushError(str(exc)) from None
    for warning in config.warnings:
        emit(f"warning: {warning}")
    try:
        environment = environments.ensure(
            config.requirements, log=emit, pip_commands=config.pip_commands
        )
    except sandbox.SandboxUnavailable as exc:
        raise PushError(f"Models cannot be pushed here yet: {exc}") from None
    except environments.EnvironmentBuildError as exc:
        raise PushError(
            "Installing the model's Python requirements failed", "\n".join(lines[-40:]) or str(exc)
        ) from None
    emit(f"Importing {config.predictor_ref} to read its inputs and outputs")
    try:
        document = schema.generate(environment, source_dir, config.predictor_ref)
    except sandbox.SandboxUnavailable as exc:
        raise PushError(f"Models cannot be pushed here yet: {exc}") from None
    except schema.SchemaError as exc:
        raise PushError(f"The predictor could not be loaded: {exc}", exc.traceback) from None
    if config.train_ref:
        emit(f"Importing {config.train_ref} to read its training inputs and outputs")
        try:
            training = schema.generate(environment, source_dir, config.train_ref, train=True)
        except schema.SchemaError as exc:
            raise PushError(
                f"The trainer ({config.train_ref}) could not be loaded: {exc}", exc.traceback
            ) from None
        document = schema.with_training(document, training)
    archive = artifacts.pack(source_dir)
    try:
        with transaction.atomic():
            version = Version(
                model=model,
                digest=digest,
                openapi_schema=document,
                cog_version=document.get("x-selfrep", {}).get("cog_version")
                or environments.cog_version(),
                predictor_ref=config.predictor_ref,
                config=config.raw,
                requirements=config.requirements,
                build_log="\n".join(lines),
                artifact_size=len(archive),
                created_by=created_by,
            )
            version.artifact.save(f"{model.pk}-{digest}.tar.gz", ContentFile(archive), save=False)
            version.save()
            model.refresh_latest_version()
    except IntegrityError:  # the same content was pushed concurrently
        return model.versions.get(digest=digest), False
    emit(f"Pushed {model.full_name}:{digest}")
    return version, True


def version_push_archive(
    *,
    model: Model,
    archive,
    created_by: User | None = None,
    log: Callable[[str], None] | None = None,
) -> tuple[Version, bool]:
    """The same as version_push, from an uploaded .zip or .tar.gz of the model directory."""
    staging = Path(tempfile.mkdtemp(prefix="push-", dir=settings.VAR_DIR))
    try:
        try:
            artifacts.unpack(archive, staging, max_bytes=settings.MAX_VERSION_ARCHIVE_BYTES)
        except artifacts.ArtifactError as exc:
            raise PushError(str(exc)) from None
        return version_push(model=model, source_dir=staging, created_by=created_by, log=log)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


WEIGHTS_DIR = ".weights"  # where a trained version's weights sit in its folder


@dataclass(frozen=True)
class TrainedFiles:
    """A trained version's files, stored but not yet a version (see trained_version_create)."""

    digest: str
    artifact_name: str
    artifact_size: int
    weights: str  # relative to the version's folder


def trained_files_store(base: Version, destination: Model, weights_file: Path) -> TrainedFiles:
    """The base version's files plus `weights_file` under .weights/, packed and stored.
    Nothing is visible until trained_version_create: a training that ends otherwise leaves
    only an unreferenced archive behind."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", weights_file.name).lstrip(".") or "weights"
    staging = Path(tempfile.mkdtemp(prefix="trained-", dir=settings.VAR_DIR))
    try:
        with base.artifact.open("rb") as handle:
            artifacts.unpack(handle.read(), staging, max_bytes=8 << 30)
        shutil.rmtree(staging / WEIGHTS_DIR, ignore_errors=True)  # a retrained version's
        (staging / WEIGHTS_DIR).mkdir()
        shutil.copyfile(weights_file, staging / WEIGHTS_DIR / name)
        digest = artifacts.digest(staging)
        archive = artifacts.pack(staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    stored = default_storage.save(
        f"versions/{destination.pk}-{digest}.tar.gz", ContentFile(archive)
    )
    return TrainedFiles(digest, stored, len(archive), f"{WEIGHTS_DIR}/{name}")


def trained_version_create(
    *, base: Version, destination: Model, files: TrainedFiles, training_id: str, created_by
) -> Version:
    """The destination's new version (the same content again: its existing one). Called in
    the transaction that records the training's success."""
    existing = destination.versions.filter(digest=files.digest).first()
    if existing is not None:
        return existing
    version = Version(
        model=destination,
        digest=files.digest,
        openapi_schema=base.openapi_schema,
        cog_version=base.cog_version,
        predictor_ref=base.predictor_ref,
        config=base.config,
        requirements=base.requirements,
        build_log=f"Trained from {base.model.full_name}:{base.digest} by training {training_id}",
        artifact_size=files.artifact_size,
        created_by=created_by,
        weights=files.weights,
        trained_from=base,
        training_id=training_id,
    )
    version.artifact.name = files.artifact_name
    version.save()
    destination.refresh_latest_version()
    return version
