"""The end of a training, on the worker: what its train() returned becomes a new version
of the destination, or the reason it did not (trainings.py is the creating side)."""

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

from apps.catalog.services import trained_files_store, trained_version_create
from apps.core.links import stored_file_url
from apps.predictions.models import Prediction
from apps.runtime import artifacts, inputs

logger = logging.getLogger(__name__)

NO_WEIGHTS = (
    "train() finished without a weights file: it must return an object with a `weights` "
    "field holding a file (cog.Path), such as `TrainingOutput(weights=Path(...))`."
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
