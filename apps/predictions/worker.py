"""The worker's side of a prediction: claim it, run it in the model pool, save its progress
as it comes, store its output files, and finish it."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import DatabaseError, connection
from django.utils import timezone

from apps.catalog.models import Version
from apps.core.links import stored_file_url
from apps.core.redis import client
from apps.predictions import events, limits, training_end
from apps.predictions.lifecycle import (
    OUTAGE_PATIENCE,
    db_write,
    prediction_finish,
    secrets_take,
)
from apps.predictions.models import Prediction
from apps.predictions.pool import get_pool, training_spec, version_spec
from apps.predictions.webhooks import prediction_webhook

SAVE_INTERVAL = 0.5  # seconds between database writes of a running prediction

logger = logging.getLogger(__name__)

# A deployment's instance is given its id by the supervisor that started it.
_WORKER_ID = (
    os.environ.get("SELFREP_WORKER_ID")
    or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
)


def worker_id() -> str:
    """This worker process's id: on the predictions it claims, and in its heartbeat."""
    return _WORKER_ID


def alive_key(worker: str) -> str:
    """The Redis key of a worker's heartbeat (heartbeat.py writes it, the sweeper reads it)."""
    return f"selfrep:worker:{worker}"


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
                self.urls[value] = stored_file_url(name)
            return self.urls[value]
        if isinstance(value, list):
            return [self(v) for v in value]
        if isinstance(value, dict):
            return {k: self(v) for k, v in value.items()}
        return value


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
            if kind == "start":  # setup is over: the model's predict() begins now
                self._start()
                return
            if kind == "log":
                self.log.append("logs", self.logs.add(str(payload)))
            elif kind == "output":
                if self.prediction.is_training:  # its output is made at the end (trainings.py)
                    return
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

    def _start(self) -> None:
        prediction = self.prediction
        prediction.started_at = timezone.now()
        prediction.status = Prediction.Status.PROCESSING
        try:
            db_write(
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
        threading.Thread(target=_cancel, args=(self.prediction.id,), daemon=True).start()
        return False

    def _save(self) -> None:
        prediction = self.prediction
        self.last_save = time.monotonic()
        prediction.logs = self.logs.text()
        prediction.output = self.outputs or None
        try:
            db_write(
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


def _cancel(prediction_id: str, attempts: int = 20, pause: float = 0.25) -> None:
    """Cancel the model's run of a prediction this worker is running. Cog may not take it at
    once (a request that timed out on a loaded machine): try again for a few seconds, as long
    as the run goes on."""
    pool = get_pool()
    for _ in range(attempts):
        if pool.cancel(prediction_id) or prediction_id not in pool.running:
            return
        time.sleep(pause)
    logger.warning("could not cancel the model's run of %s", prediction_id)


def _claim(prediction_id: str) -> Prediction | None:
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
    canceled, secrets = secrets_take(prediction.id)
    if canceled:
        return prediction_finish(prediction, status=Prediction.Status.CANCELED)

    inputs = dict(prediction.input)
    if secrets:
        inputs.update(secrets)
    time_limit = settings.PREDICTION_TIME_LIMIT
    if prediction.deadline:
        time_limit = min(time_limit, max(1, (prediction.deadline - now).total_seconds()))

    publish = _Publisher(prediction)
    progress = _Progress(prediction, publish)
    pool = get_pool()
    training = prediction.is_training
    outcome = pool.run(
        training_spec(prediction.version) if training else version_spec(prediction.version),
        prediction.id,
        inputs,
        on_event=progress,
        time_limit=time_limit,
    )
    progress.close()
    result = outcome.result
    status, error = result.status, result.error
    make_output = None
    if training:  # its output is the version it makes (or nothing)
        conclusion = training_end.conclude(prediction, status, result.output, error)
        status, error, make_output = conclusion.status, conclusion.error, conclusion.make_output
        output = None
    elif progress.overflow is not None:  # past the limit: keep the items that came within it
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
        make_output=make_output,
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


def setting_up_key(worker: str) -> str:
    """Set while a worker boots a model before any prediction asked (a warm instance)."""
    return f"selfrep:worker:{worker}:setting-up"


def preload(version_pk: int) -> None:
    """Boot a version's model process in this worker's pool ahead of its predictions; what
    setup() prints goes to the worker's log. Failures are logged: the first prediction then
    boots it again and reports the failure on the prediction."""
    key = setting_up_key(worker_id())
    try:
        version = Version.objects.get(pk=version_pk)
        client().set(key, "1", ex=settings.MODEL_SETUP_TIMEOUT + 60)
        setup = get_pool().preload(
            version_spec(version), on_event=lambda kind, data: logger.info("%s", str(data).rstrip())
        )
        logger.info("model of version %s is warm (%s)", version.digest[:12], setup)
    except Exception:
        logger.exception("could not boot version %s ahead of its predictions", version_pk)
    finally:
        try:
            client().delete(key)
        except Exception:
            logger.warning("could not clear %s", key, exc_info=True)
    # The model process is told to die with the thread that started it (PR_SET_PDEATHSIG
    # follows the thread, not the process): this one stays until the worker ends.
    threading.Event().wait()
