"""Our public URLs: the one place that knows which scheme and host they carry."""

from __future__ import annotations

from django.conf import settings
from django.core.files.storage import default_storage

# Where a process without a request (a worker, a management command) says we are when
# PUBLIC_URL is not set: the address `manage.py up` serves by default.
WORKER_DEFAULT = "http://127.0.0.1:8000"


def public_base(request=None) -> str:
    """Scheme and host of our public URLs, without a trailing slash: PUBLIC_URL when set,
    else the request's, else WORKER_DEFAULT."""
    if settings.PUBLIC_URL:
        return settings.PUBLIC_URL
    if request is not None:
        return f"{request.scheme}://{request.get_host()}"
    return WORKER_DEFAULT


def absolute_url(request, path: str) -> str:
    """An absolute URL on our public host for `path` (which starts with `/`)."""
    if settings.PUBLIC_URL or request is None:
        return public_base(request) + path
    return request.build_absolute_uri(path)


def stored_file_url(name: str, request=None) -> str:
    """The absolute URL of a file in Django's default storage."""
    return public_base(request) + default_storage.url(name)
