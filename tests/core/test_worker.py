"""A real Dramatiq worker process, started with `manage.py worker`, against the real Redis."""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid

from django.conf import settings

from apps.core.redis import client
from apps.core.tasks import ping


def test_a_worker_process_runs_queued_actors_and_stops_cleanly(process_env):
    worker = subprocess.Popen(
        [sys.executable, str(settings.BASE_DIR / "manage.py"), "worker", "--queues", "default"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=process_env,
    )
    try:
        key = f"test:ping:{uuid.uuid4().hex}"
        ping.send(key)
        reply = client().blpop([key], timeout=60)
        assert reply is not None, "the worker did not answer within 60 s"
        assert reply[1] == b"pong"
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    assert worker.returncode == 0, output
