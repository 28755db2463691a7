"""Turning a prediction's file inputs into local files the model process can read."""

from __future__ import annotations

import base64
import binascii
import mimetypes
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx

from apps.core import outbound
from apps.core.outbound import OutboundRefused, check_url
from apps.runtime import schema

DATA_URI = re.compile(
    r"^data:(?P<type>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^;,]*)*?),(?P<data>.*)$", re.DOTALL
)
MAX_REDIRECTS = 5


class InputFileError(ValueError):
    """A file input could not be fetched: the message says which and why."""


def file_fields(openapi_schema: dict) -> tuple[set[str], set[str]]:
    """Names of the version's inputs that are files, and of those that are lists of files."""
    specs = schema.inputs(openapi_schema)
    return (
        {spec.name for spec in specs if spec.kind == "file"},
        {spec.name for spec in specs if spec.kind == "files"},
    )


def _filename(url: str, content_type: str | None) -> str:
    name = Path(unquote(urlsplit(url).path)).name
    if not name or "." not in name:
        extension = mimetypes.guess_extension(content_type or "") or ""
        name = (name or "input") + extension
    return re.sub(r"[^\w.-]", "_", name)[:100]


def from_data_uri(uri: str, target_dir: Path, max_bytes: int, name: str = "input") -> Path:
    """The content of a `data:` URI as a file in target_dir, named `name` + an extension
    of its type."""
    match = DATA_URI.match(uri)
    if not match:
        raise InputFileError("is not a valid data: URI")
    payload = match.group("data")
    if ";base64" in (match.group("params") or ""):
        if len(payload) * 3 // 4 > max_bytes:
            raise InputFileError(f"is larger than the {max_bytes} byte limit")
        try:
            content = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise InputFileError("is a data: URI whose content is not valid base64") from None
    else:
        content = unquote(payload).encode()
    if len(content) > max_bytes:
        raise InputFileError(f"is larger than the {max_bytes} byte limit")
    path = target_dir / _filename(name, match.group("type"))
    path.write_bytes(content)
    return path


def _download(url: str, target_dir: Path, max_bytes: int, timeout: float) -> Path:
    with outbound.client(timeout=timeout) as client:
        for _ in range(MAX_REDIRECTS + 1):
            try:
                check_url(url)
            except OutboundRefused as exc:
                raise InputFileError(f"cannot be fetched: {exc}") from None
            try:
                with client.stream("GET", url) as response:
                    if response.is_redirect:
                        url = str(response.url.join(response.headers["Location"]))
                        continue
                    if response.status_code != 200:
                        raise InputFileError(
                            f"could not be fetched: the server answered {response.status_code}"
                        )
                    declared = int(response.headers.get("Content-Length") or 0)
                    if declared > max_bytes:
                        raise InputFileError(
                            f"is {declared} bytes, over the {max_bytes} byte limit"
                        )
                    content_type = response.headers.get("Content-Type", "").split(";")[0]
                    path = target_dir / _filename(url, content_type)
                    size = 0
                    with open(path, "wb") as handle:
                        for chunk in response.iter_bytes(1 << 20):
                            size += len(chunk)
                            if size > max_bytes:
                                raise InputFileError(f"is larger than the {max_bytes} byte limit")
                            handle.write(chunk)
                    return path
            except OutboundRefused as exc:  # the name resolved elsewhere as we connected
                raise InputFileError(f"cannot be fetched: {exc}") from None
            except httpx.TimeoutException:
                raise InputFileError(f"could not be fetched within {timeout:g}s") from None
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                raise InputFileError(f"could not be fetched ({exc.__class__.__name__})") from None
    raise InputFileError(f"redirected more than {MAX_REDIRECTS} times")


def fetch(
    value: str,
    target_dir: Path,
    *,
    max_bytes: int,
    timeout: float,
    own_file: Callable[[str], Path | None],
) -> Path:
    """A local copy of a file input given as a data: URI, an http(s) URL or one of our URLs."""
    if not isinstance(value, str):
        raise InputFileError("must be a URL or a data: URI")
    target_dir.mkdir(parents=True, exist_ok=True)
    if value.startswith("data:"):
        return from_data_uri(value, Path(tempfile.mkdtemp(dir=target_dir)), max_bytes)
    try:
        urlsplit(value).port  # noqa: B018 (raises for unclosed [ and impossible ports)
    except ValueError as exc:
        raise InputFileError(f"cannot be fetched: it is not a valid URL ({exc})") from None
    local = own_file(value)
    if local is not None:
        if local.stat().st_size > max_bytes:
            raise InputFileError(f"is larger than the {max_bytes} byte limit")
        copy_dir = Path(tempfile.mkdtemp(dir=target_dir))
        return Path(shutil.copy(local, copy_dir / local.name))
    return _download(value, Path(tempfile.mkdtemp(dir=target_dir)), max_bytes, timeout)
