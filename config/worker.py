"""Entry module for `dramatiq config.worker`: sets Django up, then imports every actor."""

import os
import threading

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

import dramatiq  # noqa: E402
from django.db import close_old_connections  # noqa: E402
from django.utils.module_loading import autodiscover_modules  # noqa: E402

from apps.core.queue import broker  # noqa: E402


class DatabaseConnections(dramatiq.Middleware):
    """Give each message a usable connection, as Django does for each request."""

    def before_process_message(self, broker, message):
        close_old_connections()

    def after_process_message(self, broker, message, *, result=None, exception=None):
        close_old_connections()

    after_skip_message = after_process_message


class ModelProcesses(dramatiq.Middleware):
    """Heartbeats, cancel requests and the sweeper while the worker runs; its model
    processes stopped when it stops."""

    def after_worker_boot(self, broker, worker):
        from apps.predictions import heartbeat

        heartbeat.start()
        if version := os.environ.get("SELFREP_PRELOAD_VERSION"):
            # A deployment's instance started to keep min_instances warm: boot its model now.
            from apps.predictions.worker import preload

            threading.Thread(target=preload, args=(int(version),), daemon=True).start()

    def after_worker_shutdown(self, broker, worker):
        from apps.predictions import heartbeat
        from apps.predictions.pool import shutdown_pool

        heartbeat.stop()
        shutdown_pool()


broker.add_middleware(DatabaseConnections())
broker.add_middleware(ModelProcesses())
autodiscover_modules("tasks")
