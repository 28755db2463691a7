"""Who may see and change which models, for web users and for API tokens."""

from __future__ import annotations

from django.http import Http404

from apps.accounts.models import Account
from apps.catalog.models import Model


def account_can_manage(account: Account, owner: Account) -> bool:
    """An API token's account may manage what it owns, and a user's token what the user's
    organizations own."""
    if account.pk == owner.pk:
        return True
    return account.user_id is not None and owner.is_member(account.user)


def account_can_see(account: Account, model: Model) -> bool:
    """`Model.objects.visible_to_account(account)` for one loaded model: the common cases
    (public, the account's own) without a query."""
    if model.is_public or model.owner_id == account.pk:
        return True
    if account.user_id is None:
        return False
    return Model.objects.visible_to_account(account).filter(pk=model.pk).exists()


def get_model_for_account(account: Account, owner: str, name: str) -> Model:
    """The model if the token's account may see it; a 404 otherwise (never a hint)."""
    candidates = Model.objects.select_related("owner", "latest_version", "default_hardware")
    for model in candidates.filter(owner__name__iexact=owner, name__iexact=name):
        if account_can_see(account, model):
            return model
    raise Http404


def get_model_for_user(user, owner: str, name: str) -> tuple[Model, bool]:
    """The model and whether the user may manage it; a 404 for models they may not see."""
    model = (
        Model.objects.visible_to(user)
        .select_related("owner__user", "owner__organization", "latest_version", "default_hardware")
        .filter(owner__name__iexact=owner, name__iexact=name)
        .first()
    )
    if model is None:
        raise Http404("No such model")
    return model, model.can_manage(user)
