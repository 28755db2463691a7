"""Monthly spend limits: admission (402 past the limit) and the 50/80/100 % alerts.

The admission policy (docs/billing.md): work is admitted while what the account has spent
this month, plus the expected cost of its work already admitted and not yet recorded, plus
the expected cost of the new work, stays within the limit. The account's BillingProfile row
is locked for the check, so concurrent creates are counted one after another: the only
overshoot left is admitted work costing more than expected, never a race between creates.
"""

from __future__ import annotations

import calendar
import logging
from datetime import UTC, date, datetime
from decimal import Decimal

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from apps.accounts.models import Account, Membership
from apps.billing.models import CENT, BillingProfile, SpendAlert, UsageRecord, month_of
from apps.core.problems import ApiError

THRESHOLDS = (50, 80, 100)

logger = logging.getLogger(__name__)


def money(amount: Decimal) -> str:
    return f"${amount.quantize(CENT):,}"


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def month_end(month: date) -> date:
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


def resets_at(month: date) -> datetime:
    start = next_month(month)
    return datetime(start.year, start.month, 1, tzinfo=UTC)


def effective_limit(account: Account, spend_limit: Decimal | None = None) -> Decimal | None:
    """The account's own limit, else the installation's default, else None (no limit)."""
    if spend_limit is None:
        spend_limit = (
            BillingProfile.objects.filter(account=account)
            .values_list("spend_limit", flat=True)
            .first()
        )
    return spend_limit if spend_limit is not None else settings.BILLING_DEFAULT_SPEND_LIMIT


def month_spend(account: Account, month: date | None = None) -> Decimal:
    month = month or month_of(timezone.now())
    total = UsageRecord.objects.filter(account=account, month=month).aggregate(s=Sum("amount"))
    return total["s"] or Decimal(0)


class SpendLimitReached(ApiError):
    """402 Payment Required, in words a person can act on (the playground shows the same)."""

    def __init__(self, account: Account, limit: Decimal, spent: Decimal, month: date) -> None:
        reset = resets_at(month)
        detail = (
            f"{account.name} has reached its monthly spend limit of {money(limit)}: "
            f"{money(spent)} spent so far in {month:%B %Y}, counting work still running. "
            f"The limit resets on {reset:%B} 1 at 00:00 UTC; an owner of {account.name} can "
            "raise it on the billing page (/account/billing)."
        )
        super().__init__(
            402,
            "Spend limit reached",
            detail,
            spend_limit=str(limit),
            spent=str(spent.quantize(CENT)),
            resets_at=reset.isoformat().replace("+00:00", "Z"),
        )


def admit(account: Account, *, estimate, reserved) -> None:
    """Raise SpendLimitReached unless the new work (expected to cost `estimate()`) fits in
    the account's limit. `reserved()` gives the expected cost of the account's admitted work
    not yet in the ledger. Both are called only when a limit applies, with the account's
    billing row locked. Call inside the transaction that also saves the admitted work."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("admit() must run inside the transaction that saves the work")
    if effective_limit(account) is None:
        return  # no limit: no lock, one read (the common case, on the hot path)
    row = BillingProfile.objects.select_for_update().filter(account=account).first()
    if row is None:
        try:
            with transaction.atomic():
                BillingProfile.objects.create(account=account)
        except IntegrityError:
            pass  # made by a concurrent create just now
        row = BillingProfile.objects.select_for_update().get(account=account)
    limit = effective_limit(account, row.spend_limit)
    if limit is None:
        return
    month = month_of(timezone.now())
    spent = month_spend(account, month)
    pending = reserved()
    if spent >= limit or spent + pending + estimate() > limit:
        raise SpendLimitReached(account, limit, spent + pending, month)


def is_blocked(account: Account) -> SpendLimitReached | None:
    """Whether the account has spent its limit this month (for starting instances)."""
    limit = effective_limit(account)
    if limit is None:
        return None
    month = month_of(timezone.now())
    spent = month_spend(account, month)
    return SpendLimitReached(account, limit, spent, month) if spent >= limit else None


def recipients(account: Account) -> list[str]:
    if account.user_id:
        return [account.user.email] if account.user.email else []
    owners = account.organization.memberships.filter(role=Membership.Role.OWNER)
    return sorted({m.user.email for m in owners.select_related("user") if m.user.email})


def check_alerts(account: Account, month: date) -> list[SpendAlert]:
    """Record the thresholds this month's spend has crossed, once each, and mail the
    owners about the highest of those just crossed."""
    limit = effective_limit(account)
    if not limit:
        return []
    spent = month_spend(account, month)
    made = []
    for threshold in THRESHOLDS:
        if spent * 100 < limit * threshold:
            break
        if SpendAlert.objects.filter(account=account, month=month, threshold=threshold).exists():
            continue
        try:
            with transaction.atomic():
                alert = SpendAlert.objects.create(
                    account=account, month=month, threshold=threshold, spent=spent, limit=limit
                )
        except IntegrityError:
            continue  # another process recorded it first, and mails it
        made.append(alert)
    if made:  # crossing several thresholds at once mails the highest only
        _mail(made[-1])
    return made


def alert_sentence(alert: SpendAlert) -> str:
    return (
        f"{alert.account.name} has spent {money(alert.spent)} in {alert.month:%B %Y}: "
        f"{alert.threshold}% of its {money(alert.limit)} monthly spend limit."
    )


def _mail(alert: SpendAlert) -> None:
    to = recipients(alert.account)
    if not to:
        return
    body = alert_sentence(alert)
    if alert.threshold >= 100:
        body += " New predictions, trainings and deployment instances are refused until the "
        body += f"limit resets on {resets_at(alert.month):%B} 1, or an owner raises it."
    try:
        send_mail(f"Spend alert: {alert.threshold}% of your limit", body, None, to)
    except Exception:  # a mail server down must not lose the record or fail the run
        logger.exception("could not mail the spend alert %s", alert)
        return
    SpendAlert.objects.filter(pk=alert.pk).update(emailed_to=", ".join(to))
