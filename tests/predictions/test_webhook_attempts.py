"""Every webhook delivery attempt is recorded on the prediction (when, which event, the
receiver's answer or why there was none) and shown to members on the prediction page."""

from __future__ import annotations

import threading

import pytest
from django.test import Client

from apps.predictions.webhooks import MAX_RECORDED_ATTEMPTS, webhook_deliver
from tests.predictions.test_webhooks import Receiver, make_prediction


@pytest.fixture
def receiver():
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def loopback_allowed(settings):
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.0/8"]


def deliver(prediction, event: str, attempt: int = 1) -> None:
    webhook_deliver(
        prediction_id=prediction.id, event=event, webhook_id=f"msg_{event}", attempt=attempt
    )


def test_it_records_the_answer_of_each_delivery(cast, receiver, loopback_allowed):
    prediction = make_prediction(cast.alice.user.account, receiver.url())
    receiver.answers["/hook"] = [503]
    deliver(prediction, "start")  # not retried: nothing is queued
    deliver(prediction, "start", attempt=2)
    prediction.refresh_from_db()
    first, second = prediction.webhook_attempts
    assert (first["event"], first["attempt"], first["status"]) == ("start", 1, 503)
    assert first["error"] == "the receiver answered 503"
    assert (second["status"], second["error"], second["attempt"]) == (200, None, 2)
    assert first["at"] <= second["at"]


def test_a_refused_address_is_recorded_with_the_reason(cast, settings, receiver):
    settings.OUTBOUND_ALLOWLIST = []
    prediction = make_prediction(cast.alice.user.account, receiver.url())
    deliver(prediction, "start")
    assert receiver.received == []
    prediction.refresh_from_db()
    [attempt] = prediction.webhook_attempts
    assert attempt["status"] is None
    assert "an address inside the network" in attempt["error"]


def test_it_keeps_only_the_last_attempts(cast, receiver, loopback_allowed):
    prediction = make_prediction(cast.alice.user.account, receiver.url())
    for number in range(1, MAX_RECORDED_ATTEMPTS + 6):
        deliver(prediction, "start", attempt=number)
    prediction.refresh_from_db()
    numbers = [attempt["attempt"] for attempt in prediction.webhook_attempts]
    assert numbers == list(range(6, MAX_RECORDED_ATTEMPTS + 6))


def test_members_see_the_attempts_on_the_page_and_others_do_not(
    client_for, cast, receiver, loopback_allowed
):
    prediction = make_prediction(cast.acme.account, receiver.url(), is_shared=True)
    receiver.answers["/hook"] = [500]
    deliver(prediction, "start")
    deliver(prediction, "start", attempt=2)
    html = client_for(cast.bob).get(f"/p/{prediction.id}").content.decode()
    section = html[html.index('id="pred-webhook"') :]
    assert receiver.url() in section
    assert "the receiver answered 500" in section
    assert section.index(">200<") < section.index("the receiver answered 500")  # newest first
    shared = Client().get(f"/p/{prediction.id}")  # anonymous, through the share link
    assert shared.status_code == 200
    assert 'id="pred-webhook"' not in shared.content.decode()
    assert receiver.url() not in shared.content.decode()
    outsider = Client()
    outsider.force_login(cast.charlie.user)
    assert outsider.get(f"/p/{prediction.id}").status_code == 200  # shared: visible
    assert 'id="pred-webhook"' not in outsider.get(f"/p/{prediction.id}").content.decode()


def test_the_page_says_when_nothing_was_attempted_yet(client_for, cast, receiver):
    prediction = make_prediction(cast.alice.user.account, receiver.url())
    html = client_for(cast.alice).get(f"/p/{prediction.id}").content.decode()
    assert "No delivery attempted yet." in html
