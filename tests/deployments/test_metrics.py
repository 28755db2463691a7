"""Per-minute metrics: what the predictions of a minute add up to, the instance-seconds the
autoscaler observed, and the 30 days they are kept."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.deployments import metrics, services
from apps.deployments.models import Instance, MinuteMetric
from tests.catalog.factories import add_prediction, add_version, make_model


@pytest.fixture
def deployment(cast):
    model = make_model(cast, owner=cast.acme.account, name="painter")
    version = add_version(model, digest="a" * 64)
    config = services.check_config(version, services.resolve_hardware("cpu"), 0, 2)
    return services.deployment_create(
        owner=cast.acme.account, name="web", model=model, config=config
    )


def test_percentile_is_nearest_rank():
    assert metrics.percentile([], 0.5) is None
    assert metrics.percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert metrics.percentile([float(i) for i in range(1, 101)], 0.95) == 95.0


def test_a_minute_of_predictions(deployment):
    minute = metrics.minute_of(timezone.now()) - timedelta(minutes=5)
    release = deployment.current_release

    def prediction(status, created_s, took_s):
        created = minute + timedelta(seconds=created_s)
        add_prediction(
            deployment.model,
            release.version,
            deployment.owner,
            status=status,
            deployment=deployment.full_name,
            created_at=created,
            completed_at=created + timedelta(seconds=took_s),
        )

    prediction("succeeded", 1, 2)
    prediction("succeeded", 5, 4)
    prediction("succeeded", 10, 10)
    prediction("failed", 20, 1)
    prediction("succeeded", 50, 30)  # arrives in this minute, completes in the next
    numbers = metrics.aggregate(deployment, minute)
    assert numbers == {
        "arrivals": 5,
        "completions": 3,
        "failures": 1,
        "latency_p50": 4.0,
        "latency_p95": 10.0,
    }
    assert metrics.aggregate(deployment, minute + timedelta(minutes=1))["completions"] == 1


def test_the_meter_writes_instance_seconds_by_state_and_purges_old_rows(deployment, settings):
    old = MinuteMetric.objects.create(
        deployment=deployment, minute=timezone.now() - timedelta(days=31)
    )
    kept = MinuteMetric.objects.create(
        deployment=deployment, minute=timezone.now() - timedelta(days=29)
    )
    instance = Instance(
        deployment=deployment,
        release=deployment.current_release,
        host="h",
        worker_id="w",
        state=Instance.State.BUSY,
    )
    meter = metrics.Meter()
    start = metrics.minute_of(timezone.now()) - timedelta(minutes=2)
    work = {deployment.full_name: {"waiting": 4}}
    meter.record([deployment], [instance], work, start)
    meter.last_tick -= 1.5  # 1.5 s later
    meter.record([deployment], [instance], {deployment.full_name: {"waiting": 1}}, start)
    meter.flush(start + timedelta(minutes=1))
    row = MinuteMetric.objects.get(deployment=deployment, minute=start)
    assert row.instance_seconds == {"busy": pytest.approx(1.5, abs=0.05)}
    assert row.instances == pytest.approx(1.5 / 60, abs=0.01)
    assert row.backlog == 4
    assert not MinuteMetric.objects.filter(pk=old.pk).exists()
    assert MinuteMetric.objects.filter(pk=kept.pk).exists()
