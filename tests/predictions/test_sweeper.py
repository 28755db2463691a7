"""The sweeper: nothing stays starting or processing forever, and API data expires."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from apps.catalog.models import Model, Version
from apps.core.redis import client as redis_client
from apps.predictions import events, heartbeat
from apps.predictions.models import Prediction


@pytest.fixture
def make(cast):
    model = Model.objects.create(owner=cast.alice.user.account, name="m")
    version = Version.objects.create(
        model=model,
        digest="f" * 64,
        openapi_schema={},
        cog_version="0.23.1",
        predictor_ref="predict.py:Predictor",
    )

    def make(**fields) -> Prediction:
        prediction = Prediction.objects.create(
            owner=model.owner, model=model, version=version, input={"a": 1}, **fields
        )
        redis_client().delete(f"selfrep:requeued:{prediction.pk}")
        return prediction

    return make


def ago(**kwargs):
    return timezone.now() - timedelta(**kwargs)


def test_a_prediction_whose_message_was_lost_is_queued_again_once_per_window(make):
    lost = make(created_at=ago(minutes=5))
    fresh = make()
    first = heartbeat.sweep()
    assert first["requeued"] == 1
    assert redis_client().exists(f"selfrep:requeued:{lost.pk}")
    assert not redis_client().exists(f"selfrep:requeued:{fresh.pk}")
    assert heartbeat.sweep()["requeued"] == 0


def test_a_prediction_whose_worker_died_is_failed_with_a_clear_error(make, settings):
    settings.WORKER_MISSING_GRACE = 0.3
    orphan = make(
        status="processing",
        claimed_at=ago(minutes=1),
        started_at=ago(minutes=1),
        worker_id="gone-host:123:dead",
    )
    heartbeat.beat()
    alive = make(
        status="processing",
        claimed_at=ago(minutes=1),
        started_at=ago(minutes=1),
        worker_id=heartbeat.worker_id(),
    )
    # A heartbeat missing once may be a Redis that restarted empty: not a death yet.
    assert heartbeat.sweep()["failed"] == 0
    orphan.refresh_from_db()
    assert orphan.status == "processing"
    time.sleep(0.35)
    counts = heartbeat.sweep()
    assert counts["failed"] == 1
    orphan.refresh_from_db()
    assert orphan.status == "failed"
    assert "stopped unexpectedly" in orphan.error
    assert orphan.completed_at is not None
    assert [kind for _id, kind, _data in events.read(orphan.pk)][-2:] == ["error", "done"]
    alive.refresh_from_db()
    assert alive.status == "processing"


def test_a_deadline_that_passes_before_the_start_aborts_the_prediction(make):
    late = make(deadline=ago(seconds=1))
    heartbeat.sweep()
    late.refresh_from_db()
    assert late.status == "aborted"
    assert late.completed_at is not None
    assert late.started_at is None


def test_api_predictions_lose_their_data_after_the_retention_window(make, settings):
    settings.PREDICTION_DATA_RETENTION = 3600
    old = make(status="succeeded", completed_at=ago(hours=2), output="x", logs="log")
    name = default_storage.save(f"predictions/{old.pk}/out.png", ContentFile(b"png"))
    recent = make(status="succeeded", completed_at=ago(minutes=5), output="y")
    web = make(status="succeeded", completed_at=ago(hours=2), output="z", source="web")
    example = make(status="succeeded", completed_at=ago(hours=2), output="e", is_example=True)
    assert heartbeat.sweep()["purged"] == 1
    old.refresh_from_db()
    assert (old.data_removed, old.input, old.output, old.logs) == (True, {}, None, "")
    assert not default_storage.exists(name)
    for kept in (recent, web, example):
        kept.refresh_from_db()
        assert not kept.data_removed and kept.output is not None
