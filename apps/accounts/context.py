"""The account a signed-in user is working as: their own, or one of their organizations.

The choice lives in the session (set by the context switcher on the account and model pages);
`?account=<name>` on a request wins over it, so links can name an account explicitly."""

from __future__ import annotations

from django.db.models import Q

from apps.accounts.models import Account

SESSION_KEY = "account_context"


def acting_accounts(user) -> list[Account]:
    """The accounts `user` may act as: their own first, then their organizations by name."""
    if not user.is_authenticated:
        return []
    accounts = Account.objects.filter(
        Q(user=user) | Q(organization__memberships__user=user)
    ).distinct()
    return sorted(accounts, key=lambda account: (account.user_id is None, account.name.lower()))


def find_acting_account(accounts: list[Account], name: str) -> Account | None:
    name = (name or "").strip().lower()
    return next((account for account in accounts if account.name.lower() == name), None)


def current_account(request, accounts: list[Account] | None = None) -> Account | None:
    """`?account=<name>` if it is one of the user's, else the session's choice, else the
    user's own account; None for anonymous visitors."""
    if accounts is None:
        accounts = acting_accounts(request.user)
    if not accounts:
        return None
    for wanted in (request.GET.get("account"), request.session.get(SESSION_KEY)):
        if wanted and (account := find_acting_account(accounts, wanted)) is not None:
            return account
    return accounts[0]


def set_current_account(request, account: Account) -> None:
    request.session[SESSION_KEY] = account.name
