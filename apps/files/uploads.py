"""A size limit that multipart file parts meet while they stream, before they fill the disk."""

from __future__ import annotations

from django.core.files.uploadhandler import FileUploadHandler, SkipFile


class PartSizeLimit(FileUploadHandler):
    """Put first among the request's upload handlers: counts each file part's bytes and drops
    a part as soon as it grows past its limit (the rest of it is read and thrown away, so the
    client still gets an answer). The field names of dropped parts end up in `exceeded`."""

    def __init__(self, request, limits: dict[str, int], default: int) -> None:
        super().__init__(request)
        self.limits = limits
        self.default = default
        self.exceeded: set[str] = set()
        self.received = 0

    @classmethod
    def install(cls, request, limits: dict[str, int], default: int) -> PartSizeLimit | None:
        """The installed handler, or None when the body has already been parsed."""
        handler = cls(request, limits, default)
        try:
            request.upload_handlers = [handler, *request.upload_handlers]
        except AttributeError:
            return None
        return handler

    def new_file(self, field_name, *args, **kwargs) -> None:
        super().new_file(field_name, *args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > self.limits.get(self.field_name, self.default):
            self.exceeded.add(self.field_name)
            raise SkipFile
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler makes the file
