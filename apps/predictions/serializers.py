"""The prediction JSON of Replicate's API (also the body of webhooks)."""

from __future__ import annotations

from datetime import datetime

from django.urls import reverse

from apps.core.links import public_base
from apps.predictions.models import Prediction
from apps.predictions.sse import stream_path


def timestamp(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


def prediction_json(prediction: Prediction, base: str | None = None) -> dict:
    """`base` is the scheme and host for the URLs (the request's); PUBLIC_URL otherwise.
    A training is the training object of /v1/trainings."""
    if prediction.is_training:
        return training_json(prediction, base)
    base = (base or public_base()).rstrip("/")
    urls = {
        "get": base + reverse("v1:prediction_get", args=[prediction.id]),
        "cancel": base + reverse("v1:prediction_cancel", args=[prediction.id]),
        "web": base + f"/p/{prediction.id}",
    }
    if prediction.version.is_streaming:
        urls["stream"] = base + stream_path(prediction.id)
    body = {
        "id": prediction.id,
        "model": prediction.model.full_name,
        "version": prediction.version.digest,
        "input": prediction.input,
        "output": prediction.output,
        "logs": prediction.logs,
        "error": prediction.error,
        "status": prediction.status,
        "source": prediction.source,
        "data_removed": prediction.data_removed,
        "created_at": timestamp(prediction.created_at),
        "started_at": timestamp(prediction.started_at),
        "completed_at": timestamp(prediction.completed_at),
        "urls": urls,
        "metrics": prediction.metrics or {},
        "webhook": prediction.webhook or None,
        "webhook_events_filter": prediction.webhook_events_filter or None,
    }
    # Optional timestamps and webhook fields are left out rather than null, as the published
    # contract types them as strings (and the clients treat them as optional).
    for key in ("started_at", "completed_at", "webhook", "webhook_events_filter"):
        if body[key] is None:
            del body[key]
    if prediction.deadline is not None:
        body["deadline"] = timestamp(prediction.deadline)
    if prediction.deployment:
        body["deployment"] = prediction.deployment
    return body


def training_json(training: Prediction, base: str | None = None) -> dict:
    """Replicate's training object: a prediction's fields, the destination, and on success
    `output = {"version": "owner/name:<id>", "weights": <url>}`."""
    base = (base or public_base()).rstrip("/")
    body = {
        "id": training.id,
        "model": training.model.full_name,
        "version": training.version.digest,
        "destination": training.destination.full_name if training.destination else None,
        "input": training.input,
        "output": training.output,
        "logs": training.logs,
        "error": training.error,
        "status": training.status,
        "source": training.source,
        "data_removed": training.data_removed,
        "created_at": timestamp(training.created_at),
        "started_at": timestamp(training.started_at),
        "completed_at": timestamp(training.completed_at),
        "urls": {
            "get": base + reverse("v1:training_get", args=[training.id]),
            "cancel": base + reverse("v1:training_cancel", args=[training.id]),
            "stream": base + stream_path(training.id),
            "web": base + f"/p/{training.id}",
        },
        "metrics": training.metrics or {},
        "webhook": training.webhook or None,
        "webhook_events_filter": training.webhook_events_filter or None,
    }
    for key in ("started_at", "completed_at", "webhook", "webhook_events_filter"):
        if body[key] is None:
            del body[key]
    return body
