"""RFC 7807 problem responses, the error format of the /v1 API."""

from __future__ import annotations

from django.http import JsonResponse

PROBLEM_CONTENT_TYPE = "application/problem+json"


class ApiError(Exception):
    """Raise anywhere under /v1 to answer with a problem+json body."""

    def __init__(self, status: int, title: str, detail: str, **extra) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.extra = extra
        self.headers: dict[str, str] = {}


def problem_response(
    status: int, title: str, detail: str, headers: dict[str, str] | None = None, **extra
) -> JsonResponse:
    body = {"title": title, "detail": detail, "status": status, **extra}
    response = JsonResponse(body, status=status, content_type=PROBLEM_CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def not_found(detail: str = "The requested resource could not be found.") -> ApiError:
    return ApiError(404, "Not found", detail)
