"""Worker liveness and housekeeping: heartbeats, cancel requests, and the sweeper.

Each worker process announces itself in Redis every few seconds and listens for cancel
requests. One worker at a time (a Redis lock) also sweeps: it re-enqueues predictions whose
queue message was lost, fails predictions whose worker died, aborts those whose Cancel-After
deadline passed before they started, and removes the data of API predictions after the
retention window. The database is the source of truth throughout.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import close_old_connections
from django.utils import timezone

from apps.core.redis import client

logger = logging.getLogger(__name__)

_WORKER_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
_started = False
_stop = threading.Event()


def worker_id() -> str:
    return _WORKER_ID


def _alive_key(worker: str) -> str:
    return f"selfrep:worker:{worker}"


def beat() -> None:
    client().set(_alive_key(_WORKER_ID), str(time.time()), ex=settings.WORKER_HEARTBEAT_SECONDS * 3)


def is_alive(worker: str) -> bool:
    return bool(worker) and bool(client().exists(_alive_key(worker)))


def presumed_dead(worker: str) -> bool:
    """True once the worker's heartbeat has been missing for a grace period (by default a
    whole heartbeat lifetime).

    A missing key alone does not prove a death: Redis may have restarted without persistence
    (or failed over) and lost every heartbeat, and a worker's next beat can be late while its
    connection retries. So the first sweep that misses a worker only starts counting.
    """
    if is_alive(worker):
        return False
    grace = getattr(settings, "WORKER_MISSING_GRACE", settings.WORKER_HEARTBEAT_SECONDS * 3)
    if grace <= 0:
        return True
    grace_ms = max(int(grace * 1000), 1)
    key = f"selfrep:worker-missing:{worker}"
    if client().set(key, "1", nx=True, px=grace_ms * 2):
        return False
    remaining = client().pttl(key)
    return remaining >= 0 and grace_ms * 2 - remaining >= grace_ms


def start() -> None:
    """Start this worker's heartbeat, cancel listener and sweeper threads (once)."""
    global _started
    if _started:
        return
    _started = True
    _stop.clear()
    beat()
    threading.Thread(target=_heartbeat_loop, name="heartbeat", daemon=True).start()
    threading.Thread(target=_cancel_listener, name="cancel-listener", daemon=True).start()


def stop() -> None:
    global _started
    _stop.set()
    _started = False
    client().delete(_alive_key(_WORKER_ID))


def _heartbeat_loop() -> None:
    last_sweep = 0.0
    while not _stop.wait(settings.WORKER_HEARTBEAT_SECONDS):
        try:
            beat()
            if time.monotonic() - last_sweep >= settings.WORKER_HEARTBEAT_SECONDS * 2:
                last_sweep = time.monotonic()
                if client().set(
                    "selfrep:sweep-lock",
                    _WORKER_ID,
                    nx=True,
                    ex=settings.WORKER_HEARTBEAT_SECONDS * 2,
                ):
                    sweep()
        except Exception:  # noqa: BLE001 (keep beating through Redis or database hiccups)
            logger.exception("heartbeat or sweep failed")
        finally:
            close_old_connections()


def _cancel_listener() -> None:
    from apps.predictions.runtime import get_pool
    from apps.predictions.services import CANCEL_CHANNEL

    while not _stop.is_set():
        try:
            pubsub = client().pubsub(ignore_subscribe_messages=True)
            pubsub.subscribe(CANCEL_CHANNEL)
            while not _stop.is_set():
                message = pubsub.get_message(timeout=1.0)
                if message and message.get("type") == "message":
                    prediction_id = message["data"].decode()
                    # The prediction may be between its claim and its start: try for a while.
                    for _ in range(20):
                        if get_pool().cancel(prediction_id):
                            break
                        time.sleep(0.1)
        except Exception:  # noqa: BLE001
            logger.exception("cancel listener failed; reconnecting")
            time.sleep(1)


def sweep() -> dict[str, int]:
    """One pass of the sweeper; returns how many predictions each rule touched."""
    from apps.files.services import file_purge_expired
    from apps.predictions.models import Prediction
    from apps.predictions.services import prediction_enqueue, prediction_finish

    now = timezone.now()
    counts = {"requeued": 0, "failed": 0, "aborted": 0, "purged": 0}
    active = [Prediction.Status.STARTING, Prediction.Status.PROCESSING]

    for prediction in Prediction.objects.filter(
        status=Prediction.Status.STARTING,
        claimed_at__isnull=True,
        deadline__isnull=False,
        deadline__lte=now,
    ).select_related("model"):
        if Prediction.objects.filter(pk=prediction.pk, claimed_at__isnull=True).update(
            claimed_at=now
        ):
            prediction_finish(prediction, status=Prediction.Status.ABORTED)
            counts["aborted"] += 1

    stale = now - timedelta(seconds=settings.SWEEP_STARTING_AFTER)
    for prediction in Prediction.objects.filter(
        status=Prediction.Status.STARTING, claimed_at__isnull=True, created_at__lte=stale
    ).select_related("model__default_hardware")[:500]:
        # At most once per window, so a long queue is not flooded with duplicates (a duplicate
        # message is harmless anyway: only one worker can claim the prediction).
        if client().set(
            f"selfrep:requeued:{prediction.pk}", "1", nx=True, ex=settings.SWEEP_STARTING_AFTER
        ):
            prediction_enqueue(prediction)
            counts["requeued"] += 1

    for prediction in Prediction.objects.filter(
        status__in=active, claimed_at__isnull=False
    ).exclude(worker_id=""):
        if presumed_dead(prediction.worker_id):
            prediction_finish(
                prediction,
                status=Prediction.Status.FAILED,
                error="The worker running this prediction stopped unexpectedly (it crashed, "
                "ran out of memory or was killed). Please run it again.",
            )
            counts["failed"] += 1

    counts["purged"] = purge_expired_data(now)
    counts["files_expired"] = file_purge_expired(now=now)
    return counts


def purge_expired_data(now=None) -> int:
    """API predictions lose their input, output, logs and files after the retention window;
    web predictions and examples are kept."""
    from apps.predictions.models import Prediction

    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.PREDICTION_DATA_RETENTION)
    purged = 0
    for prediction in Prediction.objects.filter(
        source=Prediction.Source.API,
        is_example=False,
        data_removed=False,
        completed_at__isnull=False,
        completed_at__lte=cutoff,
    ).only("pk")[:1000]:
        _delete_files(prediction.pk)
        purged += Prediction.objects.filter(pk=prediction.pk, data_removed=False).update(
            input={}, output=None, logs="", data_removed=True
        )
    return purged


def _delete_files(prediction_id: str) -> None:
    folder = f"predictions/{prediction_id}"
    try:
        _dirs, files = default_storage.listdir(folder)
    except (FileNotFoundError, NotImplementedError):
        return
    for name in files:
        default_storage.delete(f"{folder}/{name}")
