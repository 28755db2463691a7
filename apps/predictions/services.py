"""What pages and the API do with predictions: create, enqueue, cancel, wait.

The worker's side (claim, run, progress) is in worker.py; the end of a prediction, which
both sides reach, in lifecycle.py."""

from __future__ import annotations

import logging
import time
from datetime import datetime

import redis
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Account, User
from apps.catalog.models import Model, Version
from apps.core.db import release_connection
from apps.core.queue import broker, deployment_queue
from apps.predictions import events, metering
from apps.predictions.lifecycle import cancel_request, prediction_finish, secrets_keep
from apps.predictions.models import Prediction
from apps.predictions.tasks import run_prediction
from apps.runtime import schema

SECRET_MASK = "**********"  # noqa: S105 (what is stored instead of a secret)
WAIT_CHECK = 1.0  # seconds: how often `Prefer: wait` looks at the database besides the log
# What a worker changes on a prediction: re-read only these, keeping the cached relations.
RUN_FIELDS = ["status", "output", "logs", "error", "metrics", "started_at", "completed_at"]

logger = logging.getLogger(__name__)


def prediction_enqueue(prediction: Prediction) -> None:
    """Queue the prediction on its deployment's queue, or else its hardware's; the message
    carries only the id."""
    if prediction.deployment:
        queue = deployment_queue(prediction.deployment)
    else:
        queue = prediction.model.queue_name
    broker.enqueue(run_prediction.message(prediction.id).copy(queue_name=queue))


def prediction_create(
    *,
    version: Version,
    owner: Account,
    input: dict,
    created_by: User | None = None,
    source: str = Prediction.Source.API,
    is_example: bool = False,
    webhook: str = "",
    webhook_events_filter: list[str] | None = None,
    deadline: datetime | None = None,
    deployment: str = "",
    kind: str = Prediction.Kind.PREDICTION,
    destination: Model | None = None,
) -> Prediction:
    """Admit and save a prediction (or a training, into `destination`), queued when the
    surrounding transaction commits. Past the owner's spend limit, raises
    billing.limits.SpendLimitReached (a 402) and saves nothing."""
    with transaction.atomic():
        if not is_example:  # the operator's seeded examples are not anyone's spending
            metering.admit(owner, version.model, deployment=bool(deployment))
        return _save(
            version=version,
            owner=owner,
            input=input,
            created_by=created_by,
            source=source,
            is_example=is_example,
            webhook=webhook,
            webhook_events_filter=webhook_events_filter,
            deadline=deadline,
            deployment=deployment,
            kind=kind,
            destination=destination,
        )


def _save(*, version: Version, owner: Account, input: dict, **fields) -> Prediction:
    # Secret inputs never reach the database: the worker gets them through Redis, once.
    training = fields.get("kind") == Prediction.Kind.TRAINING
    names = schema.secret_names(version.training_schema) if training else version.secret_inputs
    secrets = {k: v for k, v in input.items() if k in names and v is not None}
    stored = {k: (SECRET_MASK if k in secrets else v) for k, v in input.items()}
    fields["webhook_events_filter"] = fields["webhook_events_filter"] or []
    prediction = Prediction.objects.create(
        owner=owner, model=version.model, version=version, input=stored, **fields
    )
    if secrets:
        secrets_keep(prediction.id, secrets)
    transaction.on_commit(lambda: prediction_enqueue(prediction))
    return prediction


def prediction_cancel(prediction: Prediction) -> Prediction:
    """Cancel: at once if no worker has it yet, otherwise by asking the worker running it."""
    if prediction.is_terminal:
        return prediction
    waiting = Prediction.objects.filter(
        pk=prediction.pk, status=Prediction.Status.STARTING, claimed_at__isnull=True
    ).update(claimed_at=timezone.now())
    if waiting:
        prediction.refresh_from_db()
        return prediction_finish(prediction, status=Prediction.Status.CANCELED)
    cancel_request(prediction.id)
    return prediction


def prediction_wait(prediction: Prediction, seconds: float) -> Prediction:
    """Block until the prediction finishes or `seconds` pass (for `Prefer: wait`).

    Follows the event log and reads the database once, after `done`. The database is also
    read every WAIT_CHECK seconds without `done`, in case the end of the log was lost."""
    deadline = time.monotonic() + seconds
    after = "0-0"
    while (remaining := deadline - time.monotonic()) > 0:
        release_connection()  # nothing to read from the database while the log is followed
        block = min(remaining, WAIT_CHECK)
        try:
            batch = events.read(
                prediction.id, after, block_ms=max(1, int(block * 1000)), notices=False
            )
        except redis.RedisError:
            logger.warning("cannot follow the event log of %s", prediction.pk, exc_info=True)
            time.sleep(min(block, 0.1))
            batch = []
        if any(kind == "done" for _id, kind, _data in batch):
            break
        if batch:
            after = batch[-1][0]
            continue
        prediction.refresh_from_db(fields=RUN_FIELDS)
        if prediction.is_terminal:
            return prediction
    prediction.refresh_from_db(fields=RUN_FIELDS)
    return prediction
