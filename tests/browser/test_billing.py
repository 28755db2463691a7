"""Billing in the browser: a prediction's cost on its page and in the usage chart (stacked by
model, then hardware) and its CSV; a run past the spend limit refused in the playground with
the limit's sentence; this month's invoice drafted and printed."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.template.defaultfilters import floatformat

from apps.billing.models import BillingProfile, UsageRecord
from apps.predictions.models import Prediction
from tests.billing.factories import spend
from tests.e2e.platform import push_model

pytestmark = pytest.mark.django_db(transaction=True)


def run_in_playground(page, text: str) -> None:
    page.goto("/alice/hello")
    page.fill("textarea[name=text], input[name=text]", text)
    page.click("#playground-form button[type=submit]")


def test_a_runs_cost_shows_on_its_page_and_in_the_usage_chart(login, cast, screens, tmp_path):
    version = push_model(cast.alice.user.account, "hello", tmp_path)
    page = login(cast.alice)
    run_in_playground(page, "meter me")
    page.locator("text=hello meter me").first.wait_for(timeout=90000)
    prediction = Prediction.objects.get(version=version)
    page.goto(f"/p/{prediction.id}")
    record = UsageRecord.objects.get(kind="prediction", object_id=prediction.id)
    cost = page.locator("dt:has-text('Cost') + dd").inner_text()
    # As the page rounds it (half up: $0.0000005 shows as $0.000001).
    assert f"${floatformat(record.amount, 6)}" in cost and "CPU" in cost
    screens(page, "prediction-cost")

    page.click("nav[aria-label=Account] a:has-text('Usage')")
    page.wait_for_url(re.compile(r".*/account/usage$"))
    bars = page.locator("#usage-chart rect.bar")
    assert bars.count() == 1
    assert "alice/hello" in bars.first.locator("title").text_content()
    assert "alice/hello" in page.inner_text("#usage-chart .legend")
    assert "alice/hello" in page.inner_text("table.usage-table").lower()
    screens(page, "usage-by-model")

    page.select_option("select[name=by]", "hardware")
    page.click("form.usage-filters button[type=submit]")
    page.wait_for_url(re.compile(r".*by=hardware.*"))
    assert "cpu" in page.inner_text("#usage-chart .legend")
    screens(page, "usage-by-hardware")

    with page.expect_download() as download:
        page.click("a:has-text('Export CSV')")
    text = download.value.path().read_text()
    assert prediction.id in text and str(record.amount) in text


def test_a_run_past_the_spend_limit_is_refused_in_the_playground(login, cast, screens, tmp_path):
    push_model(cast.alice.user.account, "hello", tmp_path)
    page = login(cast.alice)
    page.goto("/account/billing")
    page.fill("input[name=spend_limit]", "-3")
    page.click("main button:has-text('Save limit')")
    assert "cannot be negative" in page.inner_text(".field.has-error")
    page.fill("input[name=spend_limit]", "2")
    page.click("main button:has-text('Save limit')")
    page.locator("text=Spend limit saved: $2.00 a month.").wait_for()
    assert BillingProfile.objects.get(account=cast.alice.user.account).spend_limit == Decimal(2)
    spend(cast.alice.user.account, "2.40", model="alice/hello")

    run_in_playground(page, "too much")
    alert = page.locator("#playground-form [role=alert]")
    alert.wait_for()
    sentence = alert.inner_text()
    assert "has reached its monthly spend limit of $2.00" in sentence
    assert "$2.40 spent so far" in sentence and "resets on" in sentence
    screens(page, "refused")
    assert not Prediction.objects.filter(owner=cast.alice.user.account).exists()


def test_this_months_invoice_is_drafted_and_printable(login, cast, screens):
    spend(cast.alice.user.account, "1.234", model="alice/painter")
    spend(cast.alice.user.account, "0.5", model="alice/painter", hardware="gpu-t4")
    page = login(cast.alice)
    page.goto("/account/billing")
    page.click('button:has-text("Draft this month\'s invoice")')
    page.wait_for_url(re.compile(r".*/account/billing/invoices/INV-\d{6}-\d{6}\?account=alice$"))
    lines = page.locator("table.invoice-lines tbody tr")
    assert lines.count() == 2
    assert page.inner_text("table.invoice-lines tfoot .total") == "$1.73"  # 1.23 + 0.50
    assert "Draft" in page.inner_text(".invoice-head")
    screens(page, "invoice")
    page.emulate_media(media="print")
    assert not page.locator("header.topbar").is_visible()
    assert page.locator("table.invoice-lines").is_visible()
    screens(page, "invoice-print")
