"""The Files API: `/v1/files`, as Replicate serves it, plus signed downloads."""

from __future__ import annotations

import json
import mimetypes
import re
from datetime import datetime

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.files.base import ContentFile
from django.http import FileResponse, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.utils import timezone
from ninja import Router, Schema, Status

from apps.core.links import absolute_url
from apps.core.pagination import paginate
from apps.core.problems import ApiError
from apps.core.text import contains_nul
from apps.files.models import File
from apps.files.services import (
    MAX_FILE_BYTES,
    FileExpired,
    FileUnavailable,
    file_create,
    file_delete,
    file_download_path,
    file_for_download,
)
from apps.files.uploads import PartSizeCap

router = Router(tags=["files"])

TOO_LARGE = "Files must be less than 100MB in size"
MAX_NAME_BYTES = 255
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
MIME_TYPE = re.compile(r"[\w!#$&^.+-]+/[\w!#$&^.+-]+(\s*;\s*[\w!#$&^.+-]+=\"?[^\";]*\"?)*")
# Served inline; anything else (HTML, SVG, XML, scripts, PDFs) downloads as an attachment.
INLINE_PREFIXES = ("image/", "audio/", "video/")
INLINE_TYPES = {"text/plain", "text/csv", "application/json"}
CREATE_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["content"],
                "properties": {
                    "content": {"type": "string", "format": "binary"},
                    "filename": {"type": "string", "maxLength": MAX_NAME_BYTES},
                    "type": {"type": "string", "default": "application/octet-stream"},
                    "metadata": {"type": "object", "description": "a JSON object"},
                },
            }
        }
    },
}


class FileChecksums(Schema):
    sha256: str
    md5: str


class FileUrls(Schema):
    get: str


class FileOut(Schema):
    id: str
    name: str
    content_type: str
    size: int
    etag: str
    checksums: FileChecksums
    metadata: dict
    created_at: datetime
    expires_at: datetime
    urls: FileUrls


class FilePage(Schema):
    previous: str | None = None
    next: str | None = None
    results: list[FileOut]


def file_json(file: File, request=None) -> dict:
    path = file_download_path(file)
    return {
        "id": file.id,
        "name": file.name,
        "content_type": file.content_type,
        "size": file.size,
        "etag": file.etag,
        "checksums": {"sha256": file.sha256, "md5": file.md5},
        "metadata": file.metadata,
        "created_at": file.created_at,
        "expires_at": file.expires_at,
        "urls": {"get": absolute_url(request, path)},
    }


def _invalid(field: str, kind: str, description: str) -> ApiError:
    return ApiError(
        422,
        "Input validation failed",
        f"- {field}: {description}\n",
        invalid_fields=[{"type": kind, "field": field, "description": description}],
    )


def _parse_form(request):
    """The form fields and file parts, with the size limits applied while they stream."""
    limit = PartSizeCap.install(
        request,
        limit=settings.DATA_UPLOAD_MAX_MEMORY_SIZE or MAX_FILE_BYTES,
        limits={"content": MAX_FILE_BYTES},
    )
    try:
        fields, parts = request.POST, request.FILES
    except RequestDataTooBig:
        raise ApiError(413, "Content too large", "The form fields are too large.") from None
    except (MultiPartParserError, SuspiciousOperation) as error:
        raise ApiError(
            400, "Malformed request", f"The multipart body is invalid: {error}"
        ) from None
    if limit and limit.exceeded:
        if "content" in limit.exceeded:
            raise ApiError(413, "Content too large", TOO_LARGE)
        raise ApiError(413, "Content too large", f"The {min(limit.exceeded)} part is too large.")
    return fields, parts


def _metadata(fields, parts) -> dict:
    raw = parts["metadata"].read() if "metadata" in parts else fields.get("metadata", "")
    try:
        text = raw.decode() if isinstance(raw, bytes) else raw
        value = json.loads(text, parse_constant=_refuse_constant) if text.strip() else {}
    except ValueError:
        raise _invalid("metadata", "invalid_json", "metadata must be valid JSON") from None
    if not isinstance(value, dict):
        raise _invalid("metadata", "invalid_type", "metadata must be a JSON object")
    if contains_nul(value):
        raise _invalid("metadata", "invalid_string", "metadata must not contain NUL characters")
    return value


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _name(fields, upload) -> str:
    name = fields.get("filename") or getattr(upload, "name", None) or "file"
    if len(name.encode()) > MAX_NAME_BYTES:
        raise _invalid("filename", "string_too_long", "filename must be at most 255 bytes")
    if CONTROL_CHARACTERS.search(name):
        raise _invalid("filename", "invalid", "filename must not contain control characters")
    return name


def _content_type(fields, upload, name: str) -> str:
    content_type = (
        fields.get("type")
        or getattr(upload, "content_type", "")
        or mimetypes.guess_type(name)[0]
        or "application/octet-stream"
    ).strip()
    if len(content_type) > 255 or not MIME_TYPE.fullmatch(content_type):
        raise _invalid("type", "invalid", "type must be a MIME type such as image/png")
    return content_type


@router.post(
    "/files",
    response={201: FileOut},
    operation_id="files.create",
    summary="Create a file",
    description="Upload a file (multipart field `content`, at most 100 MB) with optional "
    "`filename`, `type` and `metadata` (a JSON object, as a form field or a JSON part). "
    "`urls.get` is a signed download URL that works as a prediction input until the file "
    "expires, 24 hours after upload.",
    openapi_extra={"requestBody": CREATE_BODY},
)
def file_create_view(request):
    fields, parts = _parse_form(request)
    upload = parts.get("content")
    if upload is None and isinstance(fields.get("content"), str):
        upload = ContentFile(fields["content"].encode())  # as `curl -F content=<file` sends it
    if upload is None:
        raise _invalid(
            "content",
            "required",
            "content is required: send the file as the multipart part `content`",
        )
    name = _name(fields, upload)
    content_type = _content_type(fields, upload, name)
    metadata = _metadata(fields, parts)
    if upload.size > MAX_FILE_BYTES:  # when the body was parsed before the limit could stream
        raise ApiError(413, "Content too large", TOO_LARGE)
    file = file_create(
        owner=request.auth, content=upload, name=name, content_type=content_type, metadata=metadata
    )
    return Status(201, file_json(file, request))


def _owned_file(request, file_id: str) -> File:
    file = File.objects.filter(
        pk=file_id, owner=request.auth, expires_at__gt=timezone.now()
    ).first()
    if file is None:
        raise ApiError(404, "Not found", "File not found")
    return file


@router.get(
    "/files", response=FilePage, operation_id="files.list", summary="List files, newest first"
)
def file_list_view(request):
    files = File.objects.filter(owner=request.auth, expires_at__gt=timezone.now())
    return paginate(request, files.select_related("owner"), lambda f: file_json(f, request))


@router.get("/files/{file_id}", response=FileOut, operation_id="files.get", summary="Get a file")
def file_get_view(request, file_id: str):
    return file_json(_owned_file(request, file_id), request)


@router.delete(
    "/files/{file_id}", response={204: None}, operation_id="files.delete", summary="Delete a file"
)
def file_delete_view(request, file_id: str):
    file_delete(file=_owned_file(request, file_id))
    return HttpResponse(status=204)


@router.get(
    "/files/{file_id}/download",
    auth=None,
    url_name="file_download",
    operation_id="files.download",
    summary="Download a file",
    description="A capability URL: the signature stands in for authentication, so no "
    "Authorization header is needed (one is ignored).",
    openapi_extra={
        "responses": {
            200: {
                "description": "The file's content",
                "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                },
            }
        }
    },
)
def file_download_view(
    request, file_id: str, owner: str = "", expiry: str = "", signature: str = ""
):
    try:
        file = file_for_download(file_id=file_id, owner=owner, expiry=expiry, signature=signature)
    except FileExpired:
        raise ApiError(410, "Gone", "This file has expired.") from None
    except FileUnavailable:
        raise ApiError(404, "Not found", "File not found") from None
    mime = file.content_type.split(";")[0].strip().lower()
    inline = mime in INLINE_TYPES or (mime.startswith(INLINE_PREFIXES) and "svg" not in mime)
    response = FileResponse(
        file.content.open("rb"),
        content_type=file.content_type,
        as_attachment=not inline,
        filename=file.name,
    )
    response["ETag"] = f'"{file.md5}"'
    response["Cache-Control"] = "private, no-cache"
    response["Content-Security-Policy"] = "sandbox"
    response["X-Content-Type-Options"] = "nosniff"
    return response
