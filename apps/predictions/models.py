from __future__ import annotations

import base64
import uuid

from django.db import models
from django.utils import timezone

from apps.accounts.models import Account, User
from apps.catalog.models import Model, Version


def new_prediction_id() -> str:
    """26 lowercase base32 characters of a random UUID, as Replicate and Cog make them."""
    return base64.b32encode(uuid.uuid4().bytes).decode().lower().rstrip("=")


class Prediction(models.Model):
    class Status(models.TextChoices):
        STARTING = "starting"
        PROCESSING = "processing"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELED = "canceled"
        ABORTED = "aborted"

    TERMINAL = {Status.SUCCEEDED, Status.FAILED, Status.CANCELED, Status.ABORTED}

    class Source(models.TextChoices):
        API = "api"
        WEB = "web"

    id = models.CharField(
        primary_key=True, max_length=26, default=new_prediction_id, editable=False
    )
    owner = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="predictions")
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    model = models.ForeignKey(Model, on_delete=models.CASCADE, related_name="predictions")
    version = models.ForeignKey(Version, on_delete=models.CASCADE, related_name="predictions")
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.API)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.STARTING)
    input = models.JSONField(default=dict)
    output = models.JSONField(null=True, blank=True)
    logs = models.TextField(blank=True, default="")
    error = models.TextField(null=True, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    claimed_at = models.DateTimeField(null=True, blank=True, help_text="when a worker took it")
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    webhook = models.URLField(max_length=2000, blank=True)
    webhook_events_filter = models.JSONField(default=list, blank=True)
    webhook_attempts = models.JSONField(
        default=list, blank=True, help_text="The last webhook deliveries: when, event, answer."
    )
    data_removed = models.BooleanField(default=False)
    deadline = models.DateTimeField(null=True, blank=True)
    deployment = models.CharField(max_length=200, blank=True)
    worker_id = models.CharField(max_length=64, blank=True)
    is_example = models.BooleanField(default=False)
    is_shared = models.BooleanField(
        default=False, help_text="Anyone with the link can see the prediction's page."
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["owner", "-created_at"]),
            models.Index(fields=["status", "created_at"]),
        ]

    def __str__(self) -> str:
        return self.id

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL
