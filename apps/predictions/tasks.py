"""Actors: thin adapters that take an id and call the service."""

from __future__ import annotations

import os

import dramatiq
from django.conf import settings

from apps.predictions import webhooks  # noqa: F401 (its actors run on this worker too)
from apps.predictions.worker import prediction_run

# Dramatiq's default 10-minute limit would kill long predictions; ours is enforced by the
# runtime (cancel, then kill) and ends the prediction as failed with a clear error.
_LIMIT_MS = (settings.PREDICTION_TIME_LIMIT + settings.MODEL_SETUP_TIMEOUT + 900) * 1000


@dramatiq.actor(queue_name="cpu", max_retries=0, time_limit=_LIMIT_MS)
def run_prediction(prediction_id: str) -> None:
    prediction_run(prediction_id)


# One queue per hardware SKU: predictions are sent to their model's hardware queue, and a
# worker serves the queues declared here (or those named with `manage.py worker --queues`).
# A deployment's instance is a worker of that deployment's queue alone: `manage.py worker
# --queues deployment.owner.name` passes the queues it was asked for in SELFREP_WORKER_QUEUES.
_ASKED = [q for q in os.environ.get("SELFREP_WORKER_QUEUES", "").split(",") if q]
for _queue in [*settings.HARDWARE_QUEUES, *_ASKED]:
    dramatiq.get_broker().declare_queue(_queue)
