"""Run the autoscaler and this machine's instance supervisor until stopped."""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand

from apps.core.queue import redis_ready
from apps.deployments.supervisor import Supervisor


class Command(BaseCommand):
    help = (
        "Scale deployments: start and stop their instances on this machine (docs/deployments.md)."
    )

    def handle(self, *args, **options):
        redis_ready()
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        self.stdout.write("autoscaler: watching deployments", ending="\n")
        self.stdout.flush()
        Supervisor().run(stop)
        self.stdout.write("autoscaler: stopped every instance")
