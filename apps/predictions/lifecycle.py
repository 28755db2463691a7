"""The end of a prediction, and what both sides share about it: finishing it once, the
database-write retry, and the Redis keys of its secrets and of a cancel request."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import redis
from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.utils import timezone

from apps.catalog.models import Model
from apps.core.redis import client as redis_client
from apps.predictions import events, metering
from apps.predictions.models import Prediction
from apps.predictions.webhooks import prediction_webhook

SECRET_TTL = 24 * 3600  # a queued prediction's secrets wait this long in Redis, at most
CANCEL_CHANNEL = "selfrep:cancel"
# How long a worker keeps trying to record a prediction's end through a database or Redis
# outage (a restart, a dropped connection) before it gives up on it.
OUTAGE_PATIENCE = 30.0

logger = logging.getLogger(__name__)


def _secrets_key(prediction_id: str) -> str:
    return f"selfrep:secrets:{prediction_id}"


def _cancel_key(prediction_id: str) -> str:
    return f"selfrep:cancel:{prediction_id}"


def secrets_keep(prediction_id: str, secrets: dict) -> None:
    """Hold a queued prediction's secret inputs for its worker (they never reach the database)."""
    redis_client().set(_secrets_key(prediction_id), json.dumps(secrets), ex=SECRET_TTL)


def secrets_take(prediction_id: str) -> tuple[bool, dict | None]:
    """For the worker about to run it, in one round trip: whether the prediction was asked to
    cancel, and its secret inputs (taken: a second delivery gets none)."""
    pipe = redis_client().pipeline(transaction=False)
    pipe.exists(_cancel_key(prediction_id))
    pipe.getdel(_secrets_key(prediction_id))
    canceled, secrets = pipe.execute()
    return bool(canceled), json.loads(secrets) if secrets else None


def cancel_request(prediction_id: str) -> None:
    """Ask the worker running the prediction to cancel it (heartbeat's listener hears it; the
    key stops a worker that has claimed it but not started yet)."""
    redis_client().set(_cancel_key(prediction_id), "1", ex=SECRET_TTL)
    redis_client().publish(CANCEL_CHANNEL, prediction_id)


def db_write(write: Callable[[], Any], *, patience: float = 0.0) -> Any:
    """Run a database write of a running prediction; when the connection was dropped or the
    database is unavailable, reconnect and try again until `patience` seconds have passed."""
    deadline = time.monotonic() + patience
    while True:
        try:
            return write()
        except DatabaseError:
            if connection.in_atomic_block or time.monotonic() >= deadline:
                raise
            logger.warning("database write failed; reconnecting", exc_info=True)
            connection.close()  # the next query opens a fresh connection
            time.sleep(0.5)


def prediction_finish(
    prediction: Prediction,
    *,
    status: str,
    output: Any = None,
    error: str | None = None,
    logs: str | None = None,
    metrics: dict | None = None,
    log: events.Writer | None = None,
    make_output: Callable[[], Any] | None = None,
) -> Prediction:
    """Record the terminal state once, close the event log, send the completed webhook.

    `make_output`, if given, runs in the transaction that records the end and returns the
    output: what a succeeded training makes (its new version) exists only if its success is
    recorded, and is rolled back if somebody else ended it first.

    `log` is the event log the worker wrote while running the prediction, if any; the worker
    waits out a Redis outage of up to OUTAGE_PATIENCE seconds to close it (a cancel from a
    web request does not keep its client waiting). Everyone waits out a database outage of
    up to OUTAGE_PATIENCE seconds."""
    now = timezone.now()
    prediction.status = status
    prediction.output = output if output is not None else prediction.output
    prediction.error = error
    if logs is not None:
        prediction.logs = logs
    prediction.completed_at = now
    ran = prediction.started_at is not None
    metrics = dict(metrics or {})
    if ran:
        metrics["predict_time"] = round((now - prediction.started_at).total_seconds(), 6)
    metrics["total_time"] = round((now - prediction.created_at).total_seconds(), 6)
    prediction.metrics = metrics

    def record_end() -> int:
        with transaction.atomic():
            if make_output is not None:
                prediction.output = make_output()
            updated = Prediction.objects.filter(
                pk=prediction.pk,
                status__in=[Prediction.Status.STARTING, Prediction.Status.PROCESSING],
            ).update(
                status=status,
                output=prediction.output,
                error=error,
                logs=prediction.logs,
                started_at=prediction.started_at,
                completed_at=now,
                metrics=metrics,
                trained_version=prediction.trained_version,
            )
            if not updated:
                transaction.set_rollback(True)
            return updated

    updated = db_write(record_end, patience=OUTAGE_PATIENCE)
    if not updated:  # somebody else finished it first (a cancel, the sweeper)
        db_write(prediction.refresh_from_db, patience=OUTAGE_PATIENCE)
        return prediction
    # In the ledger before `done`: a client that saw it finish finds its usage recorded.
    try:
        metering.record(prediction)
    except DatabaseError:  # the sweeper records what is missing (sweeper.meter_missed)
        logger.exception("could not record the usage of %s", prediction.pk)
    reason = prediction.done_reason
    failure = error if status == Prediction.Status.FAILED else None
    try:
        (log or events.Writer(prediction.id)).finish(
            status,
            reason,
            failure,
            forget=(_secrets_key(prediction.id), _cancel_key(prediction.id)),
            patience=OUTAGE_PATIENCE if log is not None else 0.0,
        )
    except redis.RedisError:  # the database has it all; watchers fall back to it
        logger.exception("could not close the event log of %s", prediction.pk)
    # After `done`, which a `Prefer: wait` request is waiting for: the count is not in its reply.
    if ran and status != Prediction.Status.ABORTED:
        db_write(
            lambda: Model.objects.filter(pk=prediction.model_id).update(
                run_count=F("run_count") + 1
            ),
            patience=OUTAGE_PATIENCE,
        )
    prediction_webhook(prediction, "completed")
    return prediction
