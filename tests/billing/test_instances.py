"""Deployment instances in the ledger: all their online time, in stretches while they run and
up to their stop, each stretch once, cut at month boundaries; no instance starts past the
owner's spend limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.billing.models import BillingProfile, UsageRecord
from apps.core.queue import broker
from apps.deployments import metering, services
from apps.deployments.models import Instance
from apps.deployments.supervisor import Supervisor
from tests.billing.factories import spend
from tests.catalog.factories import add_prediction, add_version, make_model

CPU = Decimal("0.000100")


@pytest.fixture
def deployment(cast):
    model = make_model(cast, owner=cast.acme.account, name="painter")
    version = add_version(model, digest="a" * 64)
    config = services.check_config(version, services.resolve_hardware("cpu"), 0, 2)
    deployment = services.deployment_create(
        owner=cast.acme.account, name="web", model=model, config=config
    )
    yield deployment
    broker.flush(deployment.queue_name)


def instance(deployment, started_at, **fields) -> Instance:
    return Instance.objects.create(
        deployment=deployment,
        release=deployment.current_release,
        host="this-host",
        worker_id=f"w-{started_at.timestamp()}",
        started_at=started_at,
        **({"state": Instance.State.IDLE} | fields),
    )


def records(item: Instance):
    return UsageRecord.objects.filter(kind="instance", object_id=str(item.pk)).order_by(
        "started_at"
    )


def test_online_time_is_recorded_in_stretches_then_up_to_the_stop(deployment, settings):
    settings.BILLING_INSTANCE_INTERVAL = 300
    now = timezone.now()
    item = instance(deployment, now - timedelta(minutes=10))
    assert metering.record_host("this-host", now) == 1
    assert metering.record_host("this-host", now + timedelta(seconds=30)) == 0  # not due yet
    first = records(item).get()
    assert first.seconds == Decimal("600.000") and first.amount == Decimal("600") * CPU
    assert first.basis == "online" and first.deployment == "acme/web"
    assert first.account == deployment.owner and first.hardware == "cpu"

    stopped = now + timedelta(seconds=42.5)
    Instance.objects.filter(pk=item.pk).update(state=Instance.State.STOPPED, stopped_at=stopped)
    assert metering.record_host("this-host", now + timedelta(minutes=30)) == 1
    assert metering.record_host("this-host", now + timedelta(minutes=60)) == 0  # all recorded
    assert [r.seconds for r in records(item)] == [Decimal("600.000"), Decimal("42.500")]
    item.refresh_from_db()
    assert item.metered_until == stopped
    assert sum(r.seconds for r in records(item)) == Decimal(str(item.online_seconds))


def test_a_stretch_is_recorded_once_whoever_records_it(deployment):
    now = timezone.now()
    item = instance(
        deployment, now - timedelta(minutes=7), state=Instance.State.STOPPED, stopped_at=now
    )
    assert metering.record_host("this-host", now) == 1
    # A second supervisor with a stale view (metered_until unknown) records nothing new.
    stale = Instance.objects.get(pk=item.pk)
    stale.metered_until = None
    assert metering.record_instance(stale, now) == 0
    assert records(item).count() == 1


def test_a_stretch_across_the_month_end_goes_into_both_months(deployment):
    start = datetime(2026, 11, 30, 23, 58, tzinfo=UTC)
    end = datetime(2026, 12, 1, 0, 3, tzinfo=UTC)
    item = instance(deployment, start, state=Instance.State.STOPPED, stopped_at=end)
    metering.record_instance(item, end)
    got = [(r.month.month, r.seconds) for r in records(item)]
    assert got == [(11, Decimal("120.000")), (12, Decimal("180.000"))]


@pytest.mark.django_db(transaction=True)
def test_no_instance_starts_past_the_spend_limit(deployment, settings, tmp_path):
    settings.INSTANCE_HOST = "this-host"
    add_prediction(
        deployment.model,
        deployment.current_release.version,
        deployment.owner,
        status="starting",
        deployment=deployment.full_name,
    )
    BillingProfile.objects.create(account=deployment.owner, spend_limit=Decimal("1"))
    spend(deployment.owner, "1.01", model="acme/painter", deployment="acme/web")
    supervisor = Supervisor(log_dir=tmp_path)
    try:
        supervisor.tick()
        assert not Instance.objects.filter(deployment=deployment).exists()
        deployment.refresh_from_db()
        assert deployment.scaling_note.startswith("not starting instances: acme has reached")
    finally:
        supervisor.shutdown()


def test_the_deployment_page_shows_what_it_cost_this_month_to_owners_only(
    client_for, cast, deployment
):
    spend(cast.acme.account, "0.25", model="acme/painter", deployment="acme/web", kind="instance")
    owner = client_for(cast.alice).get("/deployments/acme/web").content.decode()
    assert "This month" in owner and "$0.25" in owner
    member = client_for(cast.bob).get("/deployments/acme/web").content.decode()
    assert "This month" not in member
