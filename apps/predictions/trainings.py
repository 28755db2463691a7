"""Trainings: a trainable version's train() run on the caller's input, making a new version
of a model of theirs (the destination) with the weights it returned.

A training is a Prediction of kind "training": it goes through the same queues, workers,
event log, webhooks, sweeper and ledger. What differs is here: who may train into what, and
how a finished train() becomes a version, which exists only once the training's success is
recorded (lifecycle.prediction_finish's `make_output`)."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage

from apps.accounts.models import Account, User
from apps.catalog.access import account_can_manage
from apps.catalog.models import Model, Version
from apps.catalog.services import trained_files_store, trained_version_create
from apps.core.links import stored_file_url
from apps.core.problems import ApiError
from apps.predictions.models import Prediction
from apps.runtime import artifacts, inputs

logger = logging.getLogger(__name__)

NOT_TRAINABLE = (
    "This version cannot be trained: its cog.yaml has no `train:` (Cog's trainer, a function "
    "or a class with train(), that returns an object with a `weights` file)."
)
NO_DESTINATION = "The specified training destination does not exist"
NO_WEIGHTS = (
    "train() finished without a weights file: it must return an object with a `weights` "
    "field holding a file (cog.Path), such as `TrainingOutput(weights=Path(...))`."
)


def destination_for(account: Account, ref: Any) -> Model:
    """The model `owner/name` a training of `account` may write its version into: one the
    account owns or manages. Anything else, including a model it can only see, is reported
    as not existing (Replicate's answer, which reveals nothing)."""
    owner, _, name = ref.partition("/") if isinstance(ref, str) else ("", "", "")
    model = (
        Model.objects.select_related("owner")
        .filter(owner__name__iexact=owner, name__iexact=name)
        .first()
        if owner and name and "/" not in name
        else None
    )
    if model is None or not account_can_manage(account, model.owner):
        raise ApiError(404, "Not found", NO_DESTINATION)
    return model


def training_create(
    *,
    version: Version,
    owner: Account,
    destination: Model,
    input: dict,
    created_by: User | None = None,
    source: str = Prediction.Source.API,
    webhook: str = "",
    webhook_events_filter: list[str] | None = None,
) -> Prediction:
    """Admit and save a training (input already checked against TrainingInput); queued when
    the surrounding transaction commits."""
    from apps.predictions.services import prediction_create  # services -> tasks -> worker -> us

    return prediction_create(
        version=version,
        owner=owner,
        input=input,
        created_by=created_by,
        source=source,
        webhook=webhook,
        webhook_events_filter=webhook_events_filter,
        kind=Prediction.Kind.TRAINING,
        destination=destination,
    )


@dataclass
class Conclusion:
    status: str
    error: str | None
    make_output: Callable[[], dict] | None = None


def conclude(training: Prediction, status: str, output: Any, error: str | None) -> Conclusion:
    """What a finished train() comes to. A succeeded one must have returned a weights file
    (a local path by now); its new version's files are stored here, and the version itself
    is made by `make_output`, in the transaction that records the success."""
    if status != Prediction.Status.SUCCEEDED:
        return Conclusion(status, error)
    weights = output.get("weights") if isinstance(output, dict) else None
    if isinstance(weights, str) and weights.startswith("data:"):  # how Cog returns a file
        # of train(): decoded next to the worker's other scratch files, removed after.
        scratch = Path(tempfile.mkdtemp(prefix="weights-", dir=settings.RUNTIME_WORK_DIR))
        try:
            weights = inputs.from_data_uri(
                weights, scratch, settings.MAX_OUTPUT_FILE_BYTES, name="weights"
            )
            return _conclude(training, status, weights)
        except inputs.InputFileError as exc:
            return Conclusion(Prediction.Status.FAILED, f"train()'s weights {exc}.")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return _conclude(training, status, weights)


def _conclude(training: Prediction, status: str, weights: Any) -> Conclusion:
    if not isinstance(weights, Path) or not weights.is_file():
        return Conclusion(Prediction.Status.FAILED, NO_WEIGHTS)
    size = weights.stat().st_size
    if size > settings.MAX_OUTPUT_FILE_BYTES:
        return Conclusion(
            Prediction.Status.FAILED,
            f"train() returned weights of {size} bytes, more than the "
            f"{settings.MAX_OUTPUT_FILE_BYTES} bytes a file output may have here.",
        )
    base, destination = training.version, training.destination
    try:
        files = trained_files_store(base, destination, weights)
        with open(weights, "rb") as handle:
            stored = default_storage.save(f"predictions/{training.id}/{weights.name}", handle)
    except (OSError, artifacts.ArtifactError) as exc:
        logger.exception("could not store the weights of training %s", training.pk)
        return Conclusion(
            Prediction.Status.FAILED, f"The trained weights could not be stored: {exc}"
        )
    weights_url = stored_file_url(stored)

    def make_output() -> dict:
        version = trained_version_create(
            base=base,
            destination=destination,
            files=files,
            training_id=training.id,
            created_by=training.created_by,
        )
        training.trained_version = version
        return {"version": f"{destination.full_name}:{version.digest}", "weights": weights_url}

    return Conclusion(status, None, make_output)
