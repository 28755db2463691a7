"""A database too busy to take a write in time (SQLite's single writer, past its busy
timeout) is a 503 with Retry-After: the client waits its turn and tries again. It used to be
a 500, which clients do not retry and people read as a bug."""

from __future__ import annotations

import logging

from django.db import OperationalError
from django.shortcuts import render

from apps.core.problems import problem_response

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 2
BUSY_MESSAGES = ("database is locked", "database table is locked")


def is_database_busy(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError) and any(m in str(exc) for m in BUSY_MESSAGES)


def busy_problem(request):
    logger.warning("Database busy: %s %s answered 503", request.method, request.path)
    return problem_response(
        503,
        "Service busy",
        f"The database is busy with other writes. Try again in {RETRY_AFTER_SECONDS} seconds.",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


class DatabaseBusyMiddleware:
    """The friendly page for the website; the /v1 API answers its own problem (config/api.py)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exc):
        if not is_database_busy(exc):
            return None
        logger.warning("Database busy: %s %s answered 503", request.method, request.path)
        response = render(request, "503.html", status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
