"""The ledger on real predictions: each rule on a run by a real model process, and exactly one
record per prediction however often it is finished, recorded or swept."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from textwrap import dedent

import pytest
from django.db import transaction
from django.utils import timezone

from apps.billing import rules
from apps.billing.models import Hardware, PriceUnit, UsageRecord
from apps.catalog.models import Model, Version
from apps.catalog.services import version_push
from apps.core.redis import client as redis_client
from apps.predictions import metering, sweeper
from apps.predictions.lifecycle import prediction_finish
from apps.predictions.models import Prediction
from apps.predictions.pool import get_pool, shutdown_pool
from apps.predictions.services import prediction_create
from apps.predictions.worker import prediction_run

pytestmark = pytest.mark.django_db(transaction=True)

PREDICTOR = """
import time
from cog import BasePredictor

class Predictor(BasePredictor):
    def setup(self):
        time.sleep(0.2)  # {tag}

    def predict(self, sleep: float = 0.05, fail: bool = False, items: int = 1) -> list[str]:
        end = time.monotonic() + sleep
        while time.monotonic() < end:  # in steps, so that Cog's cancel lands between them
            time.sleep(min(0.05, max(0.0, end - time.monotonic())))
        if fail:
            raise ValueError("asked to fail")
        return ["x"] * items
"""


@pytest.fixture(autouse=True, scope="module")
def _stop_model_processes():
    yield
    shutdown_pool()


def push(cast, tmp_path: Path, name: str, visibility: str) -> Version:
    directory = tmp_path / name
    directory.mkdir()
    (directory / "cog.yaml").write_text('predict: "predict.py:Predictor"\n')
    (directory / "predict.py").write_text(dedent(PREDICTOR.replace("{tag}", name)))
    model = Model.objects.create(owner=cast.alice.user.account, name=name, visibility=visibility)
    version, _ = version_push(model=model, source_dir=directory)
    return version


def run(version, *, deadline=None, deployment="", **input) -> Prediction:
    with transaction.atomic():
        prediction = prediction_create(
            version=version,
            owner=version.model.owner,
            input=input,
            deadline=deadline,
            deployment=deployment,
        )
    prediction_run(prediction.id)
    prediction.refresh_from_db()
    return prediction


def record_of(prediction: Prediction) -> UsageRecord:
    records = list(UsageRecord.objects.filter(kind="prediction", object_id=prediction.id))
    assert len(records) == 1, records
    return records[0]


CPU = Decimal("0.000100")


def test_a_public_model_bills_its_active_time_at_the_hardware_price(cast, tmp_path):
    version = push(cast, tmp_path, "meter-public", "public")
    prediction = run(version, sleep=0.3)
    assert prediction.status == "succeeded", prediction.error
    assert prediction.metrics.get("setup_time")  # it booted cold: setup is free here
    record = record_of(prediction)
    assert record.account == cast.alice.user.account
    assert record.basis == "active" and record.hardware == "cpu"
    assert record.seconds == rules.seconds_of(prediction.metrics["predict_time"])
    assert record.seconds >= Decimal("0.3")
    assert record.unit_price == CPU
    assert record.amount == record.seconds * CPU
    assert record.model == "alice/meter-public" and record.version == version.digest
    assert record.month == timezone.now().date().replace(day=1)

    failed = run(version, fail=True)
    assert failed.status == "failed"
    assert record_of(failed).amount == 0 and record_of(failed).basis == "free"


def test_a_private_model_bills_setup_and_active_time_failures_included(cast, tmp_path):
    version = push(cast, tmp_path, "meter-private", "private")
    prediction = run(version, sleep=0.1)
    assert prediction.status == "succeeded", prediction.error
    setup = rules.seconds_of(prediction.metrics["setup_time"])
    active = rules.seconds_of(prediction.metrics["predict_time"])
    record = record_of(prediction)
    assert record.basis == "online"
    assert record.seconds == setup + active and setup > 0
    assert record.amount == (setup + active) * CPU

    warm = run(version, sleep=0.1)
    assert "setup_time" not in warm.metrics  # no cold boot: active time only
    assert record_of(warm).seconds == rules.seconds_of(warm.metrics["predict_time"])

    failed = run(version, fail=True)
    assert failed.status == "failed"
    assert record_of(failed).amount == record_of(failed).seconds * CPU > 0


def test_a_canceled_run_bills_up_to_the_cancel(cast, tmp_path):
    version = push(cast, tmp_path, "meter-cancel", "public")
    run(version)  # boot it
    with transaction.atomic():
        prediction = prediction_create(
            version=version, owner=version.model.owner, input={"sleep": 30}
        )

    def cancel_once_processing():
        deadline = time.monotonic() + 30
        time.sleep(0.5)
        while time.monotonic() < deadline and not get_pool().cancel(prediction.id):
            time.sleep(0.05)  # not running in the model yet

    canceller = threading.Thread(target=cancel_once_processing)
    canceller.start()
    started = time.monotonic()
    prediction_run(prediction.id)
    canceller.join()
    prediction.refresh_from_db()
    assert prediction.status == "canceled"
    assert time.monotonic() - started < 20
    record = record_of(prediction)
    assert record.basis == "active"
    assert Decimal("0.4") <= record.seconds < Decimal("20")
    assert record.amount == record.seconds * CPU


def test_deadline_aborted_and_deployment_predictions_are_free(cast, tmp_path):
    version = push(cast, tmp_path, "meter-free", "private")
    aborted = run(version, deadline=timezone.now() - timedelta(seconds=1))
    assert aborted.status == "aborted"
    assert record_of(aborted).amount == 0 and "Cancel-After" in record_of(aborted).note

    deployed = run(version, deployment="alice/some-deployment")
    assert deployed.status == "succeeded", deployed.error
    record = record_of(deployed)
    assert record.amount == 0 and record.deployment == "alice/some-deployment"
    assert "instance time" in record.note


def test_unit_pricing_bills_the_outputs(cast, tmp_path):
    version = push(cast, tmp_path, "meter-units", "public")
    Model.objects.filter(pk=version.model_id).update(
        price_unit=PriceUnit.OUTPUT, unit_price=Decimal("0.0025")
    )
    version.model.refresh_from_db()
    prediction = run(version, items=4)
    record = record_of(prediction)
    assert record.basis == "units" and record.unit == "output"
    assert record.units == 4 and record.amount == Decimal("0.0100")


def test_each_prediction_is_recorded_once_however_it_is_finished(cast, tmp_path):
    version = push(cast, tmp_path, "meter-once", "public")
    prediction = run(version)
    first = record_of(prediction)
    # Recorded again, finished again, run again (a second delivery): still one record.
    assert metering.record(prediction) is None
    prediction_finish(prediction, status="succeeded")
    prediction_run(prediction.id)
    assert record_of(prediction).pk == first.pk

    # A finish cut short between saving the prediction and recording it: the sweeper
    # records it, once, with the same amount.
    UsageRecord.objects.filter(pk=first.pk).delete()
    redis_client().delete(sweeper.METER_MARK_KEY)  # where earlier passes got to
    later = timezone.now() + timedelta(seconds=sweeper.METER_GRACE + 1)
    assert sweeper.meter_missed(later) == 1
    assert sweeper.meter_missed(later) == 0
    # The next pass starts where this one ended, and still finds a record lost just now.
    UsageRecord.objects.filter(kind="prediction", object_id=prediction.id).delete()
    assert sweeper.meter_missed(later + timedelta(seconds=5)) == 1
    again = record_of(prediction)
    assert again.amount == first.amount and again.seconds == first.seconds


def test_a_price_change_applies_from_its_moment_on(cast, tmp_path):
    version = push(cast, tmp_path, "meter-price", "public")
    before = record_of(run(version))
    Hardware.objects.filter(sku="cpu").update(price_per_second=Decimal("0.000200"))
    after = record_of(run(version))
    before.refresh_from_db()
    assert before.unit_price == CPU and before.amount == before.seconds * CPU
    assert after.unit_price == Decimal("0.000200")
    assert after.amount == after.seconds * Decimal("0.000200")
