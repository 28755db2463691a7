"""Webhook delivery to a real HTTP receiver, through a real Dramatiq worker on the test Redis."""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dramatiq
import pytest
import replicate
from django.db import connections
from replicate.webhook import WebhookSigningSecret

from apps.catalog.models import Model, Version
from apps.core.queue import broker
from apps.predictions.models import Prediction
from apps.predictions.serializers import prediction_json
from apps.predictions.webhooks import QUEUE, deliver_webhook, prediction_webhook, webhook_sign

SECRET_URL = "/v1/webhooks/default/secret"


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> dict:
        return json.loads(self.body)

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


class Receiver(ThreadingHTTPServer):
    """A webhook endpoint on 127.0.0.1 that records every request and answers 200, or the
    statuses queued in `answers[path]` first."""

    request_queue_size = 128
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[Received] = []
        self.answers: dict[str, list[int]] = {}
        self.changed = threading.Condition()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        with self.changed:
            self.changed.wait_for(lambda: len(self.received) >= count, timeout=timeout)
            return list(self.received)

    def quiet_for(self, seconds: float) -> list[Received]:
        """Everything received, once nothing more arrived for `seconds`."""
        while True:
            count = len(self.received)
            time.sleep(seconds)
            if len(self.received) == count:
                return list(self.received)


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def _record(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        request = Received(
            self.command,
            self.path,
            {name.lower(): value for name, value in self.headers.items()},
            body,
            time.monotonic(),
        )
        with self.server.changed:
            self.server.received.append(request)
            queued = self.server.answers.get(self.path)
            status = queued.pop(0) if queued else 200
            self.server.changed.notify_all()
        self.send_response(status)
        if status in (301, 302, 303, 307, 308):
            self.send_header("Location", self.server.url("/redirected"))
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_GET = do_POST = _record

    def log_message(self, format, *args) -> None:
        pass


@pytest.fixture
def receiver():
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


class _CloseConnections(dramatiq.Middleware):
    """What the worker process does for each message: no connection outlives its message."""

    def after_process_message(self, broker, message, *, result=None, exception=None):
        connections.close_all()


@pytest.fixture
def worker(transactional_db):
    """A real Dramatiq worker thread serving the webhooks queue of the test Redis."""
    middleware = list(broker.middleware)
    broker.flush(QUEUE)
    broker.add_middleware(_CloseConnections())
    worker = dramatiq.Worker(broker, queues={QUEUE}, worker_threads=1, worker_timeout=100)
    worker.start()
    yield worker
    worker.stop(timeout=10_000)
    broker.flush(QUEUE)
    broker.middleware[:] = middleware  # no hooks of a stopped worker left on the shared broker


@pytest.fixture
def fast_retries(settings):
    settings.WEBHOOK_RETRY_DELAY = 0.2
    settings.WEBHOOK_RETRY_MAX_DELAY = 0.4


def make_prediction(owner, webhook: str, **fields) -> Prediction:
    model = Model.objects.create(owner=owner, name=f"hooked-{Model.objects.count()}")
    version = Version.objects.create(
        model=model,
        digest="a" * 64,
        openapi_schema={},
        cog_version="0.23.1",
        predictor_ref="predict.py:Predictor",
    )
    fields.setdefault("input", {"prompt": "hi"})
    return Prediction.objects.create(
        owner=owner, model=model, version=version, webhook=webhook, **fields
    )


def finish(prediction: Prediction, output="done", status=Prediction.Status.SUCCEEDED) -> None:
    prediction.status = status
    prediction.output = output
    prediction.save()


def valid_for(request: Received, key: str) -> bool:
    """The official client's check (raises when the signature does not match)."""
    replicate.webhooks.validate(
        headers=request.headers,
        body=request.body.decode(),
        secret=WebhookSigningSecret(key=key),
        tolerance=60,
    )
    return True


# Signing and the secret


def test_it_signs_the_standard_webhooks_test_vector():
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    signature = webhook_sign(
        secret=secret, webhook_id="msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp=1614265330, body=body
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_it_gives_each_account_one_stable_secret(cast, client):
    first = client.get(SECRET_URL, **cast.alice.auth())
    again = client.get(SECRET_URL, **cast.alice.auth())
    assert first.status_code == 200
    key = first.json()["key"]
    assert again.json() == {"key": key}
    prefix, _, encoded = key.partition("_")
    assert prefix == "whsec" and len(encoded) == 32 and "_" not in encoded

    acme = client.get(SECRET_URL, HTTP_AUTHORIZATION=f"Bearer {cast.acme_token}")
    assert acme.status_code == 200
    assert acme.json()["key"].startswith("whsec_")
    assert acme.json()["key"] not in (key, client.get(SECRET_URL, **cast.bob.auth()).json()["key"])


def test_the_secret_needs_a_token(cast, client):
    response = client.get(SECRET_URL)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["title"] == "Unauthenticated"


# Delivery


def test_the_completed_webhook_verifies_with_the_official_client(
    live_server, cast, receiver, worker
):
    prediction = make_prediction(cast.alice.user.account, receiver.url("/hook?customId=123"))
    finish(prediction, output="hello alice")

    prediction_webhook(prediction, "completed")

    [request] = receiver.wait_for(1)
    key = replicate.Client(api_token=cast.alice.token, base_url=live_server.url)
    key = key.webhooks.default.secret().key
    assert valid_for(request, key)
    assert (request.method, request.path) == ("POST", "/hook?customId=123")
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("selfrep")
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 30
    assert request.json == prediction_json(prediction)
    assert request.json["status"] == "succeeded" and request.json["output"] == "hello alice"
    with pytest.raises(replicate.webhook.InvalidSignatureError):
        valid_for(request, cast.acme.account.webhook_signing_secret())


def test_an_organizations_webhook_is_signed_with_its_secret(cast, client, receiver, worker):
    prediction = make_prediction(cast.acme.account, receiver.url())
    finish(prediction)
    prediction_webhook(prediction, "completed")
    [request] = receiver.wait_for(1)
    key = client.get(SECRET_URL, HTTP_AUTHORIZATION=f"Bearer {cast.acme_token}").json()["key"]
    assert valid_for(request, key)


def test_it_sends_only_the_events_in_the_filter(cast, receiver, worker):
    prediction = make_prediction(
        cast.alice.user.account, receiver.url(), webhook_events_filter=["start", "completed"]
    )
    prediction_webhook(prediction, "start")
    prediction_webhook(prediction, "output")
    prediction_webhook(prediction, "logs")
    finish(prediction)
    prediction_webhook(prediction, "completed")
    prediction_webhook(prediction, "completed")  # a second report changes nothing

    received = receiver.wait_for(2)
    received = receiver.quiet_for(1.0)
    assert [r.webhook_id for r in received] == [
        f"msg_{prediction.id}_start",
        f"msg_{prediction.id}_completed",
    ]

    only_output = make_prediction(
        cast.alice.user.account, receiver.url("/other"), webhook_events_filter=["output"]
    )
    prediction_webhook(only_output, "start")
    finish(only_output)
    prediction_webhook(only_output, "completed")
    assert [r.path for r in receiver.quiet_for(1.0)] == ["/hook", "/hook"]


def test_an_empty_filter_means_every_event(cast, receiver, worker):
    prediction = make_prediction(cast.alice.user.account, receiver.url())
    prediction_webhook(prediction, "start")
    receiver.wait_for(1)
    prediction_webhook(prediction, "logs")
    receiver.wait_for(2)
    finish(prediction)
    prediction_webhook(prediction, "completed")
    ids = [r.webhook_id for r in receiver.wait_for(3)]
    assert ids[0].endswith("_start") and "_logs_" in ids[1] and ids[2].endswith("_completed")


def test_output_events_are_throttled_and_the_last_delivery_is_the_newest(cast, receiver, worker):
    prediction = make_prediction(
        cast.alice.user.account, receiver.url(), status=Prediction.Status.PROCESSING
    )
    outputs = []
    for n in range(20):
        outputs.append(f"token{n} ")
        Prediction.objects.filter(pk=prediction.pk).update(output=outputs, logs=f"step {n}\n")
        prediction_webhook(prediction, "output" if n % 2 else "logs")
        time.sleep(0.015)

    received = receiver.wait_for(1)
    received = receiver.quiet_for(1.2)
    assert 1 <= len(received) <= 3
    assert received[-1].json["output"] == outputs
    assert received[-1].json["logs"] == "step 19\n"
    gaps = [b.at - a.at for a, b in zip(received, received[1:], strict=False)]
    # The guarantee is 500 ms between the sends; arrivals may be a little closer.
    assert all(gap >= 0.3 for gap in gaps), gaps
    assert len({r.webhook_id for r in received}) == len(received)


def test_completed_supersedes_a_waiting_output(cast, receiver, worker):
    prediction = make_prediction(
        cast.alice.user.account, receiver.url(), status=Prediction.Status.PROCESSING
    )
    Prediction.objects.filter(pk=prediction.pk).update(output=["a"])
    prediction_webhook(prediction, "output")
    receiver.wait_for(1)
    Prediction.objects.filter(pk=prediction.pk).update(output=["a", "b"])
    prediction_webhook(prediction, "output")  # inside the interval: waits for its turn
    finish(prediction, output=["a", "b", "c"])
    prediction_webhook(prediction, "completed")

    received = receiver.wait_for(2)
    received = receiver.quiet_for(1.2)
    assert received[-1].webhook_id == f"msg_{prediction.id}_completed"
    assert received[-1].json["output"] == ["a", "b", "c"]
    assert [r.json["output"] for r in received] == [["a"], ["a", "b", "c"]]


def test_a_failed_completed_webhook_is_retried_with_the_same_id(
    cast, receiver, worker, fast_retries
):
    receiver.answers["/hook"] = [500, 200]
    prediction = make_prediction(cast.alice.user.account, receiver.url())
    finish(prediction)
    prediction_webhook(prediction, "completed")

    first, second = receiver.wait_for(2)
    assert first.webhook_id == second.webhook_id == f"msg_{prediction.id}_completed"
    assert second.at - first.at >= 0.2
    key = cast.alice.user.account.webhook_signing_secret()
    assert valid_for(first, key) and valid_for(second, key)
    assert len(receiver.quiet_for(0.8)) == 2


def test_retries_stop_after_the_last_attempt(cast, receiver, worker, fast_retries, settings):
    settings.WEBHOOK_RETRIES = 2
    receiver.answers["/hook"] = [503] * 10
    prediction = make_prediction(cast.alice.user.account, receiver.url())
    finish(prediction, status=Prediction.Status.FAILED)
    prediction_webhook(prediction, "completed")
    receiver.wait_for(3)
    assert len(receiver.quiet_for(1.0)) == 3


def test_other_events_are_not_retried(cast, receiver, worker, fast_retries):
    receiver.answers["/hook"] = [500, 500, 500]
    prediction = make_prediction(cast.alice.user.account, receiver.url())
    prediction_webhook(prediction, "start")
    receiver.wait_for(1)
    assert len(receiver.quiet_for(1.0)) == 1


def test_redirects_are_not_followed(cast, receiver, worker, fast_retries):
    receiver.answers["/hook"] = [302]
    prediction = make_prediction(cast.alice.user.account, receiver.url())
    finish(prediction)
    prediction_webhook(prediction, "completed")
    receiver.wait_for(1)
    assert [r.path for r in receiver.quiet_for(1.0)] == ["/hook"]


def test_internal_addresses_are_refused_without_a_request(cast, receiver, worker, settings):
    settings.OUTBOUND_ALLOWLIST = []
    prediction = make_prediction(cast.alice.user.account, receiver.url())
    finish(prediction)
    prediction_webhook(prediction, "completed")
    time.sleep(1.0)
    assert receiver.received == []


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/"])
def test_metadata_and_private_addresses_are_refused(cast, caplog, url):
    prediction = make_prediction(cast.alice.user.account, url)
    finish(prediction)
    started = time.monotonic()
    with caplog.at_level(logging.INFO, logger="apps.predictions.webhooks"):
        deliver_webhook.fn(prediction.id, "completed", f"msg_{prediction.id}_completed", 1)
    assert time.monotonic() - started < 2  # refused before any connection attempt
    [record] = [r for r in caplog.records if r.name == "apps.predictions.webhooks"]
    assert record.levelno == logging.WARNING
    assert "refused" in record.getMessage() and "giving up" in record.getMessage()
