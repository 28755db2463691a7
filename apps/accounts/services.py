"""Workflows on accounts, organizations, memberships and tokens."""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.models import (
    Account,
    ApiToken,
    Membership,
    Organization,
    User,
    validate_new_name,
)


def user_create(*, username: str, password: str | None, email: str = "", **extra) -> User:
    validate_new_name(username)
    try:
        return User.objects.create_user(username=username, email=email, password=password, **extra)
    except IntegrityError:  # lost a race for the name
        raise ValidationError({"username": f"The name “{username}” is already taken."}) from None


@transaction.atomic
def organization_create(*, name: str, owner: User, display_name: str = "") -> Organization:
    validate_new_name(name)
    try:
        with transaction.atomic():
            organization = Organization.objects.create(name=name, display_name=display_name)
    except IntegrityError:
        raise ValidationError({"name": f"The name “{name}” is already taken."}) from None
    Membership.objects.create(organization=organization, user=owner, role=Membership.Role.OWNER)
    return organization


def membership_add(*, organization: Organization, username: str, role: str) -> Membership:
    user = User.objects.filter(username__iexact=username, is_active=True).first()
    if user is None:
        raise ValidationError({"username": f"There is no user called “{username}”."})
    if organization.memberships.filter(user=user).exists():
        raise ValidationError({"username": f"{user.username} is already a member."})
    return Membership.objects.create(organization=organization, user=user, role=role)


def _ensure_another_owner(membership: Membership, action: str) -> None:
    if membership.is_owner and membership.organization.owner_count() <= 1:
        raise ValidationError(
            f"Cannot {action}: {membership.user.username} is the last owner of "
            f"{membership.organization.name}. Make someone else an owner first."
        )


@transaction.atomic
def membership_set_role(*, membership: Membership, role: str) -> Membership:
    if role not in Membership.Role.values:
        raise ValidationError(f"Unknown role “{role}”.")
    # Lock the organization's memberships so two demotions cannot both pass the check.
    list(membership.organization.memberships.select_for_update())
    if role != Membership.Role.OWNER:
        _ensure_another_owner(membership, "change the role")
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, leaving: bool = False) -> None:
    list(membership.organization.memberships.select_for_update())
    _ensure_another_owner(membership, "leave" if leaving else "remove this member")
    membership.delete()


def token_create(*, account: Account, name: str, created_by: User | None) -> tuple[ApiToken, str]:
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Give the token a name, so you can tell it apart later."})
    return ApiToken.generate(account=account, name=name, created_by=created_by)


def token_authenticate(raw: str) -> ApiToken | None:
    """The active token with this value, or None. Revoked tokens and inactive users fail."""
    raw = raw.strip()
    if not raw.startswith("r8_") or len(raw) != 40:
        return None
    candidates = (
        ApiToken.objects.active()
        .filter(prefix=raw[:8])
        .select_related("account__user", "account__organization")
    )
    for token in candidates:
        if token.matches(raw) and token.account.is_active:
            now = timezone.now()
            if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
                ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
            return token
    return None
