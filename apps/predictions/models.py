from __future__ import annotations

import base64
import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.accounts.models import Account, Membership, User
from apps.catalog.models import Model, Version

# The error of a prediction whose worker died (the sweeper's); such a run is never billed.
WORKER_DIED = (
    "The worker running this prediction stopped unexpectedly (it crashed, ran out of memory "
    "or was killed). Please run it again."
)


def new_prediction_id() -> str:
    """26 lowercase base32 characters of a random UUID, as Replicate and Cog make them."""
    return base64.b32encode(uuid.uuid4().bytes).decode().lower().rstrip("=")


class PredictionQuerySet(models.QuerySet):
    def visible_to(self, user) -> PredictionQuerySet:
        """What a person may see on the website (the prediction page, its websocket, the
        model page's `?prediction=`): everything of the accounts they are a member of, what
        is shared, and the examples of public models."""
        public = Q(is_shared=True) | Q(is_example=True, model__visibility=Model.Visibility.PUBLIC)
        if user is None or not user.is_authenticated:
            return self.filter(public)
        organizations = Membership.objects.filter(user=user).values("organization")
        return self.filter(public | Q(owner__user=user) | Q(owner__organization__in=organizations))

    def visible_to_account(self, account: Account) -> PredictionQuerySet:
        """What an API token acting as `account` may read and cancel: the account's own
        predictions, as on Replicate (a shared page is for people with the link, not tokens;
        the stream URL handed out with a prediction is a capability of its own)."""
        return self.filter(owner=account)


class Prediction(models.Model):
    class Status(models.TextChoices):
        STARTING = "starting"
        PROCESSING = "processing"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELED = "canceled"
        ABORTED = "aborted"

    TERMINAL = {Status.SUCCEEDED, Status.FAILED, Status.CANCELED, Status.ABORTED}
    # The `reason` of the event log's `done` event, as Replicate's streams say it.
    DONE_REASONS = {Status.CANCELED: "canceled", Status.ABORTED: "canceled", Status.FAILED: "error"}

    class Source(models.TextChoices):
        API = "api"
        WEB = "web"

    class Kind(models.TextChoices):
        PREDICTION = "prediction"
        TRAINING = "training"  # train() of a trainable version, into a new version

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
    # Trainings are predictions of another kind: the same queues, workers, events, webhooks,
    # sweeper and ledger. `model`/`version` are the base; what they make goes to `destination`.
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.PREDICTION)
    destination = models.ForeignKey(
        Model, null=True, blank=True, on_delete=models.CASCADE, related_name="trainings_into"
    )
    trained_version = models.ForeignKey(
        Version, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = PredictionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["owner", "-created_at"]),
            models.Index(fields=["status", "created_at"]),
            models.Index(fields=["deployment", "-created_at"]),
            models.Index(fields=["completed_at"]),  # the sweeper's usage catch-up
            models.Index(fields=["owner", "kind", "-created_at"]),
        ]

    def __str__(self) -> str:
        return self.id

    @property
    def is_training(self) -> bool:
        return self.kind == self.Kind.TRAINING

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL

    @property
    def done_reason(self) -> str | None:
        """Why its stream ended, for the `done` event: `canceled`, `error`, or None."""
        return self.DONE_REASONS.get(self.status)

    def can_manage(self, user) -> bool:
        """Members of the owning account may cancel and share it; those it is shared with
        may only look."""
        return user is not None and self.owner.is_member(user)
