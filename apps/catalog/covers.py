"""Cover images given by URL (`cover_image_url` of the API): fetched once through the outbound
guard and stored like an uploaded cover, so the model never hotlinks someone else's server."""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from apps.files.services import own_file
from apps.runtime.inputs import InputFileError, fetch

MAX_COVER_BYTES = 5 * 1024 * 1024
FETCH_TIMEOUT = 10.0
SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "png",
    b"\xff\xd8\xff": "jpg",
    b"GIF87a": "gif",
    b"GIF89a": "gif",
}


class CoverError(ValueError):
    pass


def _public_media(url: str) -> Path | None:
    """One of our media files, read from storage, unless the media view would refuse it
    (version archives); those URLs are then fetched over HTTP like any other, and refused."""
    path = own_file(url)
    if path is None or path.is_relative_to(Path(default_storage.path("versions"))):
        return None
    return path


def _image_extension(head: bytes) -> str | None:
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return next((ext for sig, ext in SIGNATURES.items() if head.startswith(sig)), None)


def cover_from_url(url: str) -> ContentFile:
    """The image at `url` (http(s), data: or one of our media URLs) as a file to store."""
    with tempfile.TemporaryDirectory(dir=settings.VAR_DIR) as work_dir:
        try:
            path = fetch(
                url,
                Path(work_dir),
                max_bytes=MAX_COVER_BYTES,
                timeout=FETCH_TIMEOUT,
                own_file=_public_media,
            )
        except InputFileError as exc:
            raise CoverError(f"The cover image {exc}.") from None
        content = path.read_bytes()
    extension = _image_extension(content[:12])
    if extension is None:
        raise CoverError("The cover image must be a PNG, JPEG, WebP or GIF image.")
    return ContentFile(content, name=f"cover.{extension}")
