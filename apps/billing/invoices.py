"""Invoices: one per account per month, its lines the month's ledger records summed by model
or deployment and hardware. A draft (the current month, on demand) is rebuilt each time; a
final one (made once its month is over) never changes, and a record arriving for a month
already invoiced goes into the next open month (meter.record)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import IntegrityError, transaction
from django.db.models import Count, Sum
from django.utils import timezone

from apps.accounts.models import Account
from apps.billing.limits import next_month
from apps.billing.models import CENT, Invoice, InvoiceLine, PriceUnit, UsageRecord, month_of

FINALIZE_AFTER = timedelta(hours=6)  # into the new month, for the last records to arrive
UNIT_NAMES = {PriceUnit.OUTPUT: "outputs", PriceUnit.KILO_TOKENS: "thousand tokens"}


def number_for(account: Account, month: date) -> str:
    return f"INV-{month:%Y%m}-{account.pk:06d}"


def _describe(kind: str, model: str, deployment: str, hardware: str, unit: str) -> str:
    if kind == UsageRecord.Kind.INSTANCE:
        return f"Deployment {deployment}: instances online on {hardware}"
    if unit:
        return f"{model}: {UNIT_NAMES.get(unit, unit)}"
    if kind == UsageRecord.Kind.TRAINING:
        return f"Trainings of {model} on {hardware}"
    return f"Predictions of {model} on {hardware}"


def build(account: Account, month: date, *, final: bool = False) -> Invoice:
    """The account's invoice for `month`, (re)built from the ledger unless it is final."""
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().filter(account=account, month=month).first()
        if invoice is not None and invoice.is_final:
            return invoice
        if invoice is None:
            try:
                with transaction.atomic():
                    invoice = Invoice.objects.create(
                        account=account, month=month, number=number_for(account, month)
                    )
            except IntegrityError:  # made by a concurrent build
                invoice = Invoice.objects.select_for_update().get(account=account, month=month)
                if invoice.is_final:
                    return invoice
        invoice.lines.all().delete()
        groups = (
            UsageRecord.objects.filter(account=account, month=month)
            .values("kind", "model", "deployment", "hardware", "unit")
            .annotate(
                n=Count("pk"), seconds=Sum("seconds"), units=Sum("units"), exact=Sum("amount")
            )
            .order_by("kind", "deployment", "model", "hardware", "unit")
        )
        lines, total, records = [], Decimal(0), 0
        for position, group in enumerate(groups, start=1):
            records += group["n"]
            if not group["exact"]:
                continue  # free runs only (failed public runs, deployment predictions)
            amount = group["exact"].quantize(CENT, rounding=ROUND_HALF_UP)
            unit = group["unit"]
            lines.append(
                InvoiceLine(
                    invoice=invoice,
                    position=position,
                    description=_describe(
                        group["kind"], group["model"], group["deployment"], group["hardware"], unit
                    ),
                    model=group["model"],
                    deployment=group["deployment"],
                    hardware=group["hardware"],
                    quantity=group["units"] if unit else group["seconds"],
                    unit=UNIT_NAMES.get(unit, unit) if unit else "seconds",
                    records=group["n"],
                    exact_amount=group["exact"],
                    amount=amount,
                )
            )
            total += amount
        InvoiceLine.objects.bulk_create(lines)
        invoice.total = total
        invoice.records = records
        invoice.created_at = timezone.now()
        if final:
            invoice.status = Invoice.Status.FINAL
            invoice.finalized_at = timezone.now()
        invoice.save()
    return invoice


def finalize_due(now: datetime | None = None) -> list[Invoice]:
    """Final invoices for the month before, for every account with records in it, once the
    new month is FINALIZE_AFTER old. Safe to call often (the sweeper does)."""
    now = now or timezone.now()
    current = month_of(now)
    began = datetime(current.year, current.month, 1, tzinfo=UTC)
    if now - began < FINALIZE_AFTER:
        return []
    previous = month_of(began - timedelta(days=1))
    done = Invoice.objects.filter(month=previous, status=Invoice.Status.FINAL).values("account")
    due = (
        UsageRecord.objects.filter(month=previous)
        .exclude(account__in=done)
        .values_list("account", flat=True)
        .distinct()
    )
    return [build(account, previous, final=True) for account in Account.objects.filter(pk__in=due)]


def open_month(account: Account, month: date) -> date:
    """`month`, or the first month after it with no final invoice for the account."""
    finals = set(
        Invoice.objects.filter(
            account=account, status=Invoice.Status.FINAL, month__gte=month
        ).values_list("month", flat=True)
    )
    while month in finals:
        month = next_month(month)
    return month
