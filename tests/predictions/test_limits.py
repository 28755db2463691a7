"""What one prediction may cost: its logs keep their tail, its JSON output is capped, and its
event log in Redis stays bounded; against real model processes, with the caps set small."""

from __future__ import annotations

import asyncio
import json

import pytest

from apps.predictions import events
from apps.predictions.models import Prediction
from apps.predictions.pool import shutdown_pool
from apps.predictions.worker import prediction_run
from tests.predictions.test_run import create, push

KB = 1024
# Saves from the worker's timer thread need the database unlocked by the test's transaction.
pytestmark = pytest.mark.django_db(transaction=True)

CHATTY = """
from cog import BasePredictor

class Predictor(BasePredictor):
    def predict(self, lines: int = 20000) -> str:
        for i in range(lines):
            print(f"line {i:06d} " + "x" * 90)
        return "done"
"""

BIG_STRING = """
from cog import BasePredictor

class Predictor(BasePredictor):
    def predict(self, size: int = 1000000) -> str:
        return "y" * size
"""

ENDLESS_STREAM = """
import time
from typing import Iterator
from cog import BasePredictor

class Predictor(BasePredictor):
    def predict(self, size: int = 1000) -> Iterator[str]:
        while True:
            yield "z" * size
            time.sleep(0.001)
"""

CHATTY_STREAM = """
from typing import Iterator
from cog import BasePredictor

class Predictor(BasePredictor):
    def predict(self, items: int = 100, lines: int = 100) -> Iterator[str]:
        for i in range(items):
            for j in range(lines):
                print(f"item {i:03d} line {j:03d} " + "x" * 80)
            yield f"{i}"
"""


@pytest.fixture(autouse=True, scope="module")
def _stop_model_processes():
    yield
    shutdown_pool()


@pytest.fixture
def small_caps(settings):
    settings.MAX_PREDICTION_LOG_BYTES = 64 * KB
    settings.EVENT_LOG_MAX_BYTES = 32 * KB
    settings.MAX_OUTPUT_JSON_BYTES = 64 * KB
    return settings


def run(version, **input) -> Prediction:
    prediction = create(version, **input)
    prediction_run(prediction.id)
    return Prediction.objects.get(pk=prediction.pk)


def logged_bytes(prediction_id: str) -> int:
    entries = events.client().xrange(events.stream_key(prediction_id))
    return sum(len(fields[b"d"]) for _id, fields in entries if fields[b"k"] == b"logs")


def test_it_keeps_the_tail_of_logs_far_over_the_cap(cast, tmp_path, small_caps):
    version = push(cast, tmp_path, "chatty", CHATTY)
    prediction = run(version, lines=1500)  # ~150 KB of logs, 2.3 times the cap

    assert prediction.status == "succeeded", prediction.error
    assert prediction.output == "done"
    first_line, _, rest = prediction.logs.partition("\n")
    assert first_line.startswith("[… ") and "of earlier logs were dropped" in first_line
    assert "the last 64 KB are kept" in first_line
    assert len(rest.encode()) <= 64 * KB
    assert "line 001499 " in rest
    assert "line 000000 " not in prediction.logs
    assert "cold boot" not in prediction.logs  # the platform's own early lines went too

    # The event log kept a bounded tail as well, and says so to a reader from the start.
    assert logged_bytes(prediction.id) <= 32 * KB
    assert events.client().memory_usage(events.stream_key(prediction.id)) < 256 * KB
    replay = events.read(prediction.id)
    logs = [data for _id, kind, data in replay if kind == "logs"]
    assert "of earlier logs were dropped from the live stream" in logs[0]
    assert "line 001499 " in "".join(logs)
    assert [kind for _id, kind, _data in replay][-2:] == ["status", "done"]
    ids = [events.id_key(event_id) for event_id, _kind, _data in replay]
    assert ids == sorted(set(ids))


def test_it_fails_an_output_over_the_cap_and_suggests_a_file(cast, tmp_path, small_caps):
    version = push(cast, tmp_path, "big-string", BIG_STRING)
    prediction = run(version, size=1_000_000)

    assert prediction.status == "failed"
    assert "over this platform's limit of 64 KB" in prediction.error
    assert "cog.Path" in prediction.error
    assert prediction.output is None
    stream = events.client().xrange(events.stream_key(prediction.id))
    assert sum(len(fields[b"d"]) for _id, fields in stream) < 8 * KB

    within = run(version, size=60 * KB)
    assert within.status == "succeeded", within.error
    assert len(within.output) == 60 * KB


def test_it_stops_a_stream_past_the_cap_and_keeps_what_came_before(cast, tmp_path, small_caps):
    small_caps.PREDICTION_TIME_LIMIT = 60
    version = push(cast, tmp_path, "endless", ENDLESS_STREAM)
    prediction = run(version, size=1000)  # yields forever unless it is canceled

    assert prediction.status == "failed"
    assert prediction.error.startswith("The streamed output reached")
    assert "cog.Path" in prediction.error
    assert prediction.metrics["predict_time"] < 30  # canceled, not timed out
    assert len(json.dumps(prediction.output)) <= 64 * KB
    assert len(prediction.output) >= 60  # the items within the cap are kept
    streamed = [d for _id, kind, d in events.read(prediction.id) if kind == "output"]
    assert streamed == prediction.output


def test_a_late_watcher_gets_every_output_and_a_notice_for_the_dropped_logs(
    cast, tmp_path, small_caps
):
    version = push(cast, tmp_path, "chatty-stream", CHATTY_STREAM)
    # ~130 KB of logs between 40 outputs: twice the log cap, four times the event log's.
    # (A megabyte made Cog drop the stream now and then on a loaded machine.)
    prediction = run(version, items=40, lines=30)

    assert prediction.status == "succeeded", prediction.error
    assert prediction.output == [str(i) for i in range(40)]
    assert len(prediction.logs.encode()) <= 64 * KB + 100
    assert logged_bytes(prediction.id) <= 32 * KB

    async def watch(after: str) -> list:
        seen = []
        async for batch in events.follow(prediction.id, after):
            seen += batch
            if any(kind == "done" for _id, kind, _data in batch):
                return seen
        return seen

    seen = asyncio.run(watch("0-0"))
    assert [data for _id, kind, data in seen if kind == "output"] == prediction.output
    notices = [i for i, (_id, kind, data) in enumerate(seen) if "were dropped" in str(data)]
    assert len(notices) == 1
    first_log = next(i for i, (_id, kind, _data) in enumerate(seen) if kind == "logs")
    assert notices[0] == first_log
    assert "item 039 line 029" in "".join(d for _id, k, d in seen if k == "logs")
    assert seen[-1][1] == "done"

    # Resuming right after the notice repeats nothing and skips nothing.
    notice_id = seen[notices[0]][0]
    resumed = asyncio.run(watch(notice_id))
    assert resumed == seen[notices[0] + 1 :]
