"""Creating, signing, serving and purging uploaded files.

Download URLs are capabilities, in the shape of Replicate's
`/v1/files/{id}/download?owner=&expiry=&signature=`: the signature is an HMAC-SHA256 of
`"{owner} {id} {expiry}"` keyed by SECRET_KEY (salted for this purpose only; keys in
SECRET_KEY_FALLBACKS still verify), URL-safe base64 without padding. The expiry is the file's
own, so the URL of a file never changes and dies with it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import datetime
from pathlib import Path
from typing import IO
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from django.conf import settings
from django.core.files import File as DjangoFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from apps.accounts.models import Account
from apps.core.links import public_base
from apps.files.models import File

MAX_FILE_BYTES = 100 * 1024 * 1024
SIGNING_SALT = "apps.files.download"
DOWNLOAD_PATH = re.compile(r"(?:/.*)?/v1/files/(?P<id>[a-z0-9]+)/download/?")
PURGE_BATCH = 500


class FileUnavailable(Exception):
    """No file behind this download URL: unknown, deleted, or the signature does not match."""


class FileExpired(FileUnavailable):
    """The file or its download URL has expired."""


def file_create(
    *, owner: Account, content: IO[bytes], name: str, content_type: str, metadata: dict
) -> File:
    """Store the uploaded bytes with their checksums. The caller checks the size limit."""
    sha256, md5, size = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
    upload = content if isinstance(content, DjangoFile) else DjangoFile(content)
    for chunk in upload.chunks():
        sha256.update(chunk)
        md5.update(chunk)
        size += len(chunk)
    file = File(
        owner=owner,
        name=name,
        content_type=content_type,
        size=size,
        sha256=sha256.hexdigest(),
        md5=md5.hexdigest(),
        metadata=metadata,
    )
    file.content.save(name, upload, save=False)
    try:
        file.save()
    except BaseException:
        file.content.delete(save=False)
        raise
    return file


def file_delete(*, file: File) -> None:
    file.delete()  # the stored bytes follow on commit (see models.delete_stored_content)


def file_purge_expired(*, now: datetime | None = None) -> int:
    """Delete expired files, rows and bytes; returns how many. Safe to run at any time."""
    now = now or timezone.now()
    purged = 0
    while True:
        with transaction.atomic():
            batch = list(File.objects.filter(expires_at__lte=now)[:PURGE_BATCH])
            for file in batch:
                file.delete()
        purged += len(batch)
        if len(batch) < PURGE_BATCH:
            return purged


def _signature(owner: str, file_id: str, expiry: int, secret: str) -> str:
    digest = salted_hmac(
        SIGNING_SALT, f"{owner} {file_id} {expiry}", secret=secret, algorithm="sha256"
    ).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _signature_valid(owner: str, file_id: str, expiry: int, signature: str) -> bool:
    return any(
        constant_time_compare(_signature(owner, file_id, expiry, secret), signature)
        for secret in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    )


def file_download_path(file: File) -> str:
    """The signed download path (no host) of a file, valid until the file expires."""
    expiry = int(file.expires_at.timestamp())
    query = {
        "owner": file.owner.name,
        "expiry": expiry,
        "signature": _signature(file.owner.name, file.id, expiry, settings.SECRET_KEY),
    }
    return f"{reverse('v1:file_download', args=[file.id])}?{urlencode(query)}"


def file_for_download(
    *, file_id: str, owner: str, expiry: str, signature: str, now: datetime | None = None
) -> File:
    """The file a signed download URL points at; FileUnavailable or FileExpired if none."""
    try:
        expiry_at = int(expiry)
    except ValueError:
        raise FileUnavailable from None
    if not _signature_valid(owner, file_id, expiry_at, signature):
        raise FileUnavailable
    file = File.objects.filter(pk=file_id, owner__name=owner).select_related("owner").first()
    if file is None:
        raise FileUnavailable
    now = now or timezone.now()
    if expiry_at <= now.timestamp() or file.is_expired(now):
        raise FileExpired
    return file


def local_path_for_url(url: str) -> Path | None:
    """The stored file behind one of our download URLs, if the URL still gives access to it.

    Only the path and query are looked at: the signature proves that we made the URL, so the
    host it was reached under (PUBLIC_URL, the request's host, an alias) does not matter.
    """
    if not isinstance(url, str):
        return None
    parts = urlsplit(url)
    match = DOWNLOAD_PATH.fullmatch(unquote(parts.path))
    if parts.scheme not in ("", "http", "https") or match is None:
        return None
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    try:
        file = file_for_download(
            file_id=match["id"],
            owner=query.get("owner", ""),
            expiry=query.get("expiry", ""),
            signature=query.get("signature", ""),
        )
        path = Path(file.content.path)
    except (FileUnavailable, NotImplementedError):  # NotImplementedError: not on local disk
        return None
    return path if path.is_file() else None


def own_file(url: str) -> Path | None:
    """The stored file behind one of our URLs: a Files API URL, or a media URL (on our public
    host, or relative). Version archives and Files API uploads are never reached by their
    media path."""
    if (local := local_path_for_url(url)) is not None:
        return local
    parts = urlsplit(url)
    if parts.scheme and not url.startswith(public_base() + "/"):
        return None
    prefix = "/" + settings.MEDIA_URL.strip("/") + "/"
    if not parts.path.startswith(prefix):
        return None
    name = unquote(parts.path.removeprefix(prefix))
    segments = name.split("/")  # `./versions/…` names the same stored file as `versions/…`
    if segments[0] in ("files", "versions") or any(s in ("", ".", "..") for s in segments):
        return None
    if not default_storage.exists(name):
        return None
    return Path(default_storage.path(name))
