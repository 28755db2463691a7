"""A webhook receiver that is down when the prediction completes, then comes up: the
`completed` webhook arrives once it is up (retries after 1, 2, 4, 8, 16 and 30 s), every
attempt with the same `webhook-id`, and nothing more is sent after it was accepted."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import replicate
from replicate.webhook import WebhookSigningSecret

from apps.core.net import free_port
from apps.predictions.models import Prediction
from tests.faults.conftest import create, push, wait_for, wait_terminal

HELLO = """
    from cog import BasePredictor

    class Predictor(BasePredictor):
        def predict(self, text: str = "world") -> str:
            return "hello " + text
"""


class Receiver(ThreadingHTTPServer):
    """A webhook endpoint that records every request; it answers the statuses in `answers`
    first (a receiver still starting up), then 200."""

    daemon_threads = True

    def __init__(self, port: int, answers: list[int]) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.answers = answers
        self.received: list[tuple[int, dict, bytes]] = []  # (answer, headers, body)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status = self.server.answers.pop(0) if self.server.answers else 200
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.server.received.append((status, headers, body))
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args) -> None:
        pass


def failed_attempts(platform, prediction_id: str) -> int:
    return platform.logs().count(f"The completed webhook of prediction {prediction_id} failed")


def test_a_completed_webhook_reaches_a_receiver_that_was_down(
    platform_factory, cast, tmp_path, client
):
    version = push(cast.alice.user.account, "hello", HELLO, tmp_path)
    platform = platform_factory()
    port = free_port()  # nothing listens there yet: connections are refused
    prediction_id = create(
        platform, cast.alice, version, text="hook", webhook=f"http://127.0.0.1:{port}/hook"
    )
    done = wait_terminal(platform, prediction_id)
    assert done.status == Prediction.Status.SUCCEEDED

    # The first attempt (at once) and the second (1 s later) find nobody.
    wait_for(
        lambda: True if failed_attempts(platform, prediction_id) >= 2 else None,
        20,
        lambda: "the webhook was not attempted twice:\n" + platform.logs(),
    )
    came_up = time.monotonic()
    receiver = Receiver(port, answers=[503])  # up, but not ready for the first request
    try:
        wait_for(
            lambda: True if any(answer == 200 for answer, _h, _b in receiver.received) else None,
            60,
            lambda: f"no webhook accepted: {receiver.received}\n{platform.logs()}",
        )
        assert time.monotonic() - came_up < 30
        time.sleep(2)  # nothing more is sent once it was accepted
        received = list(receiver.received)
    finally:
        receiver.stop()

    assert [answer for answer, _h, _b in received] == [503, 200]
    ids = {headers["webhook-id"] for _a, headers, _b in received}
    assert ids == {f"msg_{prediction_id}_completed"}, ids
    assert failed_attempts(platform, prediction_id) == 3  # refused, refused, 503
    _answer, headers, body = received[-1]
    assert json.loads(body)["status"] == "succeeded"
    assert json.loads(body)["output"] == "hello hook"
    secret = client.get(
        "/v1/webhooks/default/secret", HTTP_AUTHORIZATION=f"Bearer {cast.alice.token}"
    ).json()["key"]
    replicate.webhooks.validate(  # the official client's check: raises when it fails
        headers=headers,
        body=body.decode(),
        secret=WebhookSigningSecret(key=secret),
        tolerance=120,
    )
