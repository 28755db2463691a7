"""Spend limits: refused at admission with a 402 that says which limit, how much is spent and
when it resets (API, playground, deployments); 50 concurrent creates never get past the
admitted work; alerts at 50, 80 and 100 %, once each a month."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection, transaction

from apps.billing import limits
from apps.billing.limits import SpendLimitReached
from apps.billing.models import BillingProfile, Hardware, SpendAlert
from apps.core.queue import broker
from apps.deployments import services as deployment_services
from apps.predictions.models import Prediction
from apps.predictions.services import prediction_create
from tests.billing.factories import spend
from tests.catalog.factories import SCHEMA, add_version, make_model

PROBLEM = "application/problem+json"


@pytest.fixture
def version(cast):
    model = make_model(cast, "public", owner=cast.alice.user.account, name="painter")
    yield add_version(model, "c" * 64, SCHEMA)
    broker.flush("cpu")


def set_limit(account, amount) -> None:
    BillingProfile.objects.update_or_create(
        account=account, defaults={"spend_limit": Decimal(amount) if amount is not None else None}
    )


def post(client, token, body, path="/v1/predictions"):
    return client.post(
        path, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )


def test_the_api_refuses_past_the_limit_with_a_402_that_says_why(client, cast, version):
    alice = cast.alice.user.account
    set_limit(alice, "5")
    spend(alice, "5.20")
    before = Prediction.objects.count()
    response = post(client, cast.alice.token, {"version": "c" * 64, "input": {"prompt": "x"}})
    assert response.status_code == 402
    assert response["Content-Type"] == PROBLEM
    problem = response.json()
    assert problem["title"] == "Spend limit reached"
    assert "$5.00" in problem["detail"] and "$5.20" in problem["detail"]
    assert "resets on" in problem["detail"] and "/account/billing" in problem["detail"]
    assert problem["spend_limit"] == "5.00" and problem["spent"] == "5.20"
    assert problem["resets_at"].endswith("T00:00:00Z")
    assert Prediction.objects.count() == before  # nothing saved

    # The models endpoint and another account are judged by their own limits.
    model_path = "/v1/models/alice/painter/predictions"
    assert post(client, cast.alice.token, {"input": {"prompt": "x"}}, model_path).status_code == 402
    assert (
        post(client, cast.acme_token, {"version": "c" * 64, "input": {"prompt": "x"}}).status_code
        == 201
    )

    set_limit(alice, "10")  # raised: admitted again
    assert (
        post(client, cast.alice.token, {"version": "c" * 64, "input": {"prompt": "x"}}).status_code
        == 201
    )


def test_the_installation_default_applies_unless_the_account_sets_its_own(
    client, cast, version, settings
):
    settings.BILLING_DEFAULT_SPEND_LIMIT = Decimal("1")
    alice = cast.alice.user.account
    spend(alice, "1")
    assert (
        post(client, cast.alice.token, {"version": "c" * 64, "input": {"prompt": "x"}}).status_code
        == 402
    )
    set_limit(alice, "100")
    assert (
        post(client, cast.alice.token, {"version": "c" * 64, "input": {"prompt": "x"}}).status_code
        == 201
    )


def test_the_playground_shows_the_same_sentence(client_for, cast, version):
    alice = cast.alice.user.account
    set_limit(alice, "2")
    spend(alice, "3")
    client = client_for(cast.alice)
    response = client.post("/alice/painter/predictions", {"prompt": "hi"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 402
    page = response.content.decode()
    assert "has reached its monthly spend limit of $2.00" in page
    assert "$3.00 spent so far" in page
    assert 'role="alert"' in page
    assert not Prediction.objects.filter(owner=alice).exists()


def test_a_deployment_prediction_past_the_limit_is_a_402(client, cast):
    model = make_model(cast, "private", owner=cast.acme.account, name="deployed")
    version = add_version(model, "d" * 64, SCHEMA)
    deployment = deployment_services.deployment_create(
        owner=cast.acme.account,
        name="web",
        model=model,
        config=deployment_services.check_config(version, Hardware.objects.get(sku="cpu"), 0, 1),
        by=cast.acme.account,
        user=cast.alice.user,
    )
    set_limit(cast.acme.account, "1")
    spend(cast.acme.account, "1.5", deployment=deployment.full_name)
    response = post(
        client, cast.acme_token, {"input": {"prompt": "x"}}, "/v1/deployments/acme/web/predictions"
    )
    assert response.status_code == 402 and response.json()["title"] == "Spend limit reached"
    assert limits.is_blocked(cast.acme.account) is not None  # no instance starts either
    broker.flush("deployment.acme.web")


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_creates_never_get_past_the_admitted_work(cast, version):
    alice = cast.alice.user.account
    # No successful run yet: a run is expected to take a second, on 8x H100 $0.0122. Spent
    # $0.028 of $0.15: room for exactly ten runs.
    version.model.default_hardware = Hardware.objects.get(sku="gpu-h100-8x")
    version.model.save()
    spend(alice, "0.028")
    set_limit(alice, "0.15")
    admitted, refused, errors = [], [], []
    barrier = threading.Barrier(50)

    def create(n: int) -> None:
        try:
            barrier.wait(timeout=30)
            with transaction.atomic():
                admitted.append(
                    prediction_create(version=version, owner=alice, input={"prompt": str(n)})
                )
        except SpendLimitReached:
            refused.append(n)
        except Exception as error:  # noqa: BLE001 (reported below)
            errors.append(repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(n,)) for n in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    try:
        assert not errors, errors
        assert len(admitted) == 10 and len(refused) == 40
        assert Prediction.objects.filter(owner=alice).count() == 10
    finally:
        # Fifty threads grew this process's PostgreSQL pool to its maximum: start the next
        # tests with a fresh one (the fault tests kill every other connection to the
        # database, and a pool full of killed connections kept them waiting past its timeout).
        if connection.vendor == "postgresql":
            connection.close()
            connection.close_pool()


def test_alerts_at_50_80_and_100_percent_once_each(client_for, cast):
    alice = cast.alice.user.account
    alice.user.email = "alice@example.test"
    alice.user.save()
    set_limit(alice, "10")
    spend(alice, "4.99")
    assert not SpendAlert.objects.exists() and not mail.outbox
    spend(alice, "0.01")  # 50 %
    spend(alice, "0.5")
    assert list(SpendAlert.objects.values_list("threshold", flat=True)) == [50]
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["alice@example.test"]
    assert "50%" in mail.outbox[0].subject and "$5.00" in mail.outbox[0].body
    spend(alice, "4")  # 9.50: 80 %, not 100 %
    spend(alice, "2")  # 11.50: 100 %
    spend(alice, "1")
    assert sorted(SpendAlert.objects.values_list("threshold", flat=True)) == [50, 80, 100]
    assert len(mail.outbox) == 3
    assert "refused" in mail.outbox[2].body

    page = client_for(cast.alice).get("/dashboard").content.decode()
    assert "100% of its $10.00 monthly spend limit" in page
    billing = client_for(cast.alice).get("/account/billing").content.decode()
    assert billing.count("monthly spend limit.") >= 3


def test_an_organizations_alerts_go_to_its_owners_and_its_dashboard_line_too(client_for, cast):
    cast.alice.user.email = "alice@example.test"
    cast.alice.user.save()
    cast.bob.user.email = "bob@example.test"
    cast.bob.user.save()
    set_limit(cast.acme.account, "1")
    spend(cast.acme.account, "1", model="acme/painter")
    assert [message.to for message in mail.outbox] == [["alice@example.test"]]  # owners only
    assert "100%" in mail.outbox[0].subject  # 50, 80 and 100 at once: one mail
    owner = client_for(cast.alice).get("/dashboard?account=acme").content.decode()
    assert "acme has spent $1.00" in owner
    member = client_for(cast.bob).get("/dashboard?account=acme").content.decode()
    assert "acme has spent" not in member
