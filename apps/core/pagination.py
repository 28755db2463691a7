"""Cursor pagination in Replicate's shape: {"previous": url, "next": url, "results": [...]}.

The cursor is base64 of the position (`created_at` and primary key of the boundary row), as
Django REST Framework's CursorPagination makes them; the links are absolute URLs on our host.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet

from apps.core.links import absolute_url
from apps.core.problems import ApiError


def _encode(created_at: datetime, pk: Any, reverse: bool) -> str:
    raw = urlencode({"p": created_at.isoformat(), "i": str(pk), **({"r": "1"} if reverse else {})})
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode(cursor: str) -> tuple[datetime, str, bool]:
    try:
        raw = base64.urlsafe_b64decode(cursor.encode() + b"=" * (-len(cursor) % 4)).decode()
        params = parse_qs(raw, strict_parsing=True)
        return (
            datetime.fromisoformat(params["p"][0]),
            params["i"][0],
            params.get("r", ["0"])[0] == "1",
        )
    except (ValueError, KeyError, UnicodeDecodeError):
        raise ApiError(400, "Invalid cursor", "The cursor parameter is not valid.") from None


def _link(request, cursor: str) -> str:
    query = request.GET.copy()
    query["cursor"] = cursor
    return absolute_url(request, f"{request.path}?{query.urlencode()}")


def paginate(
    request, queryset: QuerySet, serialize: Callable[[Any], dict], *, page_size: int | None = None
) -> dict:
    """One page of `queryset`, newest first (by created_at, then primary key)."""
    page_size = page_size or settings.API_PAGE_SIZE
    cursor = request.GET.get("cursor")
    reverse = False
    if cursor:
        created_at, pk, reverse = _decode(cursor)
        try:  # a crafted cursor may name a key of the wrong type: still a bad cursor
            pk = queryset.model._meta.pk.to_python(pk)
        except (ValidationError, ValueError, TypeError):
            raise ApiError(400, "Invalid cursor", "The cursor parameter is not valid.") from None
        if reverse:  # the page before: rows newer than the boundary, nearest first
            queryset = queryset.filter(
                Q(created_at__gt=created_at) | Q(created_at=created_at, pk__gt=pk)
            )
        else:
            queryset = queryset.filter(
                Q(created_at__lt=created_at) | Q(created_at=created_at, pk__lt=pk)
            )
    ordering = ("created_at", "pk") if reverse else ("-created_at", "-pk")
    rows = list(queryset.order_by(*ordering)[: page_size + 1])
    more = len(rows) > page_size
    rows = rows[:page_size]
    if reverse:
        rows.reverse()
    has_newer = bool(cursor) and (more if reverse else True)
    has_older = more if not reverse else True
    return {
        "previous": _link(request, _encode(rows[0].created_at, rows[0].pk, True))
        if rows and has_newer
        else None,
        "next": _link(request, _encode(rows[-1].created_at, rows[-1].pk, False))
        if rows and has_older
        else None,
        "results": [serialize(row) for row in rows],
    }
