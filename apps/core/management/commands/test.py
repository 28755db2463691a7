"""`manage.py test`: the whole test suite, run by pytest (arguments pass through)."""

from __future__ import annotations

import os
import sys

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the test suite with pytest; any arguments are passed to pytest."

    def run_from_argv(self, argv):
        # Tests in embedded mode use their own Redis server, never the one `up` is using.
        os.environ.setdefault("EMBEDDED_REDIS_NAME", "test")
        os.execv(sys.executable, [sys.executable, "-m", "pytest", *argv[2:]])
