"""The official `replicate` Python client, unchanged, against a running platform."""

from __future__ import annotations

import time

import httpx
import pytest
import replicate
from replicate.exceptions import ReplicateError


def client(platform, person_or_token) -> replicate.Client:
    token = person_or_token if isinstance(person_or_token, str) else person_or_token.token
    return replicate.Client(api_token=token, base_url=platform.url)


def test_run_a_plain_model_waits_for_the_output(platform, models, cast):
    output = client(platform, cast.alice).run(
        f"alice/hello:{models['hello'].digest}", input={"text": "Ada"}
    )
    assert output == "hello Ada"


def test_run_by_model_name_uses_the_latest_version(platform, models, cast):
    output = client(platform, cast.bob).run("alice/hello", input={"text": "Bob", "upper": True})
    assert output == "HELLO BOB"


def test_run_a_streaming_model_returns_its_items(platform, models, cast):
    output = client(platform, cast.alice).run(
        f"alice/streamer:{models['streamer'].digest}", input={"words": 4, "delay": 0}
    )
    assert "".join(output) == "w0 w1 w2 w3 "


def test_stream_yields_tokens_as_they_are_made(platform, models, cast):
    started = time.monotonic()
    arrivals = []
    tokens = []
    for event in client(platform, cast.alice).stream(
        f"alice/streamer:{models['streamer'].digest}", input={"words": 6, "delay": 0.3}
    ):
        tokens.append(str(event))
        arrivals.append(time.monotonic() - started)
    assert "".join(tokens) == "w0 w1 w2 w3 w4 w5 "
    # The first token arrived well before the last one was made (~1.5 s later).
    assert arrivals[0] < arrivals[-1] - 0.9


def test_predictions_create_get_list_and_wait(platform, models, cast):
    api = client(platform, cast.alice)
    prediction = api.predictions.create(version=models["hello"].digest, input={"text": "x"})
    assert prediction.status == "starting"
    assert prediction.urls["get"].startswith(platform.url)
    prediction.wait()
    assert prediction.status == "succeeded"
    assert prediction.output == "hello x"
    assert "greeting x" in prediction.logs
    assert prediction.metrics["predict_time"] >= 0
    again = api.predictions.get(prediction.id)
    assert again.output == "hello x"
    listed = api.predictions.list()
    assert prediction.id in [p.id for p in listed.results]


def test_cancel_a_running_prediction(platform, models, cast):
    api = client(platform, cast.alice)
    prediction = api.predictions.create(
        version=models["hello"].digest, input={"text": "slow", "sleep": 60}
    )
    deadline = time.monotonic() + 60
    while prediction.status != "processing" and time.monotonic() < deadline:
        time.sleep(0.2)
        prediction.reload()
    prediction.cancel()
    prediction.wait()
    assert prediction.status == "canceled"


def test_invalid_input_is_refused_before_running(platform, models, cast):
    with pytest.raises(ReplicateError) as raised:
        client(platform, cast.alice).run(
            f"alice/hello:{models['hello'].digest}", input={"sleep": 500}
        )
    assert raised.value.status == 422
    assert raised.value.title == "Input validation failed"
    assert "sleep" in raised.value.detail


def test_outsiders_cannot_run_or_read_private_models(platform, models, cast):
    api = client(platform, cast.charlie)
    with pytest.raises(ReplicateError) as raised:
        api.run(f"acme/sizer:{models['sizer'].digest}", input={"file": "data:,abc"})
    assert raised.value.status == 422
    assert raised.value.title == "Invalid version or not permitted"
    mine = client(platform, cast.bob).predictions.create(
        version=models["sizer"].digest, input={"file": "data:text/plain,abcd"}
    )
    with pytest.raises(ReplicateError) as raised:
        api.predictions.get(mine.id)
    assert raised.value.status == 404


def test_a_data_uri_file_input(platform, models, cast):
    output = client(platform, cast.bob).run(
        f"acme/sizer:{models['sizer'].digest}", input={"file": "data:text/plain;base64,aGVsbG8="}
    )
    assert output == 5


def test_sync_mode_answers_starting_when_the_wait_runs_out(platform, models, cast):
    response = httpx.post(
        f"{platform.url}/v1/predictions",
        headers={**{"Authorization": f"Bearer {cast.alice.token}"}, "Prefer": "wait=1"},
        json={"version": models["hello"].digest, "input": {"sleep": 3}},
        timeout=10,
    )
    assert response.status_code == 201
    assert response.headers["Preference-Applied"] == "wait=1"
    assert response.json()["status"] == "starting"


def test_an_uploaded_file_works_as_a_prediction_input(platform, models, cast, tmp_path):
    path = tmp_path / "upload.bin"
    path.write_bytes(b"0123456789" * 100)
    api = client(platform, cast.bob)
    uploaded = api.files.create(path)
    assert uploaded.size == 1000
    output = api.run(f"acme/sizer:{models['sizer'].digest}", input={"file": uploaded.urls["get"]})
    assert output == 1000


def test_a_local_file_handle_is_uploaded_by_the_client(platform, models, cast, tmp_path):
    path = tmp_path / "note.txt"
    path.write_text("twelve bytes")
    with open(path, "rb") as handle:
        output = client(platform, cast.bob).run(
            f"acme/sizer:{models['sizer'].digest}", input={"file": handle}
        )
    assert output == 12


class _Receiver:
    """A real webhook receiver on loopback that records what it is sent."""

    def __init__(self):
        import http.server
        import threading

        received = self.received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((dict(self.headers), body))
                self.send_response(200)
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.request_queue_size = 128
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook?custom=1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_webhooks_arrive_signed_and_validate_with_the_official_client(platform, models, cast):
    import json

    import httpx as _httpx

    receiver = _Receiver()
    api = client(platform, cast.alice)
    secret = api.webhooks.default.secret()
    assert secret.key.startswith("whsec_")
    prediction = api.predictions.create(
        version=models["streamer"].digest,
        input={"words": 3, "delay": 0.3},
        webhook=receiver.url,
        webhook_events_filter=["start", "output", "completed"],
    )
    prediction.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(
        json.loads(body)["status"] == "succeeded" for _h, body in receiver.received
    ):
        time.sleep(0.2)
    statuses = [json.loads(body)["status"] for _headers, body in receiver.received]
    assert statuses[0] == "processing" and statuses[-1] == "succeeded"
    assert len(statuses) >= 3  # start, at least one output, completed
    for headers, body in receiver.received:
        request = _httpx.Request("POST", receiver.url, headers=headers, content=body)
        replicate.webhooks.validate(request=request, secret=secret)  # raises if invalid
    final = json.loads(receiver.received[-1][1])
    assert final["id"] == prediction.id and "".join(final["output"]) == "w0 w1 w2 "
