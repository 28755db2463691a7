from __future__ import annotations

import base64
import secrets
import string

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from apps.accounts.names import validate_name_format


class HttpsURLField(models.URLField):
    """A URL field whose forms assume https:// when the scheme is left out."""

    def formfield(self, **kwargs):
        return super().formfield(**{"assume_scheme": "https", **kwargs})


class User(AbstractUser):
    username = models.CharField(
        "username",
        max_length=39,
        unique=True,
        validators=[validate_name_format],
        error_messages={"unique": "The name is already taken."},
    )
    name = models.CharField("full name", max_length=150, blank=True)
    github_url = HttpsURLField("GitHub URL", blank=True)

    def __str__(self) -> str:
        return self.username

    def save(self, *args, **kwargs) -> None:
        # Every user owns an account in the shared namespace, however the user is created
        # (sign-up, createsuperuser, the admin), so models and tokens always have an owner.
        creating = self._state.adding
        with transaction.atomic():
            super().save(*args, **kwargs)
            if creating:
                Account.objects.create(name=self.username, user=self)


class Organization(models.Model):
    name = models.CharField(max_length=39, unique=True, validators=[validate_name_format])
    display_name = models.CharField(max_length=150, blank=True)
    github_url = HttpsURLField("GitHub URL", blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    members = models.ManyToManyField(User, through="Membership", related_name="organizations")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        creating = self._state.adding
        with transaction.atomic():
            super().save(*args, **kwargs)
            if creating:
                Account.objects.create(name=self.name, organization=self)

    def membership_for(self, user) -> Membership | None:
        if not user.is_authenticated:
            return None
        return self.memberships.filter(user=user).first()

    def owner_count(self) -> int:
        return self.memberships.filter(role=Membership.Role.OWNER).count()


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        MEMBER = "member", "Member"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["organization__name", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="one_membership_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"

    @property
    def is_owner(self) -> bool:
        return self.role == self.Role.OWNER


class Account(models.Model):
    """A name in the namespace shared by users and organizations: the owner of things.

    Models, deployments, predictions and API tokens belong to an account, so `owner/name`
    works the same whether the owner is a person or an organization.
    """

    class Type(models.TextChoices):
        USER = "user", "User"
        ORGANIZATION = "organization", "Organization"

    name = models.CharField(max_length=39, validators=[validate_name_format])
    user = models.OneToOneField(
        User, null=True, blank=True, on_delete=models.CASCADE, related_name="account"
    )
    organization = models.OneToOneField(
        Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="account"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # `whsec_` + base64 of 24 random bytes (the Standard Webhooks format), made on first use.
    webhook_secret = models.CharField(max_length=64, blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(Lower("name"), name="account_name_unique_ci"),
            models.CheckConstraint(
                condition=models.Q(user__isnull=False, organization__isnull=True)
                | models.Q(user__isnull=True, organization__isnull=False),
                name="account_is_user_xor_organization",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def type(self) -> str:
        return self.Type.USER if self.user_id else self.Type.ORGANIZATION

    @property
    def display_name(self) -> str:
        if self.user_id:
            return self.user.name or self.user.username
        return self.organization.display_name or self.organization.name

    @property
    def github_url(self) -> str:
        return (self.user or self.organization).github_url

    @property
    def is_active(self) -> bool:
        return self.organization_id is not None or self.user.is_active

    def is_member(self, user) -> bool:
        """Whether `user` may act as this account (it is theirs, or their organization's)."""
        if not user.is_authenticated:
            return False
        if self.user_id:
            return self.user_id == user.pk
        return self.organization.memberships.filter(user=user).exists()

    def is_admin(self, user) -> bool:
        """Whether `user` may manage this account's settings, members and tokens."""
        if not user.is_authenticated:
            return False
        if self.user_id:
            return self.user_id == user.pk
        return self.organization.memberships.filter(user=user, role=Membership.Role.OWNER).exists()

    def webhook_signing_secret(self) -> str:
        """The key that signs this account's webhooks (`whsec_...`), created on first use."""
        if not self.webhook_secret:
            candidate = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
            # The first writer wins, so processes asking at the same time agree on one secret.
            Account.objects.filter(pk=self.pk, webhook_secret="").update(webhook_secret=candidate)
            self.webhook_secret = Account.objects.values_list("webhook_secret", flat=True).get(
                pk=self.pk
            )
        return self.webhook_secret


TOKEN_ALPHABET = string.ascii_letters + string.digits
TOKEN_PREFIX_LENGTH = 8  # "r8_" and five random characters, shown in lists


def _digest(raw: str, secret: str | None = None) -> str:
    return salted_hmac("selfrep.ApiToken", raw, secret=secret, algorithm="sha256").hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


class ApiToken(models.Model):
    """An API token: `r8_` and 37 characters, kept only as a visible prefix and a keyed hash."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=TOKEN_PREFIX_LENGTH, db_index=True, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @classmethod
    def generate(cls, *, account: Account, name: str, created_by=None) -> tuple[ApiToken, str]:
        raw = "r8_" + "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(37))
        token = cls.objects.create(
            account=account,
            name=name,
            created_by=created_by,
            prefix=raw[:TOKEN_PREFIX_LENGTH],
            digest=_digest(raw),
        )
        return token, raw

    def matches(self, raw: str) -> bool:
        secrets_to_try = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
        return any(constant_time_compare(self.digest, _digest(raw, key)) for key in secrets_to_try)

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])


def validate_name_available(name: str) -> None:
    if Account.objects.filter(name__iexact=name).exists():
        raise ValidationError(f"The name “{name}” is already taken.", code="taken")


def validate_new_name(name: str) -> None:
    validate_name_format(name)
    validate_name_available(name)
