"""The lifecycle of a prediction: create, run on a worker, cancel, finish."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import redis
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.utils import timezone

from apps.accounts.models import Account, User
from apps.catalog.models import Model, Version
from apps.core.db import release_connection
from apps.core.redis import client as redis_client
from apps.predictions import events, limits
from apps.predictions.models import Prediction
from apps.predictions.runtime import get_pool, public_base, version_spec
from apps.predictions.webhooks import prediction_webhook

SAVE_INTERVAL = 0.5  # seconds between database writes of a running prediction
SECRET_MASK = "**********"  # noqa: S105 (what is stored instead of a secret)
SECRET_TTL = 24 * 3600  # a queued prediction's secrets wait this long in Redis, at most
CANCEL_CHANNEL = "selfrep:cancel"
# How long a worker keeps trying to record a prediction's end through a database or Redis
# outage (a restart, a dropped connection) before it gives up on it.
OUTAGE_PATIENCE = 30.0
WAIT_CHECK = 1.0  # seconds: how often `Prefer: wait` looks at the database besides the log
# What a worker changes on a prediction: re-read only these, keeping the cached relations.
RUN_FIELDS = ["status", "output", "logs", "error", "metrics", "started_at", "completed_at"]

logger = logging.getLogger(__name__)


def secret_fields(version: Version) -> set[str]:
    properties = version.input_schema.get("properties") or {}
    return {name for name, prop in properties.items() if prop.get("x-cog-secret")}


def _secrets_key(prediction_id: str) -> str:
    return f"selfrep:secrets:{prediction_id}"


def _cancel_key(prediction_id: str) -> str:
    return f"selfrep:cancel:{prediction_id}"


def prediction_enqueue(prediction: Prediction) -> None:
    """Queue the prediction on its hardware's queue; the message carries only the id."""
    from apps.core.queue import broker
    from apps.predictions.tasks import run_prediction

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
        webhook=webhook,
        webhook_events_filter=webhook_events_filter or [],
        deadline=deadline,
        deployment=deployment,
    )
    if secrets:
        redis_client().set(_secrets_key(prediction.id), json.dumps(secrets), ex=SECRET_TTL)
    transaction.on_commit(lambda: prediction_enqueue(prediction))
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


def _db_write(write: Callable[[], Any], *, patience: float = 0.0) -> Any:
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


class _Progress:
    """Takes the runtime's events: appends them to the event log at once, saves them to the
    database at a bounded rate, and triggers webhooks.

    A database or Redis outage never breaks the run: what could not be written is written
    later, and the prediction's end is recorded in full by prediction_finish."""

    def __init__(self, prediction: Prediction, publish: _Publisher) -> None:
        self.prediction = prediction
        self.publish = publish
        self.log = events.Writer(prediction.id)
        self.logs = limits.LogTail()  # the most recent part: a model may print gigabytes
        self.outputs: list[Any] = []
        self.output_size = 2  # of the outputs' JSON list so far: `[]`, items, `, ` between
        self.overflow: int | None = None  # the size that went past MAX_OUTPUT_JSON_BYTES
        # The first save comes SAVE_INTERVAL after the start: a prediction over by then has its
        # output and logs written once, by prediction_finish.
        self.last_save = time.monotonic()
        self.lock = threading.Lock()
        self.dirty: set[str] = set()
        self.timer: threading.Timer | None = None
        self.finished = False

    def __call__(self, kind: str, payload: Any) -> None:
        with self.lock:
            prediction = self.prediction
            if kind == "start":  # setup is over: the model's predict() begins now
                prediction.started_at = timezone.now()
                prediction.status = Prediction.Status.PROCESSING
                try:
                    _db_write(
                        lambda: Prediction.objects.filter(pk=prediction.pk).update(
                            status=prediction.status,
                            started_at=prediction.started_at,
                            logs=self.logs.text(),
                        ),
                        patience=OUTAGE_PATIENCE,
                    )
                except DatabaseError:  # prediction_finish records started_at with the rest
                    logger.exception("could not record the start of %s", prediction.pk)
                self.log.append("status", prediction.status)
                prediction_webhook(prediction, "start")
                return
            if kind == "log":
                self.log.append("logs", self.logs.add(str(payload)))
            elif kind == "output":
                if not self._within_limit(payload):
                    return
                value = self.publish(get_pool().local_files(payload, []))
                self.outputs.append(value)
                self.log.append("output", value)
            else:
                return
            self.dirty.add("output" if kind == "output" else "logs")
            if time.monotonic() - self.last_save >= SAVE_INTERVAL:
                self._save()
            elif self.timer is None:
                # Save what came in since, once the interval is over, even if nothing follows.
                self.timer = threading.Timer(SAVE_INTERVAL, self.flush)
                self.timer.daemon = True
                self.timer.start()

    def _within_limit(self, item: Any) -> bool:
        """Count a streamed item against MAX_OUTPUT_JSON_BYTES. Past it the item and all
        that follow are dropped, and the model's prediction is canceled (_run fails it)."""
        if self.overflow is not None:
            return False
        limit = settings.MAX_OUTPUT_JSON_BYTES
        size = self.output_size + (2 if self.outputs else 0)
        size += limits.json_size(item, limit)
        if size <= limit:
            self.output_size = size
            return True
        self.overflow = size
        # Not on this thread: it reads the model's events, which the cancel may wait for.
        threading.Thread(target=get_pool().cancel, args=(self.prediction.id,), daemon=True).start()
        return False

    def _save(self) -> None:
        prediction = self.prediction
        self.last_save = time.monotonic()
        prediction.logs = self.logs.text()
        prediction.output = self.outputs or None
        try:
            _db_write(
                lambda: Prediction.objects.filter(pk=prediction.pk).update(
                    logs=prediction.logs, output=prediction.output
                ),
                patience=1.0,
            )
        except DatabaseError:  # the next save, or prediction_finish, writes it
            logger.warning("could not save the progress of %s", prediction.pk, exc_info=True)
            return
        for event in sorted(self.dirty):  # webhooks read the saved state
            prediction_webhook(prediction, event)
        self.dirty.clear()

    def flush(self) -> None:
        """Save what came in since the last save (run by the interval timer's thread)."""
        try:
            with self.lock:
                self.timer = None
                if self.dirty and not self.finished:
                    self._save()
        finally:
            connection.close()  # this timer thread's own connection

    def close(self) -> None:
        with self.lock:
            self.finished = True
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None


def _claim(prediction_id: str) -> Prediction | None:
    from apps.predictions.heartbeat import worker_id

    claimed = Prediction.objects.filter(
        pk=prediction_id, status=Prediction.Status.STARTING, claimed_at__isnull=True
    ).update(claimed_at=timezone.now(), worker_id=worker_id())
    if not claimed:
        return None  # already taken by a worker, finished, or gone
    return Prediction.objects.select_related("version__model", "model").get(pk=prediction_id)


def prediction_run(prediction_id: str) -> Prediction | None:
    """Run a queued prediction on this worker. Safe to call twice: a prediction that is no
    longer waiting is left alone."""
    prediction = _claim(prediction_id)
    if prediction is None:
        return None
    try:
        return _run(prediction)
    except Exception:
        # Claimed by a worker that lives on, nothing else would ever end it: end it here.
        logger.exception("prediction %s failed on the platform's side", prediction.pk)
        return prediction_finish(
            prediction,
            status=Prediction.Status.FAILED,
            error="The platform hit an internal error while running this prediction. "
            "Please run it again.",
        )


def _run(prediction: Prediction) -> Prediction:
    now = timezone.now()
    if prediction.deadline and now >= prediction.deadline:
        return prediction_finish(prediction, status=Prediction.Status.ABORTED)
    pipe = redis_client().pipeline(transaction=False)
    pipe.exists(_cancel_key(prediction.id))
    pipe.getdel(_secrets_key(prediction.id))
    canceled, secrets = pipe.execute()
    if canceled:
        return prediction_finish(prediction, status=Prediction.Status.CANCELED)

    inputs = dict(prediction.input)
    if secrets:
        inputs.update(json.loads(secrets))
    time_limit = settings.PREDICTION_TIME_LIMIT
    if prediction.deadline:
        time_limit = min(time_limit, max(1, (prediction.deadline - now).total_seconds()))

    publish = _Publisher(prediction)
    progress = _Progress(prediction, publish)
    pool = get_pool()
    outcome = pool.run(
        version_spec(prediction.version),
        prediction.id,
        inputs,
        on_event=progress,
        time_limit=time_limit,
    )
    progress.close()
    result = outcome.result
    status, error = result.status, result.error
    if progress.overflow is not None:  # past the limit: keep the items that came within it
        output = progress.outputs or None
        streamed = prediction.version.output_schema.get("x-cog-array-type") == "iterator"
        status = Prediction.Status.FAILED
        error = limits.output_too_large(progress.overflow, streamed=streamed)
    elif (size := limits.over_output_limit(result.output)) is not None:  # nothing is stored
        output = None
        status, error = Prediction.Status.FAILED, limits.output_too_large(size)
    else:
        output = publish(result.output)
    pool.files.discard_outputs(list(publish.urls) + outcome.files)

    if (
        prediction.deadline
        and timezone.now() >= prediction.deadline
        and status != "succeeded"
        and progress.overflow is None
    ):
        status, error = Prediction.Status.CANCELED, None  # Cancel-After reached while running
    metrics = {k: v for k, v in result.metrics.items() if k != "predict_time"}
    if outcome.setup is not None:
        metrics["setup_time"] = round(outcome.setup.seconds, 6)
    prediction = prediction_finish(
        prediction,
        status=status,
        output=output,
        error=error,
        logs=progress.logs.text() if progress.logs else limits.cap_logs(result.logs),
        metrics=metrics,
        log=progress.log,
    )
    _record_setup(prediction.version, outcome)
    return prediction


def _record_setup(version: Version, outcome) -> None:
    if outcome.setup_failed:
        Version.objects.filter(pk=version.pk).update(
            setup_status=Version.Setup.FAILED,
            setup_logs=limits.cap_logs(outcome.result.logs or outcome.result.error or ""),
        )
    elif outcome.setup is not None:
        Version.objects.filter(pk=version.pk).update(
            setup_status=Version.Setup.OK,
            setup_logs=limits.cap_logs(outcome.setup.logs),
            setup_seconds=outcome.setup.seconds,
        )


def prediction_finish(
    prediction: Prediction,
    *,
    status: str,
    output: Any = None,
    error: str | None = None,
    logs: str | None = None,
    metrics: dict | None = None,
    log: events.Writer | None = None,
) -> Prediction:
    """Record the terminal state once, close the event log, send the completed webhook.

    `log` is the event log the worker wrote while running the prediction, if any. Waits out
    a database or Redis outage of up to OUTAGE_PATIENCE seconds."""
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
    updated = _db_write(
        lambda: Prediction.objects.filter(
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
        ),
        patience=OUTAGE_PATIENCE,
    )
    if not updated:  # somebody else finished it first (a cancel, the sweeper)
        _db_write(prediction.refresh_from_db, patience=OUTAGE_PATIENCE)
        return prediction
    reason = {"canceled": "canceled", "aborted": "canceled", "failed": "error"}.get(status)
    failure = error if status == Prediction.Status.FAILED else None
    forget = (_secrets_key(prediction.id), _cancel_key(prediction.id))
    try:
        if log is not None:
            log.finish(status, reason, failure, forget=forget, patience=OUTAGE_PATIENCE)
        else:
            events.append(prediction.id, "status", status)
            events.finish(prediction.id, reason=reason, error=failure)
            redis_client().delete(*forget)
    except redis.RedisError:  # the database has it all; watchers fall back to it
        logger.exception("could not close the event log of %s", prediction.pk)
    # After `done`, which a `Prefer: wait` request is waiting for: the count is not in its reply.
    if ran and status != Prediction.Status.ABORTED:
        _db_write(
            lambda: Model.objects.filter(pk=prediction.model_id).update(
                run_count=F("run_count") + 1
            ),
            patience=OUTAGE_PATIENCE,
        )
    prediction_webhook(prediction, "completed")
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
    redis_client().set(_cancel_key(prediction.id), "1", ex=SECRET_TTL)
    redis_client().publish(CANCEL_CHANNEL, prediction.id)
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
