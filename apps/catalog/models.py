"""Models (the things people run), their immutable versions, and curated collections."""

from __future__ import annotations

import re
import secrets
from pathlib import PurePath

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from apps.accounts.models import Account, HttpsURLField, User
from apps.billing.models import Hardware, PriceUnit, positive_price
from apps.runtime import schema

DEFAULT_HARDWARE = "cpu"
MODEL_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,98}[a-z0-9])?$")


def validate_model_name(name: str) -> None:
    if not MODEL_NAME_RE.match(name):
        raise ValidationError(
            "Use lowercase letters, digits, dots, hyphens and underscores (up to 100), "
            "starting and ending with a letter or digit.",
            code="invalid",
        )


def cover_path(instance, filename: str) -> str:
    """Under a random folder: /media is served to anyone, and a private model's cover must not
    be found by guessing its file name (the URL is handed out only to those who may see it)."""
    return f"covers/{secrets.token_urlsafe(16)}/{PurePath(filename).name}"


class ModelQuerySet(models.QuerySet):
    def visible_to(self, user) -> ModelQuerySet:
        """Public models, plus private ones owned by the user or the user's organizations."""
        if not user.is_authenticated:
            return self.filter(visibility=Model.Visibility.PUBLIC)
        return self.filter(
            Q(visibility=Model.Visibility.PUBLIC)
            | Q(owner__user=user)
            | Q(owner__organization__memberships__user=user)
        ).distinct()

    def visible_to_account(self, account: Account) -> ModelQuerySet:
        """What an API token acting as `account` may see."""
        if account.user_id:
            return self.visible_to(account.user)
        return self.filter(Q(visibility=Model.Visibility.PUBLIC) | Q(owner=account))


class Model(models.Model):
    class Visibility(models.TextChoices):
        PUBLIC = "public", "Public"
        PRIVATE = "private", "Private"

    owner = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="models")
    name = models.CharField(max_length=100, validators=[validate_model_name])
    visibility = models.CharField(
        max_length=10, choices=Visibility.choices, default=Visibility.PUBLIC
    )
    description = models.CharField(max_length=500, blank=True)
    readme = models.TextField(blank=True)
    github_url = HttpsURLField("GitHub URL", blank=True)
    paper_url = HttpsURLField("paper URL", blank=True)
    license_url = HttpsURLField("licence URL", blank=True)
    weights_url = HttpsURLField("weights URL", blank=True)
    cover_image = models.FileField(upload_to=cover_path, blank=True)
    default_hardware = models.ForeignKey(
        Hardware, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Set by the operator (the admin): a unit price replaces time pricing for this model.
    price_unit = models.CharField(
        max_length=12, choices=PriceUnit.choices, blank=True, default=PriceUnit.SECOND
    )
    unit_price = models.DecimalField(
        max_digits=14,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[positive_price],
        help_text="Dollars per unit; only with a price unit other than seconds.",
    )
    run_count = models.PositiveBigIntegerField(default=0)
    featured = models.BooleanField(default=False)
    latest_version = models.ForeignKey(
        "Version", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ModelQuerySet.as_manager()

    class Meta:
        ordering = ["owner__name", "name"]
        constraints = [
            models.UniqueConstraint("owner", Lower("name"), name="model_name_unique_per_owner")
        ]
        indexes = [models.Index(fields=["visibility", "-created_at"])]

    def __str__(self) -> str:
        return self.full_name

    @property
    def full_name(self) -> str:
        return f"{self.owner.name}/{self.name}"

    @property
    def is_public(self) -> bool:
        return self.visibility == self.Visibility.PUBLIC

    def can_manage(self, user) -> bool:
        """Members of the owning account may push versions and change settings."""
        return self.owner.is_member(user)

    @property
    def is_unit_priced(self) -> bool:
        return bool(self.price_unit) and self.unit_price is not None

    def clean(self) -> None:
        super().clean()
        if self.price_unit and self.unit_price is None:
            raise ValidationError({"unit_price": "A unit price is needed with a price unit."})
        if not self.price_unit and self.unit_price is not None:
            raise ValidationError({"price_unit": "Choose what the unit price is per."})

    def hardware(self) -> Hardware | None:
        return self.default_hardware or Hardware.objects.filter(sku=DEFAULT_HARDWARE).first()

    @property
    def queue_name(self) -> str:
        """The queue of this model's hardware; `cpu` when none is chosen."""
        return self.default_hardware.queue_name if self.default_hardware_id else DEFAULT_HARDWARE

    def refresh_latest_version(self) -> None:
        self.latest_version = self.versions.order_by("-created_at", "-pk").first()
        self.save(update_fields=["latest_version", "updated_at"])


class Version(models.Model):
    """An immutable snapshot of a model directory, identified by the sha256 of its contents."""

    class Setup(models.TextChoices):
        UNKNOWN = "unknown", "Not run yet"
        OK = "ok", "Works"
        FAILED = "failed", "setup() failed"

    model = models.ForeignKey(Model, on_delete=models.CASCADE, related_name="versions")
    digest = models.CharField("version id", max_length=64, db_index=True)
    openapi_schema = models.JSONField()
    cog_version = models.CharField(max_length=32)
    predictor_ref = models.CharField(max_length=200)
    config = models.JSONField(default=dict, help_text="cog.yaml as pushed")
    requirements = models.JSONField(default=list)
    build_log = models.TextField(blank=True)
    artifact = models.FileField(upload_to="versions/")
    artifact_size = models.PositiveBigIntegerField(default=0)
    setup_status = models.CharField(max_length=10, choices=Setup.choices, default=Setup.UNKNOWN)
    setup_logs = models.TextField(blank=True)
    setup_seconds = models.FloatField(null=True, blank=True)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # A trained version: its base version's files plus the weights its training made, at
    # `weights` (relative to the version's folder), which setup() receives as Cog does.
    weights = models.CharField(max_length=300, blank=True)
    trained_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    training_id = models.CharField(max_length=26, blank=True)  # the training that made it

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["model", "digest"], name="one_version_per_content")
        ]

    def __str__(self) -> str:
        return f"{self.model.full_name}:{self.digest[:12]}"

    @property
    def input_schema(self) -> dict:
        return schema.input_schema(self.openapi_schema)

    @property
    def secret_inputs(self) -> set[str]:
        """The names of inputs typed `cog.Secret`: never stored, logged or shown."""
        return schema.secret_names(self.openapi_schema)

    @property
    def output_schema(self) -> dict:
        return self.openapi_schema.get("components", {}).get("schemas", {}).get("Output", {})

    @property
    def is_trainable(self) -> bool:
        """cog.yaml names a train(): the document carries Cog's TrainingInput and /trainings."""
        return schema.is_trainable(self.openapi_schema)

    @property
    def training_schema(self) -> dict:
        """The document as train() sees it: TrainingInput/TrainingOutput as Input/Output."""
        return schema.training_view(self.openapi_schema)

    @property
    def is_streaming(self) -> bool:
        post = self.openapi_schema.get("paths", {}).get("/predictions", {}).get("post", {})
        return bool(post.get("x-cog-streaming")) or (
            self.output_schema.get("x-cog-array-type") == "iterator"
        )

    @property
    def concurrency(self) -> int:
        meta = self.openapi_schema.get("x-selfrep", {})
        return int(
            self.config.get("concurrency", {}).get("max") or meta.get("concurrency_max") or 1
        )


class Collection(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True)
    full_description = models.TextField(blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    models = models.ManyToManyField(Model, related_name="collections", blank=True)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name
