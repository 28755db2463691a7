"""Make invoices: the month before's final ones (what the sweeper also does once a month is
over), a given month's, or drafts of the current month."""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from apps.accounts.models import Account
from apps.billing import invoices
from apps.billing.models import UsageRecord, month_of


class Command(BaseCommand):
    help = "Make invoices from the usage ledger (final ones for months that are over)."

    def add_arguments(self, parser):
        parser.add_argument("--month", help="YYYY-MM (default: the month before this one)")
        parser.add_argument(
            "--draft", action="store_true", help="drafts of the current month instead"
        )
        parser.add_argument("--account", help="only this account")

    def handle(self, *args, month=None, draft=False, account=None, **options):
        current = month_of(timezone.now())
        if draft:
            wanted = current
        elif month:
            try:
                wanted = date.fromisoformat(f"{month}-01")
            except ValueError:
                raise CommandError(f"--month must be YYYY-MM, not {month!r}") from None
            if wanted >= current:
                raise CommandError(
                    f"{month} is not over yet: only a month that is over gets a final invoice "
                    "(use --draft for the current month)."
                )
        else:
            wanted = date(current.year - (current.month == 1), (current.month - 2) % 12 + 1, 1)
        accounts = Account.objects.filter(
            pk__in=UsageRecord.objects.filter(month=wanted).values("account")
        )
        if account:
            accounts = accounts.filter(name__iexact=account)
        for holder in accounts.order_by("name"):
            invoice = invoices.build(holder, wanted, final=not draft)
            self.stdout.write(
                f"{invoice.number} {holder.name} {wanted:%Y-%m} {invoice.status}: "
                f"${invoice.total} ({invoice.lines.count()} lines)"
            )
