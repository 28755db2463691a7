"""The money pages and the usage API: the chart, the table and the CSV agree with the ledger;
invoices add up to the cent; bad input is a clear error next to its field or a 400 problem."""

from __future__ import annotations

import base64
import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from apps.billing import invoices
from apps.billing.models import BillingProfile, Hardware, Invoice, UsageRecord, month_of
from tests.billing.factories import spend

PROBLEM = "application/problem+json"


@pytest.fixture
def ledger(cast):
    """alice's usage: three models, two hardware, a deployment, over three days."""
    alice = cast.alice.user.account
    now, day = timezone.now(), timedelta(days=1)
    rows = [
        spend(alice, "0.123456789", model="alice/painter", when=now),
        spend(alice, "0.000000001", model="alice/painter", when=now),
        spend(alice, "1.005", model="alice/writer", hardware="gpu-t4", when=now - day),
        spend(alice, "2.333333333", model="alice/writer", hardware="gpu-t4", when=now),
        spend(alice, "0.5", model="alice/painter", deployment="alice/web", kind="instance",
              when=now - 2 * day),
        spend(alice, "0", model="alice/painter", when=now),  # a free run
        spend(cast.acme.account, "7", model="acme/secret", when=now),  # somebody else's
    ]  # fmt: skip
    return rows


def csv_rows(content: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(content.decode())))


def test_the_usage_page_shows_the_month_a_chart_and_a_table(client_for, cast, ledger):
    page = client_for(cast.alice).get("/account/usage")
    assert page.status_code == 200
    html = page.content.decode()
    total = sum(r.amount for r in ledger if r.account_id == cast.alice.user.account.pk)
    assert f"${total.quantize(Decimal('0.01'))}" in html
    assert html.count('<rect class="bar series-') >= 4  # three days, stacked
    assert "alice/painter" in html and "alice/writer" in html
    assert "acme/secret" not in html
    by_hardware = client_for(cast.alice).get("/account/usage?by=hardware").content.decode()
    assert "gpu-t4" in by_hardware and "Spend by hardware" in by_hardware
    by_deployment = client_for(cast.alice).get("/account/usage?by=deployment").content.decode()
    assert "alice/web" in by_deployment and "(not a deployment)" in by_deployment
    filtered = client_for(cast.alice).get("/account/usage?model=alice/writer").content.decode()
    assert "$3.34" in filtered  # 1.005 + 2.333333333, to the cent


def test_the_csv_is_the_ledger(client_for, cast, ledger):
    today = timezone.now().date()
    response = client_for(cast.alice).get(
        f"/account/usage?format=csv&start={today - timedelta(days=29)}&end={today}"
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = csv_rows(response.content)
    ours = UsageRecord.objects.filter(account=cast.alice.user.account).order_by("ended_at", "pk")
    assert [int(r["id"]) for r in rows] == [r.pk for r in ours]
    for row, record in zip(rows, ours, strict=True):
        assert Decimal(row["amount"]) == record.amount
        assert Decimal(row["seconds"]) == record.seconds
        assert row["model"] == record.model and row["kind"] == record.kind
    assert sum(Decimal(r["amount"]) for r in rows) == sum(r.amount for r in ours)
    only_writer = csv_rows(
        client_for(cast.alice).get("/account/usage?format=csv&model=alice/writer").content
    )
    assert {r["model"] for r in only_writer} == {"alice/writer"} and len(only_writer) == 2


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("start=2026-05-01&end=2026-04-01", "is after end"),
        ("start=2024-01-01&end=2026-01-01", "at most 366 days"),
        ("start=yesterday", "must be a date"),
        ("end=2026-13-45", "must be a date"),
        ("model=nobody/nothing", "Select a valid choice"),
    ],
)
def test_a_bad_range_is_an_error_next_to_the_field(client_for, cast, query, message):
    response = client_for(cast.alice).get(f"/account/usage?{query}")
    assert response.status_code == 422
    assert message in response.content.decode()
    assert 'role="alert"' in response.content.decode()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-5", "cannot be negative"),
        ("ten dollars", "Enter an amount in dollars"),
        ("1.234", "to the cent"),
        ("NaN", "Enter an amount in dollars"),
        ("1e12", "at most"),
    ],
)
def test_a_bad_spend_limit_is_an_error_next_to_the_field(client_for, cast, value, message):
    response = client_for(cast.alice).post("/account/billing", {"spend_limit": value})
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not BillingProfile.objects.filter(spend_limit__isnull=False).exists()


def test_the_spend_limit_is_saved_and_removed(client_for, cast):
    client = client_for(cast.alice)
    response = client.post("/account/billing?account=acme", {"spend_limit": "25.50"})
    assert response.status_code == 302
    assert BillingProfile.objects.get(account=cast.acme.account).spend_limit == Decimal("25.50")
    page = client.get(response["Location"]).content.decode()
    assert "Spend limit saved: $25.50 a month." in page
    client.post("/account/billing?account=acme", {"spend_limit": ""})
    assert BillingProfile.objects.get(account=cast.acme.account).spend_limit is None


def test_invoices_add_up_to_the_cent_and_a_final_one_never_changes(client_for, cast, ledger):
    alice = cast.alice.user.account
    month = month_of(timezone.now())
    draft = invoices.build(alice, month)
    lines = list(draft.lines.all())
    assert draft.status == "draft" and lines
    assert draft.total == sum(line.amount for line in lines)
    ledger_rows = UsageRecord.objects.filter(account=alice, month=month)
    assert sum(line.exact_amount for line in lines) == sum(r.amount for r in ledger_rows)
    for line in lines:
        exact = sum(
            r.amount
            for r in ledger_rows
            if (r.model, r.deployment, r.hardware) == (line.model, line.deployment, line.hardware)
        )
        assert line.exact_amount == exact
        assert line.amount == exact.quantize(Decimal("0.01"))
    assert draft.records == ledger_rows.count()

    page = client_for(cast.alice).get(f"/account/billing/invoices/{draft.number}")
    html = page.content.decode()
    assert page.status_code == 200 and "Draft" in html
    assert f"${draft.total}" in html and "Deployment alice/web" in html

    final = invoices.build(alice, month, final=True)
    assert final.pk == draft.pk and final.is_final
    frozen = (final.total, list(final.lines.values_list("amount", flat=True)))
    spend(alice, "3", model="alice/painter")  # arrives after the month was closed
    again = invoices.build(alice, month)
    assert (again.total, list(again.lines.values_list("amount", flat=True))) == frozen
    late = UsageRecord.objects.filter(account=alice).order_by("-pk").first()
    assert late.month > month  # it went into the next month


def test_the_invoices_command_closes_last_month_and_drafts_this_one(cast):
    alice = cast.alice.user.account
    now = timezone.now()
    last_month_day = now.replace(day=1) - timedelta(days=3)
    spend(alice, "4.004", when=last_month_day)
    spend(alice, "1", when=now)
    out = io.StringIO()
    call_command("invoices", stdout=out)
    closed = Invoice.objects.get(account=alice, month=month_of(last_month_day))
    assert closed.is_final and closed.total == Decimal("4.00")
    call_command("invoices", "--draft", stdout=out)
    assert Invoice.objects.get(account=alice, month=month_of(now)).status == "draft"
    assert "final" in out.getvalue() and "draft" in out.getvalue()


def test_an_invoice_of_another_account_is_not_found(client_for, cast, ledger):
    invoice = invoices.build(cast.acme.account, month_of(timezone.now()))
    assert (
        client_for(cast.charlie).get(f"/account/billing/invoices/{invoice.number}").status_code
        == 404
    )
    assert (
        client_for(cast.bob).get(f"/account/billing/invoices/{invoice.number}").status_code == 403
    )
    assert (
        client_for(cast.alice).get("/account/billing/invoices/INV-000000-000001").status_code == 404
    )


def test_the_pricing_page_lists_the_hardware_and_prices(client, cast):
    html = client.get("/pricing").content.decode()
    for hardware in Hardware.objects.all():
        assert hardware.name in html and f"${hardware.price_per_second:.6f}/s" in html
    assert "Public models" in html and "Deployments" in html


def test_a_price_of_zero_or_below_is_refused_in_the_admin(admin_client):
    cpu = Hardware.objects.get(sku="cpu")
    for price in ("0", "-0.0001"):
        response = admin_client.post(
            f"/admin/billing/hardware/{cpu.pk}/change/",
            {"sku": "cpu", "name": "CPU", "price_per_second": price, "gpu_count": 0,
             "position": 0, "available": "on"},
        )  # fmt: skip
        assert response.status_code == 200
        assert "A price must be more than zero." in response.content.decode()
    cpu.refresh_from_db()
    assert cpu.price_per_second == Decimal("0.000100")


# --- the API -----------------------------------------------------------------------------


def api(client, token, query=""):
    return client.get(f"/v1/account/usage{query}", HTTP_AUTHORIZATION=f"Bearer {token}")


def test_the_api_lists_the_tokens_accounts_records(client, cast, ledger):
    response = api(client, cast.alice.token)
    assert response.status_code == 200
    body = response.json()
    assert {"next", "previous", "results"} <= set(body)
    ours = UsageRecord.objects.filter(account=cast.alice.user.account)
    assert {r["id"] for r in body["results"]} == set(ours.values_list("pk", flat=True))
    row = body["results"][0]
    assert set(row) >= {"kind", "model", "hardware", "seconds", "unit_price", "amount", "month"}
    assert isinstance(row["amount"], str)  # exact decimals, never floats
    acme = api(client, cast.acme_token).json()["results"]
    assert {r["model"] for r in acme} == {"acme/secret"}

    daily = api(client, cast.alice.token, "?group=daily").json()["results"]
    assert len(daily) == 30
    assert sum(Decimal(day["amount"]) for day in daily) == sum(r.amount for r in ours)


def test_the_api_paginates_the_records(client, cast, settings):
    settings.API_PAGE_SIZE = 2
    for _ in range(5):
        spend(cast.alice.user.account, "0.01")
    seen, url = [], "/v1/account/usage"
    while url:
        body = client.get(url, HTTP_AUTHORIZATION=f"Bearer {cast.alice.token}").json()
        seen += [r["id"] for r in body["results"]]
        url = body["next"]
    assert len(seen) == 5 == len(set(seen))


@pytest.mark.parametrize(
    ("query", "title"),
    [
        ("?start=2026-05-01&end=2026-04-01", "Invalid start"),
        ("?start=2020-01-01&end=2026-01-01", "Invalid end"),
        ("?start=soon", "Invalid start"),
        ("?group=hourly", "Invalid group"),
    ],
)
def test_the_api_explains_a_bad_query(client, cast, query, title):
    response = api(client, cast.alice.token, query)
    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    assert response.json()["title"] == title


def test_the_admin_sums_usage_by_account_and_month(admin_client, cast, ledger):
    month = month_of(timezone.now())
    response = admin_client.get(f"/admin/billing/usagerecord/?month__exact={month}&q=alice")
    assert response.status_code == 200
    expected = sum(
        r.amount for r in ledger if r.account_id == cast.alice.user.account.pk and r.month == month
    )
    assert f"Total of the records matching these filters: ${expected}" in response.content.decode()


def test_a_crafted_cursor_is_a_400_not_a_500(client, cast):
    cursor = base64.urlsafe_b64encode(b"p=2026-01-01T00:00:00%2B00:00&i=abc").decode()
    response = api(client, cast.alice.token, f"?cursor={cursor}")
    assert response.status_code == 400 and response.json()["title"] == "Invalid cursor"


def test_a_zero_limit_reads_as_all_spent(client_for, cast):
    BillingProfile.objects.create(account=cast.alice.user.account, spend_limit=Decimal(0))
    html = client_for(cast.alice).get("/account/billing").content.decode()
    assert "monthly limit (100%)" in html and "None" not in html
