"""Real model processes (Cog's runtime) driven by the pool: no mocks of our runtime."""

from __future__ import annotations

import base64
import http.server
import os
import signal
import threading
import time
from pathlib import Path
from textwrap import dedent

import pytest

from apps.runtime import artifacts, environments, schema
from apps.runtime.pool import ModelPool, PoolSettings, VersionSpec

HEADER = "import os, sys, time\nfrom cog import BasePredictor, Input, Path, Secret\n"


def make_spec(root: Path, name: str, body: str, *, ref="predict.py:Predictor") -> VersionSpec:
    directory = root / name
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "cog.yaml").write_text(f'predict: "{ref}"\n')
    (directory / "predict.py").write_text(HEADER + dedent(body))
    environment = environments.ensure([], log=lambda line: None)
    document = schema.generate(environment, directory, ref)
    archive = artifacts.pack(directory)
    return VersionSpec(
        digest=artifacts.digest(directory),
        predictor_ref=ref,
        requirements=(),
        schema=document,
        load_artifact=lambda: archive,
    )


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    work = tmp_path_factory.mktemp("pool")
    pool = ModelPool(
        PoolSettings(
            work_dir=work,
            memory_budget_bytes=4 << 30,
            max_processes=6,
            setup_timeout=60,
            max_input_bytes=1 << 20,
            max_output_bytes=1 << 20,
            fetch_timeout=5,
        )
    )
    yield pool
    pool.shutdown()


@pytest.fixture(scope="module")
def specs(tmp_path_factory) -> dict[str, VersionSpec]:
    root = tmp_path_factory.mktemp("models")
    return {
        "echo": make_spec(
            root,
            "echo",
            """
            class Predictor(BasePredictor):
                def setup(self):
                    print(f"loading weights in {os.getpid()}")
                    self.greeting = "hello"
                def predict(self, text: str = Input(default="world"),
                            fail: bool = False, hang: bool = False,
                            crash: bool = False, sleep: float = 0) -> str:
                    print(f"greeting {text}")
                    if fail:
                        raise ValueError("the model refused")
                    if hang:
                        while True:
                            pass
                    if crash:
                        os.kill(os.getpid(), 9)
                    for _ in range(int(sleep * 10)):
                        time.sleep(0.1)
                    return f"{self.greeting} {text}"
        """,
        ),
        "files": make_spec(
            root,
            "files",
            """
            class Predictor(BasePredictor):
                def predict(self, image: Path, token: Secret = Input(default=None)) -> Path:
                    data = open(image, "rb").read()
                    print(f"got {len(data)} bytes, token {token}")
                    out = Path("/tmp") / f"reversed-{os.getpid()}.bin"
                    out.write_bytes(data[::-1])
                    return out
        """,
        ),
        "broken": make_spec(
            root,
            "broken",
            """
            class Predictor(BasePredictor):
                def setup(self):
                    print("about to fail")
                    raise RuntimeError("weights are missing")
                def predict(self) -> str:
                    return "never"
        """,
        ),
        "odd": make_spec(
            root,
            "odd",
            """
            class Predictor(BasePredictor):
                def predict(self, size: int = 10, weird: bool = False) -> str:
                    if weird:
                        return object()  # not JSON
                    return "x" * size
        """,
        ),
    }


def run(pool, spec, inputs, *, limit=30.0, prediction_id=None):
    events = []
    prediction_id = prediction_id or f"p{time.monotonic_ns()}"
    outcome = pool.run(
        spec,
        prediction_id,
        inputs,
        on_event=lambda kind, data: events.append((kind, data)),
        time_limit=limit,
    )
    return outcome, events


def own_pids(pids: list[int]) -> list[int]:
    """Process ids as the processes see themselves (inside the sandbox's PID namespace)."""
    inner = []
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("NSpid:"):
                inner.append(int(line.split()[-1]))
    return inner


def logs_of(events) -> str:
    return "".join(data for kind, data in events if kind == "log")


def test_a_cold_prediction_runs_setup_and_a_warm_one_does_not(pool, specs):
    cold, cold_events = run(pool, specs["echo"], {"text": "Ada"})
    assert cold.result.status == "succeeded"
    assert cold.result.output == "hello Ada"
    assert cold.setup is not None
    assert "loading weights" in logs_of(cold_events)
    assert "cold boot" in logs_of(cold_events)

    started = time.monotonic()
    warm, warm_events = run(pool, specs["echo"], {"text": "Grace"})
    assert warm.result.output == "hello Grace"
    assert warm.setup is None
    assert "loading weights" not in logs_of(warm_events)
    assert "greeting Grace" in logs_of(warm_events)
    assert time.monotonic() - started < cold.setup.seconds + 5


def test_a_predict_that_raises_fails_and_the_process_stays_usable(pool, specs):
    outcome, _ = run(pool, specs["echo"], {"fail": True})
    assert outcome.result.status == "failed"
    assert "the model refused" in outcome.result.error
    again, _ = run(pool, specs["echo"], {"text": "again"})
    assert again.result.output == "hello again"
    assert again.setup is None  # the same process served it


def test_a_hanging_prediction_hits_the_time_limit_and_the_next_one_works(pool, specs):
    outcome, _ = run(pool, specs["echo"], {"hang": True}, limit=2)
    assert outcome.result.status == "failed"
    assert "timed out" in outcome.result.error
    again, _ = run(pool, specs["echo"], {"text": "after the hang"})
    assert again.result.output == "hello after the hang"


def test_a_crashing_model_process_fails_the_prediction_and_is_restarted(pool, specs):
    outcome, _ = run(pool, specs["echo"], {"crash": True})
    assert outcome.result.status == "failed"
    assert "restarted" in outcome.result.error
    again, events = run(pool, specs["echo"], {"text": "reborn"})
    assert again.result.output == "hello reborn"
    assert again.setup is not None  # a fresh process ran setup again
    assert "loading weights" in logs_of(events)


@pytest.mark.parametrize("member", ["python worker", "cog server"])
def test_a_model_process_that_died_while_idle_is_replaced_before_the_next_prediction(
    pool, specs, member
):
    first, _ = run(pool, specs["echo"], {"text": "before"})
    assert first.result.output == "hello before"
    process = pool.processes[specs["echo"].digest]
    assert process.members, "the Python worker of the group was recorded at READY"
    victim = process.members[0] if member == "python worker" else process.process.pid
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while process.is_ready() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process.is_ready()
    again, events = run(pool, specs["echo"], {"text": "after"})
    assert again.result.status == "succeeded", again.result.error
    assert again.result.output == "hello after"
    assert again.setup is not None  # a fresh process, with setup() run again
    assert "Restarting the model process" in logs_of(events)
    # Its own setup output, not its predecessor's (the two share the version's log file).
    fresh = pool.processes[specs["echo"].digest]
    assert again.setup.logs.count("loading weights in") == 1
    assert any(f"loading weights in {pid}" in again.setup.logs for pid in own_pids(fresh.members))


def test_invalid_input_is_refused_with_the_field_named(pool, specs):
    outcome, _ = run(pool, specs["echo"], {"text": 42})
    assert outcome.result.status == "failed"
    assert "text" in outcome.result.error
    assert "not of type" in outcome.result.error


def test_setup_that_raises_fails_with_the_traceback_in_the_logs(pool, specs):
    outcome, events = run(pool, specs["broken"], {})
    assert outcome.setup_failed
    assert outcome.result.status == "failed"
    assert "setup" in outcome.result.error.lower()
    assert "weights are missing" in logs_of(events)
    assert "about to fail" in logs_of(events)


def test_file_inputs_from_data_uris_and_file_outputs(pool, specs):
    payload = b"\x89PNG fake image bytes"
    uri = "data:image/png;base64," + base64.b64encode(payload).decode()
    outcome, events = run(pool, specs["files"], {"image": uri, "token": "s3cr3t-value"})
    assert outcome.result.status == "succeeded", outcome.result.error
    assert isinstance(outcome.result.output, Path)
    assert outcome.result.output.read_bytes() == payload[::-1]
    assert outcome.files == [outcome.result.output]
    assert f"got {len(payload)} bytes" in logs_of(events)
    assert "s3cr3t-value" not in logs_of(events)
    assert "s3cr3t-value" not in outcome.result.logs


class _Server:
    """A real HTTP server on loopback serving a few paths."""

    def __init__(self, routes: dict[str, tuple[int, bytes]]):
        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                status, body = routes.get(self.path, (404, b"missing"))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def file_host():
    server = _Server({"/cat.png": (200, b"meow" * 10), "/huge.bin": (200, b"x" * (2 << 20))})
    yield server
    server.close()


def test_file_inputs_from_urls(pool, specs, file_host):
    outcome, _ = run(pool, specs["files"], {"image": f"{file_host.url}/cat.png"})
    assert outcome.result.status == "succeeded", outcome.result.error
    assert outcome.result.output.read_bytes() == (b"meow" * 10)[::-1]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("/missing.png", "answered 404"),
        ("/huge.bin", "limit"),
        ("data:image/png;base64,@@@not-base64@@@", "not valid base64"),
        ("ftp://example.com/file.png", "only https/http"),
        ("http://169.254.169.254/latest/meta-data", "inside the network"),
    ],
)
def test_bad_file_inputs_fail_clearly(pool, specs, file_host, value, message):
    url = f"{file_host.url}{value}" if value.startswith("/") else value
    outcome, _ = run(pool, specs["files"], {"image": url})
    assert outcome.result.status == "failed"
    assert "image" in outcome.result.error
    assert message in outcome.result.error


def _run_in_background(pool, spec, inputs, prediction_id):
    results = {}

    def background():
        results["outcome"], _ = run(pool, spec, inputs, limit=60, prediction_id=prediction_id)

    thread = threading.Thread(target=background)
    thread.start()
    deadline = time.monotonic() + 20
    while prediction_id not in pool.running and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)
    return thread, results


def test_cancel_stops_a_running_prediction_without_killing_the_process(pool, specs):
    run(pool, specs["echo"], {"text": "warm up"})
    thread, results = _run_in_background(pool, specs["echo"], {"sleep": 30}, "to-cancel")
    started = time.monotonic()
    assert pool.cancel("to-cancel")
    thread.join(30)
    assert results["outcome"].result.status == "canceled"
    assert time.monotonic() - started < 5
    again, _ = run(pool, specs["echo"], {"text": "after cancel"})
    assert again.result.output == "hello after cancel"
    assert again.setup is None  # the same, healthy process


def test_a_model_that_ignores_cancel_still_ends_and_the_next_prediction_works(pool, specs):
    # A busy loop in pure Python may never reach a point where Cog's cancel lands; the
    # time limit then stops it.
    thread, results = _run_in_background(pool, specs["echo"], {"hang": True}, "stubborn")
    pool.cancel("stubborn")
    thread.join(90)
    assert results["outcome"].result.status in ("canceled", "failed")
    again, _ = run(pool, specs["echo"], {"text": "after"})
    assert again.result.output == "hello after"


def test_huge_outputs_are_returned_whole(pool, specs):
    outcome, _ = run(pool, specs["odd"], {"size": 5_000_000})
    assert outcome.result.status == "succeeded"
    assert len(outcome.result.output) == 5_000_000


def test_idle_processes_are_evicted_least_recently_used_first(tmp_path, specs):
    small = ModelPool(
        PoolSettings(
            work_dir=tmp_path,
            memory_budget_bytes=4 << 30,
            max_processes=1,
            setup_timeout=60,
            max_input_bytes=1 << 20,
            max_output_bytes=1 << 20,
            fetch_timeout=5,
        )
    )
    try:
        first, _ = run(small, specs["echo"], {"text": "one"})
        assert first.result.status == "succeeded"
        assert set(small.processes) == {specs["echo"].digest}
        second, _ = run(small, specs["odd"], {"size": 3})
        assert second.result.output == "xxx"
        assert set(small.processes) == {specs["odd"].digest}
        third, _ = run(small, specs["echo"], {"text": "two"})
        assert third.setup is not None  # evicted earlier, so a cold start again
    finally:
        small.shutdown()


def test_an_output_that_is_not_json_fails_clearly_and_the_process_survives(pool, specs):
    outcome, _ = run(pool, specs["odd"], {"weird": True})
    assert outcome.result.status == "failed"
    assert "not JSON serializable" in outcome.result.error
    again, _ = run(pool, specs["odd"], {"size": 2})
    assert again.result.output == "xx"
