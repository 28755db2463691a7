"""Run a Dramatiq worker for this platform's queues."""

from __future__ import annotations

import os
import sys

from django.conf import settings
from django.core.management.base import BaseCommand

from apps.core.queue import redis_ready
from apps.runtime import sandbox


class Command(BaseCommand):
    help = "Run a Dramatiq worker (wraps `dramatiq config.worker`)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--queues", nargs="*", default=None, help="queues to serve (default all)"
        )
        parser.add_argument("--processes", type=int, default=1)
        parser.add_argument("--threads", type=int, default=settings.WORKER_THREADS)

    def handle(self, *args, queues, processes, threads, **options):
        redis_ready()
        if problem := sandbox.problem():
            self.stderr.write(f"warning: {problem} Predictions fail until this is fixed.")
        if threads == 1:
            # Dramatiq's prefetch counts per queue and process: with one thread, take the next
            # message only when the current one is done, so a prediction never waits behind
            # another one this worker reserved while a free worker sits idle.
            os.environ.setdefault("dramatiq_queue_prefetch", "1")
        argv = [
            sys.executable,
            "-m",
            "dramatiq",
            "config.worker",
            "--processes",
            str(processes),
            "--threads",
            str(threads),
        ]
        # Stopping (SIGTERM) lets the prediction in hand finish: wait as long as one may take
        # (Dramatiq's default is 10 minutes).
        grace = settings.PREDICTION_TIME_LIMIT + settings.MODEL_SETUP_TIMEOUT + 60
        argv += ["--worker-shutdown-timeout", str(grace * 1000)]
        if queues:
            argv += ["--queues", *queues]
            os.environ["SELFREP_WORKER_QUEUES"] = ",".join(queues)
        os.execv(sys.executable, argv)
