"""Hardware and its prices; the usage ledger, spend limits, alerts and invoices
(docs/billing.md)."""

from __future__ import annotations

from datetime import UTC, date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from apps.accounts.models import Account

CENT = Decimal("0.01")


def positive_price(value: Decimal) -> None:
    if value is None or value <= 0:
        raise ValidationError("A price must be more than zero.")


class Hardware(models.Model):
    """A hardware SKU: what a model runs on, its queue, and its price per second."""

    sku = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=100)
    price_per_second = models.DecimalField(
        max_digits=10, decimal_places=6, validators=[positive_price]
    )
    gpu_count = models.PositiveSmallIntegerField(default=0)
    cpu_count = models.PositiveSmallIntegerField(null=True, blank=True)
    gpu_memory_gb = models.PositiveIntegerField(null=True, blank=True)
    memory_gb = models.PositiveIntegerField(null=True, blank=True)
    available = models.BooleanField(
        default=False, help_text="Workers serve this SKU's queue in this installation."
    )
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "sku"]
        verbose_name_plural = "hardware"

    def __str__(self) -> str:
        return f"{self.name} ({self.sku})"

    @property
    def queue_name(self) -> str:
        return self.sku

    @property
    def price_per_hour(self) -> Decimal:
        return self.price_per_second * 3600


class PriceUnit(models.TextChoices):
    """How a model is priced: by time on its hardware (the default), or per unit of output,
    as Replicate prices its official models."""

    SECOND = "", "per second of hardware time"
    OUTPUT = "output", "per output (each item of a list output, e.g. per image)"
    KILO_TOKENS = "1k_tokens", "per 1,000 output tokens (streamed text items)"


def month_of(moment) -> date:
    """The first day of the UTC month `moment` falls in."""
    utc = moment.astimezone(UTC)
    return utc.date().replace(day=1)


class UsageRecord(models.Model):
    """One billable thing, recorded exactly once: `key` is unique in the database, so a
    second delivery, a retry or a sweeper catching up finds the record already there."""

    class Kind(models.TextChoices):
        PREDICTION = "prediction"
        TRAINING = "training"
        INSTANCE = "instance", "deployment instance"

    class Basis(models.TextChoices):
        ACTIVE = "active", "active time"
        ONLINE = "online", "online time"
        UNITS = "units", "per unit"
        FREE = "free", "free"

    key = models.CharField(max_length=160, unique=True)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="usage")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    object_id = models.CharField(max_length=64)
    # What it ran, as it was named then (a ledger keeps its history when things are renamed).
    model = models.CharField(max_length=200, blank=True)
    version = models.CharField(max_length=64, blank=True)
    deployment = models.CharField(max_length=200, blank=True)
    hardware = models.CharField(max_length=64)
    basis = models.CharField(max_length=8, choices=Basis.choices)
    note = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(db_index=True)
    month = models.DateField()
    seconds = models.DecimalField(max_digits=14, decimal_places=3, default=Decimal(0))
    unit = models.CharField(max_length=12, blank=True)  # "" = seconds
    units = models.DecimalField(max_digits=16, decimal_places=3, default=Decimal(0))
    unit_price = models.DecimalField(max_digits=14, decimal_places=8)
    amount = models.DecimalField(max_digits=22, decimal_places=10)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-ended_at", "-id"]
        indexes = [
            models.Index(fields=["account", "month"]),
            models.Index(fields=["account", "ended_at"]),
            models.Index(fields=["kind", "object_id"]),
        ]

    def __str__(self) -> str:
        return self.key


class BillingProfile(models.Model):
    """An account's money settings. Admission locks this row, so concurrent creates for one
    account are counted one after another."""

    account = models.OneToOneField(
        Account, primary_key=True, on_delete=models.CASCADE, related_name="billing"
    )
    spend_limit = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0))],
        help_text="Monthly spend limit in dollars; empty: the installation's default.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"billing of {self.account}"


class SpendAlert(models.Model):
    """50 %, 80 % and 100 % of the limit, once each per month (unique in the database)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="spend_alerts")
    month = models.DateField()
    threshold = models.PositiveSmallIntegerField()  # percent
    spent = models.DecimalField(max_digits=22, decimal_places=10)
    limit = models.DecimalField(max_digits=12, decimal_places=2)
    emailed_to = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "month", "threshold"], name="spend_alert_once_a_month"
            )
        ]

    def __str__(self) -> str:
        return f"{self.account} {self.month:%Y-%m} {self.threshold}%"


class Invoice(models.Model):
    """One per account per month. A draft is rebuilt on demand; a final one never changes."""

    class Status(models.TextChoices):
        DRAFT = "draft"
        FINAL = "final"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="invoices")
    month = models.DateField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DRAFT)
    number = models.CharField(max_length=40, unique=True)
    total = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal(0))
    records = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    finalized_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-month"]
        constraints = [
            models.UniqueConstraint(fields=["account", "month"], name="invoice_once_a_month")
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_final(self) -> bool:
        return self.status == self.Status.FINAL


class InvoiceLine(models.Model):
    """The ledger's records of one model or deployment on one hardware, summed."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField()
    description = models.CharField(max_length=300)
    model = models.CharField(max_length=200, blank=True)
    deployment = models.CharField(max_length=200, blank=True)
    hardware = models.CharField(max_length=64)
    quantity = models.DecimalField(max_digits=16, decimal_places=3)
    unit = models.CharField(max_length=40)
    records = models.PositiveIntegerField()
    exact_amount = models.DecimalField(max_digits=22, decimal_places=10)
    amount = models.DecimalField(max_digits=14, decimal_places=2)  # exact_amount to the cent

    class Meta:
        ordering = ["position"]

    def __str__(self) -> str:
        return self.description
