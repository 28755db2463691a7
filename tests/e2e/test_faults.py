"""Faults a running platform must survive: a worker killed mid-prediction."""

from __future__ import annotations

import os
import signal
import time

import httpx

from apps.billing.models import UsageRecord
from apps.predictions.models import Prediction


def create(platform, person, version, **input):
    response = httpx.post(
        f"{platform.url}/v1/predictions",
        headers={"Authorization": f"Bearer {person.token}"},
        json={"version": version.digest, "input": input},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def wait_for(predicate, timeout: float, message: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (value := predicate()) is not None:
            return value
        time.sleep(0.2)
    raise AssertionError(message)


def test_a_worker_killed_mid_prediction_fails_it_and_a_fresh_worker_carries_on(
    platform, models, cast
):
    prediction_id = create(platform, cast.alice, models["hello"], text="doomed", sleep=60)
    prediction = wait_for(
        lambda: Prediction.objects.filter(pk=prediction_id, status="processing").first(),
        60,
        "the prediction never started",
    )
    worker_pid = int(prediction.worker_id.split(":")[1])
    os.kill(worker_pid, signal.SIGKILL)
    killed_at = time.monotonic()
    platform.start_worker("cpu")

    failed = wait_for(
        lambda: (
            Prediction.objects.filter(pk=prediction_id)
            .exclude(status__in=["starting", "processing"])
            .first()
        ),
        60,
        "the orphaned prediction was not ended within a minute",
    )
    assert time.monotonic() - killed_at < 60
    assert failed.status == "failed"
    assert "worker" in failed.error and "stopped unexpectedly" in failed.error
    # Its message was delivered again to the new worker, which could not claim it: one
    # record, free (the platform failed, not the model).
    record = wait_for(
        lambda: UsageRecord.objects.filter(kind="prediction", object_id=prediction_id).first(),
        10,
        "the failed prediction was not recorded",
    )
    assert record.amount == 0 and record.note == "its worker died"

    next_id = create(platform, cast.alice, models["hello"], text="survivor")
    done = wait_for(
        lambda: Prediction.objects.filter(pk=next_id, status="succeeded").first(),
        60,
        "the next prediction did not succeed:\n" + platform.logs(),
    )
    assert done.output == "hello survivor"
    record = wait_for(
        lambda: UsageRecord.objects.filter(kind="prediction", object_id=next_id).first(),
        10,
        "the next prediction was not recorded",
    )
    assert record.basis == "active" and record.amount == record.seconds * record.unit_price > 0
    assert UsageRecord.objects.filter(kind="prediction", object_id=prediction_id).count() == 1
