from __future__ import annotations


def absolute_url(request, path: str) -> str:
    """An absolute URL on our public host: PUBLIC_URL when set, else the request's host."""
    from django.conf import settings

    if settings.PUBLIC_URL:
        return settings.PUBLIC_URL + path
    return request.build_absolute_uri(path)
