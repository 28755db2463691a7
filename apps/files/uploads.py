"""Size limits that multipart file parts meet while they stream, before they fill the disk."""

from __future__ import annotations

import io

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.urls import Resolver404, resolve


class OversizedUpload(UploadedFile):
    """What is kept of a file part that grew past its limit: its name and true size, not its
    bytes. Forms refuse it by its size with their usual message."""

    def __init__(self, name: str, size: int, content_type: str, charset: str | None) -> None:
        super().__init__(io.BytesIO(), name, content_type, size, charset)


class PartSizeCap(FileUploadHandler):
    """Put first among the request's upload handlers: once a file part grows past its limit
    (`limits` by field name, else `limit`), the rest of it is counted and thrown away instead
    of being written to disk, and the part arrives as an OversizedUpload; the field names of
    such parts end up in `exceeded`."""

    def __init__(self, request, limit: int, limits: dict[str, int] | None = None) -> None:
        super().__init__(request)
        self.limit = limit
        self.limits = limits or {}
        self.exceeded: set[str] = set()
        self.received = 0
        self.over = False

    @classmethod
    def install(cls, request, limit: int, limits: dict[str, int] | None = None):
        """The installed handler, or None when the body has already been parsed."""
        handler = cls(request, limit, limits)
        try:
            request.upload_handlers = [handler, *request.upload_handlers]
        except AttributeError:
            return None
        return handler

    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        self.received, self.over = 0, False

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self.received += len(raw_data)
        if self.received > self.limits.get(self.field_name, self.limit):
            self.over = True
            self.exceeded.add(self.field_name)
            return None  # the next handlers (the temporary file) get no more of it
        return raw_data

    def file_complete(self, file_size: int) -> OversizedUpload | None:
        if self.over:
            return OversizedUpload(self.file_name, self.received, self.content_type, self.charset)
        return None  # the next handler makes the file


COVER_MAX_BYTES = 5 * 1024 * 1024  # a model's cover image


def _cover_limit() -> int:
    return COVER_MAX_BYTES


# The web forms and API routes that take files, by view name, with their size limits.
UPLOAD_LIMITS = {
    "playground_run": lambda: settings.MAX_INPUT_FILE_BYTES,
    "model_settings": _cover_limit,
    "model_push": lambda: settings.MAX_VERSION_ARCHIVE_BYTES,
    "v1:version_push": lambda: settings.MAX_VERSION_ARCHIVE_BYTES,
}


def upload_limits(get_response):
    """Middleware, before anything reads the body (the CSRF check does): caps the file parts
    of the routes in UPLOAD_LIMITS while they stream, so an oversized upload is refused with
    the form's message without first being written to disk whole."""

    def middleware(request):
        if request.method == "POST" and request.content_type == "multipart/form-data":
            try:
                match = resolve(request.path_info)
            except Resolver404:
                match = None
            limit = UPLOAD_LIMITS.get(match.view_name) if match else None
            if limit is not None:
                PartSizeCap.install(request, limit())
        return get_response(request)

    return middleware
