"""Writing the ledger: one record per billable thing, exactly once.

The record's `key` is unique in the database (`prediction:<id>`, `training:<id>`,
`instance:<id>:<start>`), so whoever records a thing a second time (a message delivered
twice, a prediction re-run after its worker was killed, the sweeper catching up on a finish
whose record was lost) finds it there and changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, transaction

from apps.accounts.models import Account
from apps.billing import invoices
from apps.billing.limits import check_alerts, next_month
from apps.billing.models import UsageRecord, month_of
from apps.billing.rules import Charge


def record(
    *,
    key: str,
    account: Account,
    kind: str,
    object_id: str,
    charge: Charge,
    hardware: str,
    started_at: datetime,
    ended_at: datetime,
    model: str = "",
    version: str = "",
    deployment: str = "",
    alerts: bool = True,
) -> UsageRecord | None:
    """The new record, or None when `key` was recorded before (the insert meets the unique
    key: no read first, as a second recording is rare)."""
    # A month already invoiced for good is closed: a late record goes into the next one.
    # A stretch ending at midnight on the 1st belongs to the month it ran in.
    last_moment = max(started_at, ended_at - timedelta(microseconds=1))
    month = invoices.open_month(account, month_of(last_moment))
    try:
        with transaction.atomic():
            usage = UsageRecord.objects.create(
                key=key,
                account=account,
                kind=kind,
                object_id=object_id,
                model=model,
                version=version,
                deployment=deployment,
                hardware=hardware,
                basis=charge.basis,
                note=charge.note[:200],
                started_at=started_at,
                ended_at=ended_at,
                month=month,
                seconds=charge.seconds,
                unit=charge.unit,
                units=charge.units,
                unit_price=charge.unit_price,
                amount=charge.amount,
            )
    except IntegrityError:
        return None
    if alerts and usage.amount:
        check_alerts(account, month)
    return usage


def month_pieces(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """[start, end) cut at UTC month boundaries, so each piece belongs to one month."""
    pieces = []
    while start < end:
        boundary = next_month(month_of(start))
        cut = datetime(boundary.year, boundary.month, 1, tzinfo=UTC)
        piece_end = min(end, cut)
        pieces.append((start, piece_end))
        start = piece_end
    return pieces


def pieces_due(
    metered_until: datetime, end: datetime, *, interval: float, final: bool
) -> list[tuple[datetime, datetime]]:
    """The stretches of an instance's online time to record now: everything up to `end`
    once it has stopped (`final`), otherwise only when `interval` seconds have gathered."""
    if end <= metered_until:
        return []
    if not final and end - metered_until < timedelta(seconds=interval):
        return []
    return month_pieces(metered_until, end)
