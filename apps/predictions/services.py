"""The lifecycle of a prediction: create, run on a worker, finish."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.accounts.models import Account, User
from apps.catalog.models import Model, Version
from apps.core.redis import client as redis_client
from apps.predictions.models import Prediction
from apps.predictions.runtime import get_pool, public_base, version_spec

SAVE_INTERVAL = 0.5  # seconds between database writes of a running prediction


SECRET_MASK = "**********"  # noqa: S105 (what is stored instead of a secret)
SECRET_TTL = 24 * 3600  # a queued prediction's secrets wait this long in Redis, at most


def secret_fields(version: Version) -> set[str]:
    properties = version.input_schema.get("properties") or {}
    return {name for name, prop in properties.items() if prop.get("x-cog-secret")}


def _secrets_key(prediction_id: str) -> str:
    return f"selfrep:secrets:{prediction_id}"


def prediction_create(
    *,
    version: Version,
    owner: Account,
    input: dict,
    created_by: User | None = None,
    source: str = Prediction.Source.API,
    is_example: bool = False,
) -> Prediction:
    # Secret inputs never reach the database: the worker gets them through Redis, once.
    secrets = {k: v for k, v in input.items() if k in secret_fields(version) and v is not None}
    stored = {k: (SECRET_MASK if k in secrets else v) for k, v in input.items()}
    prediction = Prediction.objects.create(
        owner=owner,
        created_by=created_by,
        model=version.model,
        version=version,
        source=source,
        input=stored,
        is_example=is_example,
    )
    if secrets:
        redis_client().set(_secrets_key(prediction.id), json.dumps(secrets), ex=SECRET_TTL)
    from apps.predictions.tasks import run_prediction

    transaction.on_commit(lambda: run_prediction.send(prediction.id))
    return prediction


class _Publisher:
    """Moves the model's output files into storage once each, replacing them by URLs."""

    def __init__(self, prediction: Prediction) -> None:
        self.prediction = prediction
        self.urls: dict[Path, str] = {}

    def __call__(self, value: Any) -> Any:
        if isinstance(value, Path):
            if value not in self.urls:
                with open(value, "rb") as handle:
                    name = default_storage.save(
                        f"predictions/{self.prediction.id}/{value.name}", handle
                    )
                self.urls[value] = public_base() + default_storage.url(name)
            return self.urls[value]
        if isinstance(value, list):
            return [self(v) for v in value]
        if isinstance(value, dict):
            return {k: self(v) for k, v in value.items()}
        return value


class _Progress:
    """Collects a running prediction's logs and outputs, saving them at a bounded rate."""

    def __init__(self, prediction: Prediction, publish: _Publisher) -> None:
        self.prediction = prediction
        self.publish = publish
        self.logs: list[str] = []
        self.outputs: list[Any] = []
        self.last_save = 0.0
        self.lock = threading.Lock()

    def __call__(self, kind: str, payload: Any) -> None:
        with self.lock:
            if kind == "start":  # setup is over: the model's predict() begins now
                self.prediction.started_at = timezone.now()
                self.prediction.status = Prediction.Status.PROCESSING
                Prediction.objects.filter(pk=self.prediction.pk).update(
                    status=self.prediction.status,
                    started_at=self.prediction.started_at,
                    logs="".join(self.logs),
                )
                return
            if kind == "log":
                self.logs.append(payload)
            elif kind == "output":
                self.outputs.append(self.publish(get_pool().local_files(payload, [])))
            now = time.monotonic()
            if now - self.last_save >= SAVE_INTERVAL:
                self.last_save = now
                Prediction.objects.filter(pk=self.prediction.pk).update(
                    logs="".join(self.logs),
                    output=self.outputs if self.outputs else None,
                )


def prediction_run(prediction_id: str) -> Prediction | None:
    """Run a queued prediction on this worker. Safe to call twice: a prediction that is no
    longer `starting` is left alone."""
    claimed = Prediction.objects.filter(
        pk=prediction_id, status=Prediction.Status.STARTING, claimed_at__isnull=True
    ).update(claimed_at=timezone.now())
    prediction = (
        Prediction.objects.select_related("version__model").filter(pk=prediction_id).first()
    )
    if not claimed:
        return prediction  # already taken by a worker, finished, or gone

    version = prediction.version
    publish = _Publisher(prediction)
    progress = _Progress(prediction, publish)
    inputs = dict(prediction.input)
    secrets = redis_client().getdel(_secrets_key(prediction.id))
    if secrets:
        inputs.update(json.loads(secrets))
    outcome = get_pool().run(
        version_spec(version),
        prediction.id,
        inputs,
        on_event=progress,
        time_limit=settings.PREDICTION_TIME_LIMIT,
    )
    result = outcome.result
    output = publish(result.output)
    get_pool().files.discard_outputs(list(publish.urls) + outcome.files)

    prediction.status = result.status
    prediction.output = output
    prediction.error = result.error
    prediction.logs = "".join(progress.logs) or result.logs
    prediction.completed_at = timezone.now()
    prediction.started_at = prediction.started_at or prediction.completed_at
    prediction.metrics = {
        **{k: v for k, v in result.metrics.items() if k != "predict_time"},
        "predict_time": round((prediction.completed_at - prediction.started_at).total_seconds(), 6),
        "total_time": round((prediction.completed_at - prediction.created_at).total_seconds(), 6),
    }
    if outcome.setup is not None:
        prediction.metrics["setup_time"] = round(outcome.setup.seconds, 6)
    prediction.save(
        update_fields=["status", "output", "error", "logs", "started_at", "completed_at", "metrics"]
    )
    Model.objects.filter(pk=prediction.model_id).update(run_count=F("run_count") + 1)
    if outcome.setup_failed:
        Version.objects.filter(pk=version.pk).update(
            setup_status=Version.Setup.FAILED, setup_logs=result.logs or result.error or ""
        )
    elif outcome.setup is not None:
        Version.objects.filter(pk=version.pk).update(
            setup_status=Version.Setup.OK,
            setup_logs=outcome.setup.logs,
            setup_seconds=outcome.setup.seconds,
        )
    return prediction
