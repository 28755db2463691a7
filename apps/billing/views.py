"""The money pages: usage (chart, table, CSV), billing (spend limit, alerts, invoices), an
invoice, and the public price list. Only an account's owners see its money pages: a member
of an organization who is not an owner gets a 403, anyone else a 404."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.context import acting_accounts, current_account, find_acting_account
from apps.accounts.models import Account
from apps.billing import charts, invoices, limits, usage
from apps.billing.forms import SpendLimitForm, UsageFilterForm
from apps.billing.models import BillingProfile, Hardware, Invoice, SpendAlert, month_of


def money_account(request) -> Account:
    """`?account=<name>` (one of the user's accounts, else a 404), or the working account
    if the user owns it, else the user's own; a 403 for an account they do not own."""
    accounts = acting_accounts(request.user)
    wanted = request.GET.get("account") or request.POST.get("account")
    if wanted:
        account = find_acting_account(accounts, wanted)
        if account is None:
            raise Http404("No such account")
    else:
        account = current_account(request, accounts)
        if not account.is_admin(request.user):
            account = request.user.account
    if not account.is_admin(request.user):
        raise PermissionDenied("Only the owners of an organization see its usage and billing.")
    return account


def _owned(request, accounts: list[Account]) -> list[Account]:
    return [account for account in accounts if account.is_admin(request.user)]


def _month_context(request, account: Account) -> dict:
    """The money pages' heading and this month's spend against the limit."""
    month = month_of(timezone.now())
    spent = limits.month_spend(account, month)
    limit = limits.effective_limit(account)
    return {
        "account": account,
        "accounts": _owned(request, acting_accounts(request.user)),
        "month": month,
        "spent": spent,
        "limit": limit,
        "percent": _percent(spent, limit),
    }


def _percent(spent, limit) -> int | None:
    """How much of the limit is spent (a zero limit is all spent); None without a limit."""
    if limit is None:
        return None
    return int(spent * 100 / limit) if limit else 100


def _query(account: Account, **params) -> str:
    params = {k: v for k, v in params.items() if v}
    params["account"] = account.name
    return "?" + urlencode(params)


@login_required
@require_GET
def usage_page(request):
    account = money_account(request)
    status, range_error = 200, None
    try:
        span = usage.parse_range(request.GET.get("start"), request.GET.get("end"))
    except usage.RangeError as error:
        span, status, range_error = usage.parse_range(None, None), 422, error
    query = request.GET.copy()
    if range_error is None:  # the range shown, in the date fields
        query["start"], query["end"] = str(span.start), str(span.end)
    form = UsageFilterForm(
        query,
        models=usage.choices(account, "model"),
        deployments=usage.choices(account, "deployment"),
    )
    if not form.is_valid():  # an unknown model or deployment: said next to its field
        status = 422
    data = form.cleaned_data  # the fields that are valid
    if range_error is not None:
        field = range_error.field if range_error.field in form.fields else None
        form.add_error(field, str(range_error))
    by = data.get("by") or "model"
    model, deployment = data.get("model", ""), data.get("deployment", "")
    rows = usage.records(account, span, model=model, deployment=deployment)
    if request.GET.get("format") == "csv" and status == 200:
        response = HttpResponse(usage.csv_text(rows), content_type="text/csv; charset=utf-8")
        filename = f"usage-{account.name}-{span.start}-{span.end}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    table = usage.table(rows, by)
    context = {
        **_month_context(request, account),
        "form": form,
        "span": span,
        "by": by,
        "chart": charts.stacked(usage.daily(rows, span, by)),
        "table": table,
        "in_range": sum((row.amount for row in table), 0),
        "csv_url": request.path
        + _query(
            account,
            start=str(span.start),
            end=str(span.end),
            by=by,
            model=model,
            deployment=deployment,
            format="csv",
        ),
    }
    return render(request, "billing/usage.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def billing_page(request):
    account = money_account(request)
    profile = BillingProfile.objects.filter(account=account).first() or BillingProfile(
        account=account
    )
    form = SpendLimitForm(
        request.POST if request.method == "POST" else None,
        initial={"spend_limit": profile.spend_limit},
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            BillingProfile.objects.update_or_create(
                account=account, defaults={"spend_limit": form.cleaned_data["spend_limit"]}
            )
            limit = limits.effective_limit(account)
            messages.success(
                request,
                f"Spend limit saved: {limits.money(limit)} a month."
                if limit is not None
                else "Spend limit removed: no limit.",
            )
            return redirect(reverse("billing") + _query(account))
        status = 422
    context = _month_context(request, account)
    context |= {
        "form": form,
        "profile": profile,
        "uses_default": profile.spend_limit is None
        and settings.BILLING_DEFAULT_SPEND_LIMIT is not None,
        "resets_at": limits.resets_at(context["month"]),
        "alerts": [
            (alert, limits.alert_sentence(alert))
            for alert in SpendAlert.objects.filter(account=account).select_related(
                "account__user", "account__organization"
            )[:24]
        ],
        "invoices": Invoice.objects.filter(account=account),
    }
    return render(request, "billing/billing.html", context, status=status)


@login_required
@require_POST
def invoice_draft(request):
    """Build (or rebuild) this month's draft invoice, then show it."""
    account = money_account(request)
    invoice = invoices.build(account, month_of(timezone.now()))
    return redirect(reverse("invoice", args=[invoice.number]) + _query(account))


@login_required
@require_GET
def invoice_page(request, number: str):
    invoice = (
        Invoice.objects.filter(number=number)
        .select_related("account__user", "account__organization")
        .first()
    )
    if invoice is None or not invoice.account.is_member(request.user):
        raise Http404("No such invoice")
    if not invoice.account.is_admin(request.user):
        raise PermissionDenied("Only the owners of an organization see its invoices.")
    context = {
        "invoice": invoice,
        "account": invoice.account,
        "lines": invoice.lines.all(),
        "period_end": limits.month_end(invoice.month),
    }
    return render(request, "billing/invoice.html", context)


@require_GET
def pricing(request):
    return render(request, "billing/pricing.html", {"hardware": Hardware.objects.all()})
