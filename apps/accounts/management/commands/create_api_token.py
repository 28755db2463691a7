"""Print a fresh API token for a user (or one of the user's organizations)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.accounts import services
from apps.accounts.models import Organization, User


class Command(BaseCommand):
    help = "Create an API token and print it on stdout (for scripts and tests)."

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="username")
        parser.add_argument("--create", action="store_true", help="create the user if missing")
        parser.add_argument(
            "--org", help="make the token act as this organization (the user must own it)"
        )
        parser.add_argument("--name", default="cli", help="token name (default: cli)")

    def handle(self, *args, user, create, org, name, **options):
        account_user = User.objects.filter(username__iexact=user).first()
        if account_user is None:
            if not create:
                raise CommandError(f"No user called {user!r} (pass --create to create it)")
            try:
                # No password: this user signs in with tokens until one is set.
                account_user = services.user_create(username=user, password=None)
            except ValidationError as error:
                raise CommandError(" ".join(error.messages)) from None
        if not account_user.is_active:
            raise CommandError(f"User {account_user.username} is inactive")
        account = account_user.account
        if org:
            organization = Organization.objects.filter(name__iexact=org).first()
            if organization is None or not organization.account.is_admin(account_user):
                raise CommandError(f"{account_user.username} is not an owner of {org!r}")
            account = organization.account
        _token, raw = services.token_create(account=account, name=name, created_by=account_user)
        self.stdout.write(raw)
