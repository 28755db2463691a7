"""The database goes away for a moment while the worker runs predictions.

On PostgreSQL every other connection to the test database is terminated (the worker's, its
heartbeat's, the web server's), while a prediction streams and again while the platform is
idle. On SQLite, the same file is write-locked by another connection for a few seconds while a
prediction streams and others are created. Either way, the running prediction ends with its
whole output, and the predictions after it succeed.
"""

from __future__ import annotations

import sqlite3
import threading
import time

from django.db import connection

from apps.predictions.models import Prediction
from tests.e2e.platform import PREDICTORS
from tests.faults.conftest import create, describe, push, wait_for, wait_terminal

TERMINATE = """
    SELECT pg_terminate_backend(pid) FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid()
"""


def terminate_other_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute(TERMINATE)
        return sum(1 for (terminated,) in cursor.fetchall() if terminated)


def streaming_now(platform, prediction_id: str) -> Prediction:
    """The prediction once it runs and some of its output is saved."""
    return wait_for(
        lambda: (
            Prediction.objects.filter(pk=prediction_id, status="processing")
            .exclude(output=None)
            .first()
        ),
        60,
        lambda: f"the prediction never streamed: {describe(prediction_id)}\n{platform.logs()}",
    )


def test_the_worker_rides_out_a_database_outage(platform_factory, cast, tmp_path):
    streamer = push(cast.alice.user.account, "streamer", PREDICTORS["streamer"], tmp_path)
    platform = platform_factory()
    words = 30
    expected = [f"w{i} " for i in range(words)]
    warm = create(platform, cast.alice, streamer, words=1, delay=0)
    assert wait_terminal(platform, warm).status == Prediction.Status.SUCCEEDED

    running = create(platform, cast.alice, streamer, words=words, delay=0.1)
    streaming_now(platform, running)
    if connection.vendor == "postgresql":
        # Several times while it streams: the worker's connection dies under its feet, and
        # again once it has reconnected.
        terminated = []
        for _ in range(3):
            terminated.append(terminate_other_connections())
            time.sleep(0.5)
        assert terminated[0] >= 1, terminated
        later = [create(platform, cast.alice, streamer, words=2, delay=0) for _ in range(3)]
    else:
        # Another process holds the write lock; the worker and the web server wait for it.
        locker = sqlite3.connect(connection.settings_dict["NAME"], timeout=30)
        locker.execute("BEGIN IMMEDIATE")
        created: list[str] = []
        creating = threading.Thread(
            target=lambda: created.extend(
                create(platform, cast.alice, streamer, words=2, delay=0) for _ in range(3)
            ),
            daemon=True,
        )
        creating.start()
        time.sleep(4)
        assert created == [], "the lock did not hold the web server back"
        assert Prediction.objects.get(pk=running).status == Prediction.Status.PROCESSING
        locker.rollback()
        locker.close()
        creating.join(timeout=40)
        later = created
        assert len(later) == 3, "the predictions created during the lock were not created"

    done = wait_terminal(platform, running)
    assert done.status == Prediction.Status.SUCCEEDED, f"{describe(running)}\n{platform.logs()}"
    assert done.output == expected
    for prediction_id in later:
        after = wait_terminal(platform, prediction_id)
        assert after.status == Prediction.Status.SUCCEEDED, describe(prediction_id)
        assert after.output == ["w0 ", "w1 "]

    if connection.vendor == "postgresql":
        # Once more while everything is idle, with pooled connections open everywhere.
        assert terminate_other_connections() >= 1
    last = create(platform, cast.alice, streamer, words=3, delay=0)
    final = wait_terminal(platform, last)
    assert final.status == Prediction.Status.SUCCEEDED, f"{describe(last)}\n{platform.logs()}"
    assert final.output == ["w0 ", "w1 ", "w2 "]
