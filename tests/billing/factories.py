"""Usage records for the tests of pages, limits and invoices, written through the meter."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from apps.billing import meter
from apps.billing.models import UsageRecord
from apps.billing.rules import Charge

_serial = itertools.count(1)


def spend(
    account,
    amount: str | Decimal,
    *,
    model: str = "alice/painter",
    hardware: str = "cpu",
    deployment: str = "",
    when: datetime | None = None,
    seconds: str = "10",
    kind: str = UsageRecord.Kind.PREDICTION,
) -> UsageRecord:
    """A record of `amount` dollars ending at `when` (now by default)."""
    when = when or timezone.now()
    n = next(_serial)
    charge = Charge(
        UsageRecord.Basis.ACTIVE,
        Decimal(seconds),
        "",
        Decimal(seconds),
        Decimal(amount) / Decimal(seconds),
        Decimal(amount),
    )
    usage = meter.record(
        key=f"test:{n}",
        account=account,
        kind=kind,
        object_id=f"test-{n}",
        charge=charge,
        hardware=hardware,
        started_at=when - timedelta(seconds=float(seconds)),
        ended_at=when,
        model=model,
        deployment=deployment,
    )
    assert usage is not None
    return usage
