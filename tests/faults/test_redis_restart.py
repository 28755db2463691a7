"""Redis restarted (crashed, and back empty) while predictions wait in the queue and one of them
streams: the database is the source of truth, so no prediction is lost (the sweeper queues the
lost messages again), the streaming one ends with its whole output, and stream watchers that
reconnect with Last-Event-ID get exactly the rest.

The platform runs against a Redis of the test's own (tests/faults/conftest.py: RedisServer),
never the shared one.
"""

from __future__ import annotations

import threading
import time

import httpx

from apps.core.sse import parse_events
from apps.predictions.models import Prediction
from tests.e2e.platform import PREDICTORS
from tests.faults.conftest import create, describe, get, push, wait_terminal

HELLO = """
    from cog import BasePredictor

    class Predictor(BasePredictor):
        def predict(self, text: str = "world") -> str:
            return "hello " + text
"""


class StreamWatcher:
    """An SSE client that reconnects with Last-Event-ID whenever its stream breaks, as a
    browser's EventSource does, until `done`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.events: list[tuple[str, str, str]] = []  # (event, id, data)
        self.last_id: str | None = None
        self.connections = 0
        self.problems: list[str] = []

    @property
    def output(self) -> str:
        return "".join(data for kind, _id, data in self.events if kind == "output")

    @property
    def done(self) -> bool:
        return bool(self.events) and self.events[-1][0] == "done"

    def read(self, *, outputs: int | None = None, timeout: float = 60) -> None:
        """Read until `done`, or until `outputs` more output events arrived (then leave)."""
        goal = None if outputs is None else len(self._outputs()) + outputs
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.connections += 1
            headers = {"Accept": "text/event-stream"}
            if self.last_id:
                headers["Last-Event-ID"] = self.last_id
            try:
                with httpx.stream(
                    "GET", self.url, headers=headers, timeout=httpx.Timeout(10, read=20)
                ) as response:
                    if response.status_code != 200:
                        self.problems.append(f"{response.status_code}: {response.read()[:300]}")
                    else:
                        for event in parse_events(response.iter_lines()):
                            self.events.append(event)
                            self.last_id = event[1]
                            if self.done or (goal and len(self._outputs()) >= goal):
                                return
                        self.problems.append("the stream ended without done")
            except httpx.HTTPError as exc:
                self.problems.append(f"{type(exc).__name__}: {exc}")
            time.sleep(0.2)
        raise AssertionError(
            f"the stream did not end within {timeout:g}s: {self.events[-5:]} {self.problems}"
        )

    def _outputs(self) -> list:
        return [event for event in self.events if event[0] == "output"]


def test_a_redis_restart_loses_no_prediction_and_streams_resume(
    own_redis, platform_factory, cast, tmp_path
):
    streamer = push(cast.alice.user.account, "streamer", PREDICTORS["streamer"], tmp_path)
    hello = push(cast.alice.user.account, "hello", HELLO, tmp_path)
    platform = platform_factory(REDIS_URL=own_redis.url)
    words = 40
    expected = "".join(f"w{i} " for i in range(words))

    streaming = create(platform, cast.alice, streamer, words=words, delay=0.15)
    # One prediction worker: these wait in Redis behind the streaming one.
    queued = {create(platform, cast.alice, hello, text=f"q{i}"): f"hello q{i}" for i in range(4)}
    stream_url = get(platform, cast.alice, streaming)["urls"]["stream"]

    # One watcher follows the stream across the restart; another reads a few tokens, goes
    # away, and comes back after the restart with the id of the last event it saw.
    follower = StreamWatcher(stream_url)
    following = threading.Thread(target=follower.read, daemon=True)
    following.start()
    away = StreamWatcher(stream_url)
    away.read(outputs=5)
    assert away.output == "w0 w1 w2 w3 w4 ", away.events
    time.sleep(0.6)  # tokens it has not seen are appended meanwhile, then lost with Redis

    own_redis.restart(downtime=1.0)
    before_end = Prediction.objects.get(pk=streaming)
    assert before_end.status == Prediction.Status.PROCESSING, (
        "the restart should have happened mid-stream: " + describe(streaming)
    )

    away.read()
    following.join(timeout=60)
    assert away.output == expected, f"{away.events} {away.problems}"
    assert away.done
    assert follower.done, f"{follower.events[-3:]} {follower.problems}"
    assert follower.output == expected, f"{follower.events} {follower.problems}"

    finished = wait_terminal(platform, streaming)
    assert finished.status == Prediction.Status.SUCCEEDED, f"{finished.error}\n{platform.logs()}"
    assert "".join(finished.output) == expected

    # The queued predictions' messages were lost with Redis; the sweeper queues them again.
    for prediction_id, output in queued.items():
        done = wait_terminal(platform, prediction_id)
        assert done.status == Prediction.Status.SUCCEEDED, describe(prediction_id)
        assert done.output == output

    # Redis restarts again and loses the finished prediction's log for good: the stream is
    # rebuilt from the database. A new watcher gets all of it. One that comes back with an id
    # of the lost log cannot be placed in the stored output: it gets the end (never an output
    # twice), and the prediction itself has the whole output.
    own_redis.restart()
    fresh = StreamWatcher(stream_url)
    fresh.read(timeout=30)
    assert fresh.output == expected and fresh.done, fresh.problems
    late = StreamWatcher(stream_url)
    late.last_id = away.events[4][1]  # it saw w0..w4 of the lost log
    late.read(timeout=30)
    assert late.output == "" and late.done, late.events
    assert get(platform, cast.alice, streaming)["output"] == finished.output

    # Later predictions run as usual, and their streams work.
    after = create(platform, cast.alice, streamer, words=3, delay=0)
    watcher = StreamWatcher(get(platform, cast.alice, after)["urls"]["stream"])
    watcher.read()
    assert watcher.output == "w0 w1 w2 " and watcher.done, watcher.problems
    assert wait_terminal(platform, after).status == Prediction.Status.SUCCEEDED
