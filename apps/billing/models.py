from __future__ import annotations

from decimal import Decimal

from django.db import models


class Hardware(models.Model):
    """A hardware SKU: what a model runs on, its queue, and its price per second."""

    sku = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=100)
    price_per_second = models.DecimalField(max_digits=10, decimal_places=6)
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
