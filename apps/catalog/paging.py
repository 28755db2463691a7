"""Pages of lists that have their own order (curated collections, ranked search results),
in the same {"previous", "next", "results"} shape as apps.core.pagination.

The cursor is base64 of the offset (`o=<n>`): these lists are short and change rarely, so a
row added between two requests at worst shows up twice or is missed, which a listing by
created_at (apps.core.pagination) avoids for the long, growing lists.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qs, urlencode

from django.conf import settings
from django.db.models import QuerySet

from apps.core.links import absolute_url
from apps.core.problems import ApiError


def _offset(request) -> int:
    cursor = request.GET.get("cursor")
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor.encode() + b"=" * (-len(cursor) % 4)).decode()
        offset = int(parse_qs(raw, strict_parsing=True)["o"][0])
    except (ValueError, KeyError, UnicodeDecodeError, binascii.Error):
        offset = -1
    if offset < 0:
        raise ApiError(400, "Invalid cursor", "The cursor parameter is not valid.")
    return offset


def _link(request, offset: int) -> str:
    query = request.GET.copy()
    query["cursor"] = base64.urlsafe_b64encode(urlencode({"o": offset}).encode()).decode()
    return absolute_url(request, f"{request.path}?{query.urlencode()}")


def paginate_in_order(
    request,
    rows: QuerySet | Sequence,
    serialize: Callable[[Any], dict],
    *,
    page_size: int | None = None,
) -> dict:
    """One page of `rows`, kept in the order they come in."""
    page_size = page_size or settings.API_PAGE_SIZE
    offset = _offset(request)
    page = list(rows[offset : offset + page_size + 1])
    more = len(page) > page_size
    page = page[:page_size]
    return {
        "previous": _link(request, max(offset - page_size, 0)) if offset > 0 else None,
        "next": _link(request, offset + page_size) if more else None,
        "results": [serialize(row) for row in page],
    }
