"""Deployment instances in the billing ledger: all their online time (setting up, idle and
busy) at their hardware's price, recorded in stretches of BILLING_INSTANCE_INTERVAL seconds
while they run and up to their stop once they have stopped. Each stretch's key names the
instance and where the stretch starts, and the instance's `metered_until` moves in the same
transaction, so a stretch is recorded once whoever records it and however often."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q

from apps.billing import meter, rules
from apps.billing.models import UsageRecord
from apps.deployments.models import Instance


def unmetered(host: str):
    """This host's instances with online time not yet in the ledger."""
    return (
        Instance.objects.filter(host=host)
        .filter(
            Q(stopped_at__isnull=True)
            | Q(metered_until__isnull=True)
            | Q(metered_until__lt=F("stopped_at"))
        )
        .select_related("release__hardware", "release__version", "deployment__owner")
        .select_related("deployment__model__owner")
    )


def record_instance(instance: Instance, now: datetime, *, interval: float | None = None) -> int:
    """Record what is due of one instance's online time; how many stretches were recorded."""
    interval = settings.BILLING_INSTANCE_INTERVAL if interval is None else interval
    start = instance.metered_until or instance.started_at
    end = instance.stopped_at or now
    recorded = 0
    for piece_start, piece_end in meter.pieces_due(
        start, end, interval=interval, final=instance.stopped_at is not None
    ):
        release = instance.release
        hardware = release.hardware
        with transaction.atomic():
            usage = meter.record(
                key=f"instance:{instance.pk}:{piece_start.isoformat()}",
                account=instance.deployment.owner,
                kind=UsageRecord.Kind.INSTANCE,
                object_id=str(instance.pk),
                charge=rules.instance_charge(
                    (piece_end - piece_start).total_seconds(), hardware.price_per_second
                ),
                hardware=hardware.sku,
                started_at=piece_start,
                ended_at=piece_end,
                model=instance.deployment.model.full_name,
                version=release.version.digest,
                deployment=instance.deployment.full_name,
            )
            Instance.objects.filter(pk=instance.pk).update(metered_until=piece_end)
        instance.metered_until = piece_end
        recorded += usage is not None
    return recorded


def record_host(host: str, now: datetime) -> int:
    return sum(record_instance(instance, now) for instance in unmetered(host))
