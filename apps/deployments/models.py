"""Deployments: a named endpoint pinned to a release (version, hardware, min/max instances),
served by instances of its own that the autoscaler starts and stops."""

from __future__ import annotations

import re
import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.accounts.models import Account, Membership, User
from apps.billing.models import Hardware
from apps.catalog.models import Model, Version
from apps.core.queue import deployment_queue

NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,98}[a-z0-9])?$")


class DeploymentQuerySet(models.QuerySet):
    def visible_to(self, user) -> DeploymentQuerySet:
        """Deployments of the accounts the person is a member of (never anyone else's)."""
        if user is None or not user.is_authenticated:
            return self.none()
        organizations = Membership.objects.filter(user=user).values("organization")
        return self.filter(Q(owner__user=user) | Q(owner__organization__in=organizations))

    def visible_to_account(self, account: Account) -> DeploymentQuerySet:
        """What an API token acting as `account` sees: the account's own deployments, and
        a user's token also those of the user's organizations."""
        if account.user_id is None:
            return self.filter(owner=account)
        return self.visible_to(account.user)


class Deployment(models.Model):
    owner = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="deployments")
    name = models.CharField(max_length=100)
    model = models.ForeignKey(Model, on_delete=models.CASCADE, related_name="deployments")
    current_release = models.ForeignKey(
        "Release", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    disabled = models.BooleanField(default=False)
    # What the autoscaler last said about it, shown on its pages ("waiting for capacity").
    scaling_note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_prediction_at = models.DateTimeField(null=True, blank=True)

    objects = DeploymentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                models.functions.Lower("name"), "owner", name="deployment_name_unique_per_owner"
            )
        ]

    def __str__(self) -> str:
        return self.full_name

    @property
    def full_name(self) -> str:
        return f"{self.owner.name}/{self.name}"

    @property
    def queue_name(self) -> str:
        return deployment_queue(self.full_name)

    @property
    def is_off(self) -> bool:
        """Disabled, or a release with max 0: no instances, no new predictions."""
        release = self.current_release
        return self.disabled or release is None or release.max_instances == 0

    def can_manage(self, user) -> bool:
        return user is not None and self.owner.is_member(user)


class Release(models.Model):
    """One immutable configuration of a deployment; every change makes the next one."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="releases")
    number = models.PositiveIntegerField()
    version = models.ForeignKey(Version, on_delete=models.PROTECT, related_name="+")
    hardware = models.ForeignKey(Hardware, on_delete=models.PROTECT, related_name="+")
    min_instances = models.PositiveSmallIntegerField()
    max_instances = models.PositiveSmallIntegerField()
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by_account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rolled_back_from = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["deployment", "number"], name="release_number_unique")
        ]

    def __str__(self) -> str:
        return f"{self.deployment} #{self.number}"

    @property
    def configuration(self) -> dict:
        return {
            "version": self.version.digest,
            "hardware": self.hardware.sku,
            "min_instances": self.min_instances,
            "max_instances": self.max_instances,
        }


class Instance(models.Model):
    """One running copy of a release: a worker process of the deployment's queue and its
    model process. Kept after it stops: its online time is what a deployment costs."""

    class State(models.TextChoices):
        STARTING = "starting"
        SETTING_UP = "setting_up", "setting up"
        IDLE = "idle"
        BUSY = "busy"
        STOPPING = "stopping"
        STOPPED = "stopped"
        FAILED = "failed"

    ONLINE = (State.STARTING, State.SETTING_UP, State.IDLE, State.BUSY, State.STOPPING)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="instances")
    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="instances")
    state = models.CharField(max_length=12, choices=State.choices, default=State.STARTING)
    host = models.CharField(max_length=200)
    pid = models.PositiveIntegerField(null=True, blank=True)
    worker_id = models.CharField(max_length=64, unique=True)
    started_at = models.DateTimeField(default=timezone.now)
    # Written by the supervisor every few seconds: after a crash, when it was last seen alive.
    seen_at = models.DateTimeField(default=timezone.now)
    stopped_at = models.DateTimeField(null=True, blank=True)
    last_busy_at = models.DateTimeField(null=True, blank=True)
    # How far its online time is in the billing ledger (None: nothing yet, from started_at).
    metered_until = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["state"]),
            models.Index(fields=["deployment", "-started_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.deployment} instance {str(self.id)[:8]}"

    @property
    def is_online(self) -> bool:
        return self.state in self.ONLINE

    @property
    def online_seconds(self) -> float:
        end = self.stopped_at or timezone.now()
        return max(0.0, (end - self.started_at).total_seconds())


class MinuteMetric(models.Model):
    """What a deployment did in one minute, aggregated by the autoscaler; kept 30 days."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="metrics")
    minute = models.DateTimeField()
    arrivals = models.PositiveIntegerField(default=0)
    completions = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)
    latency_p50 = models.FloatField(null=True, blank=True)  # seconds, created to completed
    latency_p95 = models.FloatField(null=True, blank=True)
    backlog = models.PositiveIntegerField(default=0)  # the most seen waiting in the minute
    instances = models.FloatField(default=0)  # online instances, averaged over the minute
    # Instance-seconds by state: {"starting": 3.0, "idle": 40.0, "busy": 17.0, ...}
    instance_seconds = models.JSONField(default=dict)

    class Meta:
        ordering = ["minute"]
        constraints = [
            models.UniqueConstraint(fields=["deployment", "minute"], name="metric_minute_unique")
        ]

    def __str__(self) -> str:
        return f"{self.deployment} {self.minute:%Y-%m-%d %H:%M}"
