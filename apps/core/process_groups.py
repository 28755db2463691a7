"""Stopping processes that were started in sessions of their own (`start_new_session=True`),
with everything they started: the benchmarks and the tests start the platform this way."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable


def stop_groups(processes: Iterable[subprocess.Popen], timeout: float = 20) -> None:
    """SIGTERM each process's group, all at once; wait up to `timeout` for the leaders to exit,
    then SIGKILL whatever is left of every group, even where its leader exited in time: a
    Dramatiq worker's forked process, or anything else the leader started, may outlive it."""
    processes = list(processes)
    for process in processes:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
    for process in processes:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
