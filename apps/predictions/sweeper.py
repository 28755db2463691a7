"""The sweeper: nothing stays starting or processing forever, and API data expires.

One worker at a time runs it (heartbeat.py, under a Redis lock). It aborts predictions whose
Cancel-After deadline passed before they started, re-enqueues those whose queue message was
lost, fails those whose worker died, and removes the data of API predictions (and expired
uploads) after the retention window. The database is the source of truth throughout.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone

from apps.billing import invoices
from apps.billing.models import UsageRecord
from apps.core.redis import client
from apps.files.services import file_purge_expired
from apps.predictions import metering
from apps.predictions.lifecycle import prediction_finish
from apps.predictions.models import WORKER_DIED, Prediction
from apps.predictions.services import prediction_enqueue
from apps.predictions.worker import alive_key

METER_CATCH_UP_DAYS = 2  # how far back finished predictions are checked for a record
METER_GRACE = 10  # seconds: a prediction finishing now is being recorded by its finish
METER_BATCH = 500
METER_MARK_KEY = "selfrep:meter-checked-until"


def is_alive(worker: str) -> bool:
    return bool(worker) and bool(client().exists(alive_key(worker)))


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


def sweep() -> dict[str, int]:
    """One pass of the sweeper; returns how many predictions (and files) each rule touched."""
    now = timezone.now()
    aborted = _abort_overdue(now)  # first: an overdue prediction is not worth requeueing
    counts = {"requeued": _requeue_lost(now), "failed": _fail_orphans(), "aborted": aborted}
    counts["metered"] = meter_missed(now)
    counts["invoiced"] = len(invoices.finalize_due(now))
    counts["purged"] = purge_expired_data(now)
    counts["files_expired"] = file_purge_expired(now=now)
    return counts


def _abort_overdue(now: datetime) -> int:
    """Predictions whose Cancel-After deadline passed before any worker took them."""
    aborted = 0
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
            aborted += 1
    return aborted


def _requeue_lost(now: datetime) -> int:
    """Predictions still waiting long after they were queued: their message may be lost."""
    requeued = 0
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
            requeued += 1
    return requeued


def _fail_orphans() -> int:
    """Predictions claimed by a worker that is presumed dead."""
    failed = 0
    for prediction in Prediction.objects.filter(
        status__in=[Prediction.Status.STARTING, Prediction.Status.PROCESSING],
        claimed_at__isnull=False,
    ).exclude(worker_id=""):
        if presumed_dead(prediction.worker_id):
            prediction_finish(prediction, status=Prediction.Status.FAILED, error=WORKER_DIED)
            failed += 1
    return failed


def meter_missed(now: datetime) -> int:
    """Finished predictions with no usage record (their finish was cut short between saving
    the prediction and recording it): record them now. Each pass looks at what finished
    since the last pass (a mark in Redis; at most the last METER_CATCH_UP_DAYS), so its work
    stays small however many predictions the table holds. The record's unique key makes this
    safe against a finish that is recording at the same moment."""
    floor = now - timedelta(days=METER_CATCH_UP_DAYS)
    mark = client().get(METER_MARK_KEY)
    since = floor
    if mark:
        with contextlib.suppress(ValueError):
            since = max(
                floor,
                datetime.fromisoformat(mark.decode() if isinstance(mark, bytes) else mark)
                - timedelta(seconds=METER_GRACE),
            )
    until = now - timedelta(seconds=METER_GRACE)
    recorded = UsageRecord.objects.filter(
        kind__in=[UsageRecord.Kind.PREDICTION, UsageRecord.Kind.TRAINING], ended_at__gte=since
    ).values("object_id")
    missed = list(
        Prediction.objects.filter(completed_at__gte=since, completed_at__lt=until)
        .exclude(pk__in=recorded)
        .select_related("owner", "model__owner", "model__default_hardware", "version")
        .order_by("completed_at")[:METER_BATCH]
    )
    made = sum(1 for prediction in missed if metering.record(prediction) is not None)
    # A full batch may leave more behind: the next pass goes on from the last one seen.
    reached = missed[-1].completed_at if len(missed) == METER_BATCH else until
    client().set(METER_MARK_KEY, reached.isoformat(), ex=METER_CATCH_UP_DAYS * 86400)
    return made


def purge_expired_data(now: datetime | None = None) -> int:
    """API predictions lose their input, output, logs and files after the retention window;
    web predictions and examples are kept."""
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
