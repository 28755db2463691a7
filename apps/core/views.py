from __future__ import annotations

import mimetypes

from django.core.files.storage import default_storage
from django.db import connection
from django.http import FileResponse, Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from apps.core.problems import problem_response
from apps.core.redis import client


@csrf_exempt
def api_not_found(request):
    return problem_response(404, "Not found", "The requested resource could not be found.")


def healthz(request):
    """Liveness of the web process and its two backing services."""
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["database"] = f"error: {exc.__class__.__name__}"
    try:
        client().ping()
        checks["redis"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["redis"] = f"error: {exc.__class__.__name__}"
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", **checks}, status=200 if healthy else 503
    )


SAFE_INLINE_TYPES = ("image/", "audio/", "video/", "text/plain", "application/json")


def media(request, path: str):
    """Stored files (model outputs, covers, version archives are not served here)."""
    # Version archives are not public, and uploaded files have signed URLs of their own.
    # Empty and "." segments are refused too: `./versions/…` is the same file in storage.
    segments = path.split("/")
    if segments[0] in ("versions", "files") or any(s in ("", ".", "..") for s in segments):
        raise Http404
    if not default_storage.exists(path):
        raise Http404
    content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    response = FileResponse(default_storage.open(path, "rb"), content_type=content_type)
    if not content_type.startswith(SAFE_INLINE_TYPES) or content_type == "image/svg+xml":
        # Never render user-made HTML, SVG or scripts on our origin.
        response["Content-Disposition"] = "attachment"
    response["Cache-Control"] = "public, max-age=86400"
    return response
