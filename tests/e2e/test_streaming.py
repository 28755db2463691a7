"""Server-sent events behind urls.stream, against a running platform."""

from __future__ import annotations

import time

import httpx

from apps.core.sse import parse_events


def create(platform, person, version, **input):
    response = httpx.post(
        f"{platform.url}/v1/predictions",
        headers={"Authorization": f"Bearer {person.token}"},
        json={"version": version.digest, "input": input},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()


def wait_done(platform, person, prediction, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = httpx.get(
            prediction["urls"]["get"], headers={"Authorization": f"Bearer {person.token}"}
        ).json()
        if body["status"] in ("succeeded", "failed", "canceled"):
            return body
        time.sleep(0.1)
    raise AssertionError("prediction did not finish")


def read_events(url, headers=None, limit=None, arrivals=None):
    """Parse an SSE response into (event, id, data) tuples, as the clients do; the arrival
    time of each event is appended to `arrivals` when given."""
    events = []
    with httpx.stream(
        "GET", url, headers={"Accept": "text/event-stream", **(headers or {})}, timeout=30
    ) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for event in parse_events(response.iter_lines()):
            events.append(event)
            if arrivals is not None:
                arrivals.append(time.monotonic())
            if event[0] == "done" or (limit and len(events) >= limit):
                break
    return events


def test_a_late_watcher_gets_the_whole_output_then_done(platform, models, cast):
    prediction = create(platform, cast.alice, models["streamer"], words=5, delay=0)
    wait_done(platform, cast.alice, prediction)
    events = read_events(prediction["urls"]["stream"])  # no Authorization header at all
    outputs = [data for kind, _id, data in events if kind == "output"]
    assert "".join(outputs) == "w0 w1 w2 w3 w4 "
    assert events[-1][0] == "done" and events[-1][2] == "{}"
    assert all(event_id for _kind, event_id, _data in events)
    assert {kind for kind, _id, _data in events} <= {"output", "done", "error"}


def test_tokens_arrive_while_the_model_runs(platform, models, cast):
    prediction = create(platform, cast.alice, models["streamer"], words=8, delay=0.2)
    arrivals: list[float] = []
    events = read_events(prediction["urls"]["stream"], arrivals=arrivals)
    outputs = [data for kind, _id, data in events if kind == "output"]
    assert "".join(outputs) == "".join(f"w{i} " for i in range(8))
    # Eight tokens 0.2 s apart: the first arrived over a second before the last.
    assert arrivals[len(outputs) - 1] - arrivals[0] > 1.0


def test_reconnecting_with_last_event_id_resumes_without_duplicates(platform, models, cast):
    prediction = create(platform, cast.alice, models["streamer"], words=6, delay=0.1)
    first = read_events(prediction["urls"]["stream"], limit=2)
    assert [data for _kind, _id, data in first] == ["w0 ", "w1 "]
    rest = read_events(prediction["urls"]["stream"], headers={"Last-Event-ID": first[-1][1]})
    outputs = [data for kind, _id, data in rest if kind == "output"]
    assert outputs == ["w2 ", "w3 ", "w4 ", "w5 "]
    assert rest[-1][0] == "done"


def test_a_failed_prediction_streams_an_error_then_done(platform, models, cast):
    prediction = create(platform, cast.bob, models["sizer"], file="http://127.0.0.1:9/nothing")
    wait_done(platform, cast.bob, prediction)
    body = httpx.get(
        prediction["urls"]["get"], headers={"Authorization": f"Bearer {cast.bob.token}"}
    ).json()
    assert body["status"] == "failed"
    assert "urls" in body and "stream" not in body["urls"]  # not a streaming model


def test_streams_refuse_bad_tokens_and_bad_ids(platform, models, cast):
    prediction = create(platform, cast.alice, models["streamer"], words=2, delay=0)
    stream = prediction["urls"]["stream"]
    bad = httpx.get(stream[:-3] + "xyz", timeout=10)
    assert bad.status_code == 404
    assert bad.headers["content-type"] == "application/problem+json"
    odd = httpx.get(stream, headers={"Last-Event-ID": "not-an-id"}, timeout=10)
    assert odd.status_code == 400
    with_token = read_events(stream, headers={"Authorization": f"Bearer {cast.alice.token}"})
    assert with_token[-1][0] == "done"
