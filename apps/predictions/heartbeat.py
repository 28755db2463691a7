"""Worker liveness: each worker process announces itself in Redis every few seconds, listens
for cancel requests, and (one worker at a time, under a Redis lock) runs the sweeper."""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections

from apps.core.redis import client
from apps.predictions.lifecycle import CANCEL_CHANNEL
from apps.predictions.pool import get_pool
from apps.predictions.sweeper import sweep
from apps.predictions.worker import alive_key, worker_id

logger = logging.getLogger(__name__)

_started = False
_stop = threading.Event()


def beat() -> None:
    client().set(alive_key(worker_id()), str(time.time()), ex=settings.WORKER_HEARTBEAT_SECONDS * 3)


def start() -> None:
    """Start this worker's heartbeat (which also sweeps) and cancel listener threads (once)."""
    global _started
    if _started:
        return
    _started = True
    _stop.clear()
    beat()
    threading.Thread(target=_heartbeat_loop, name="heartbeat", daemon=True).start()
    threading.Thread(target=_cancel_listener, name="cancel-listener", daemon=True).start()


def stop() -> None:
    global _started
    _stop.set()
    _started = False
    client().delete(alive_key(worker_id()))


def _heartbeat_loop() -> None:
    last_sweep = 0.0
    while not _stop.wait(settings.WORKER_HEARTBEAT_SECONDS):
        try:
            beat()
            if time.monotonic() - last_sweep >= settings.WORKER_HEARTBEAT_SECONDS * 2:
                last_sweep = time.monotonic()
                if client().set(
                    "selfrep:sweep-lock",
                    worker_id(),
                    nx=True,
                    ex=settings.WORKER_HEARTBEAT_SECONDS * 2,
                ):
                    sweep()
        except Exception:  # noqa: BLE001 (keep beating through Redis or database hiccups)
            logger.exception("heartbeat or sweep failed")
        finally:
            close_old_connections()


def _cancel_listener() -> None:
    while not _stop.is_set():
        try:
            pubsub = client().pubsub(ignore_subscribe_messages=True)
            pubsub.subscribe(CANCEL_CHANNEL)
            while not _stop.is_set():
                message = pubsub.get_message(timeout=1.0)
                if message and message.get("type") == "message":
                    prediction_id = message["data"].decode()
                    # The prediction may be between its claim and its start: try for a while.
                    for _ in range(20):
                        if get_pool().cancel(prediction_id):
                            break
                        time.sleep(0.1)
        except Exception:  # noqa: BLE001
            logger.exception("cancel listener failed; reconnecting")
            time.sleep(1)
