from __future__ import annotations

from django.urls import reverse
from ninja import Router, Schema

from apps.core.links import absolute_url

router = Router(tags=["account"])


class AccountOut(Schema):
    type: str
    username: str
    name: str
    github_url: str | None = None
    avatar_url: str | None = None


def account_json(request, account) -> dict:
    """An account as the API shows it (also a release's `created_by`)."""
    return {
        "type": account.type,
        "username": account.name,
        "name": account.display_name,
        "github_url": account.github_url or None,
        "avatar_url": absolute_url(request, reverse("avatar", args=[account.name])),
    }


@router.get("/account", response=AccountOut, summary="Get the authenticated account")
def account_get(request):
    return account_json(request, request.auth)
