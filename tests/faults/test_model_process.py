"""Model processes that die or hang during a prediction, through the running platform: the
prediction fails with a clear error within a minute, and the next one runs on a fresh process.

The pool-level versions of these faults are in tests/runtime/test_pool.py; here the whole
chain (API, queue, worker, database) has to carry the failure to the user.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest

from apps.predictions.models import Prediction
from tests.faults.conftest import create, get, process_alive, push, wait_for, wait_terminal

VICTIM = """
    import os, time
    from cog import BasePredictor, Input

    def started(pid):
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[19]

    class Predictor(BasePredictor):
        def predict(self, text: str = "world", sleep: float = Input(default=0, ge=0, le=120),
                    hang: bool = False) -> str:
            print(f"pid {os.getpid()} ppid {os.getppid()} "
                  f"started {started(os.getpid())} {started(os.getppid())}")
            if hang:  # a busy loop that swallows every attempt to stop it
                while True:
                    try:
                        while True:
                            pass
                    except BaseException:
                        print("ignoring the cancellation")
            for _ in range(int(sleep * 10)):
                time.sleep(0.1)
            return "hello " + text
"""


PIDS = re.compile(r"pid (\d+) ppid (\d+) started (\d+) (\d+)")


def host_pid(own_pid: int, started: int) -> int:
    """The process id the host knows a model's process by: the model runs in a sandbox with a
    PID namespace of its own, where it is (say) 4. Its start time tells it from others."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            stat = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        namespaced = next(
            (line.split()[1:] for line in status.splitlines() if line.startswith("NSpid:")), []
        )
        if namespaced and int(namespaced[-1]) == own_pid and int(stat[19]) == started:
            return int(entry.name)
    raise AssertionError(f"no process {own_pid} started at {started}")


def pids_in(logs: str) -> tuple[int, int]:
    """(Python worker, Cog server) host process ids, from what the predictor printed."""
    child, parent, child_started, parent_started = (int(n) for n in PIDS.search(logs).groups())
    return host_pid(child, child_started), host_pid(parent, parent_started)


def model_pids(platform, prediction_id: str) -> tuple[int, int]:
    prediction = wait_for(
        lambda: Prediction.objects.filter(pk=prediction_id, logs__contains=" ppid ").first(),
        60,
        lambda: f"prediction {prediction_id} never started:\n{platform.logs()}",
    )
    return pids_in(prediction.logs)


@pytest.mark.parametrize("target", ["cog server", "python worker"])
def test_a_model_process_killed_mid_prediction_fails_it_and_the_next_gets_a_fresh_one(
    platform_factory, cast, tmp_path, target
):
    version = push(cast.alice.user.account, "victim", VICTIM, tmp_path)
    platform = platform_factory()
    doomed = create(platform, cast.alice, version, text="doomed", sleep=60)
    child, server = model_pids(platform, doomed)
    victim = server if target == "cog server" else child

    os.kill(victim, signal.SIGKILL)
    killed_at = time.monotonic()
    failed = wait_terminal(platform, doomed)
    assert time.monotonic() - killed_at < 60
    assert failed.status == Prediction.Status.FAILED, failed.error
    assert "model process" in failed.error, failed.error
    assert "restarted for the next prediction" in failed.error, failed.error
    if target == "cog server":
        assert "SIGKILL" in failed.error, failed.error
    # The user sees the same through the API.
    body = get(platform, cast.alice, doomed)
    assert body["status"] == "failed" and body["error"] == failed.error

    survivor = create(platform, cast.alice, version, text="survivor")
    done = wait_terminal(platform, survivor)
    assert done.status == Prediction.Status.SUCCEEDED, f"{done.error}\n{platform.logs()}"
    assert done.output == "hello survivor"
    assert "Starting the model (running setup())" in done.logs  # a fresh model process
    new_child, new_server = pids_in(done.logs)
    assert {new_child, new_server}.isdisjoint({child, server})
    assert not process_alive(server)
    # The old model process is gone entirely: a killed Cog server does not leave its Python
    # worker (holding the model) behind.
    deadline = time.monotonic() + 10
    while process_alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not process_alive(child)


def test_a_hanging_model_hits_the_time_limit_and_the_next_prediction_succeeds(
    platform_factory, cast, tmp_path
):
    version = push(cast.alice.user.account, "victim", VICTIM, tmp_path)
    platform = platform_factory(PREDICTION_TIME_LIMIT="2")
    stuck = create(platform, cast.alice, version, hang=True)
    child, server = model_pids(platform, stuck)
    started = time.monotonic()

    failed = wait_terminal(platform, stuck)
    # The limit, then a grace of 10 s for the cancellation to land, then a kill.
    assert time.monotonic() - started < 30
    assert failed.status == Prediction.Status.FAILED, failed.error
    assert "timed out" in failed.error and "limit of 2s" in failed.error, failed.error
    assert "did not stop when canceled" in failed.error, failed.error
    assert get(platform, cast.alice, stuck)["error"] == failed.error
    wait_for(
        lambda: True if not (process_alive(child) or process_alive(server)) else None,
        10,
        "the hung model process was not killed",
    )

    after = create(platform, cast.alice, version, text="after the hang")
    done = wait_terminal(platform, after)
    assert done.status == Prediction.Status.SUCCEEDED, f"{done.error}\n{platform.logs()}"
    assert done.output == "hello after the hang"
