"""The public JSON API under /v1, following Replicate's published OpenAPI document."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DataError
from django.http import Http404
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from apps.accounts.api import router as account_router
from apps.accounts.auth import INVALID, TokenAuth
from apps.billing.api import router as billing_router
from apps.catalog.api import router as catalog_router
from apps.core.busy import busy_problem, is_database_busy
from apps.core.jsonbody import BodyParser
from apps.core.problems import ApiError, problem_response
from apps.deployments.api import router as deployments_router
from apps.files.api import router as files_router
from apps.predictions.api import router as predictions_router
from apps.predictions.trainings_api import router as trainings_router
from apps.predictions.webhooks import router as webhooks_router

logger = logging.getLogger(__name__)

api = NinjaAPI(
    title="Self-hosted Replicate-compatible API",
    version="1",
    description="Replicate's HTTP API, served by your own platform. "
    "Authenticate with `Authorization: Bearer <token>`.",
    auth=TokenAuth(),
    parser=BodyParser(),
    urls_namespace="v1",
    docs_url="/docs",
    openapi_url="/openapi.json",
)
api.add_router("", account_router)
api.add_router("", billing_router)
api.add_router("", catalog_router)
api.add_router("", predictions_router)
api.add_router("", trainings_router)
api.add_router("", files_router)
api.add_router("", deployments_router)
api.add_router("", webhooks_router)


@api.exception_handler(ApiError)
def on_api_error(request, exc: ApiError):
    return problem_response(exc.status, exc.title, exc.detail, headers=exc.headers, **exc.extra)


def _field_name(loc) -> str:
    # ninja reports ("body", "payload", "field"): the client knows neither of the first two.
    parts = [str(part) for part in loc if part not in ("body", "query", "path", "header")]
    if loc and loc[0] == "body" and len(parts) > 1:
        parts = parts[1:]
    return ".".join(parts)


NINJA_TO_REPLICATE_TYPES = {
    "extra_forbidden": "additional_property_not_allowed",
    "literal_error": "enum",
    "missing": "required",
    "enum": "enum",
}


@api.exception_handler(ValidationError)
def on_validation_error(request, exc: ValidationError):
    invalid_fields = [
        {
            "type": error.get("type", "invalid"),
            "field": _field_name(error.get("loc", ())),
            "description": error.get("msg", "is invalid"),
        }
        for error in exc.errors
    ]
    detail = "".join(f"- {f['field']}: {f['description']}\n" for f in invalid_fields)
    return problem_response(422, "Input validation failed", detail, invalid_fields=invalid_fields)


@api.exception_handler(AuthenticationError)
def on_authentication_error(request, exc):
    return problem_response(401, "Unauthenticated", INVALID)


@api.exception_handler(Http404)
def on_not_found(request, exc):
    return problem_response(404, "Not found", "The requested resource could not be found.")


@api.exception_handler(HttpError)
def on_http_error(request, exc: HttpError):
    if isinstance(exc.__cause__, ApiError):  # ninja wraps what BodyParser refuses
        return on_api_error(request, exc.__cause__)
    return problem_response(exc.status_code, exc.message, exc.message)


@api.exception_handler(DataError)
def on_unstorable_data(request, exc):
    # e.g. a NUL character in JSON, which PostgreSQL's jsonb and text columns cannot hold.
    logger.warning("Refused unstorable data in %s %s: %s", request.method, request.path, exc)
    return problem_response(
        400,
        "Invalid data",
        "The request contains data that cannot be stored, such as NUL (\\u0000) characters.",
    )


@api.exception_handler(RequestDataTooBig)
def on_body_too_large(request, exc):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE // 2**20
    return problem_response(
        413, "Content too large", f"The request body must be smaller than {limit} MB."
    )


@api.exception_handler(Exception)
def on_unexpected_error(request, exc):
    if is_database_busy(exc):
        return busy_problem(request)
    logger.exception("Unhandled error in %s %s", request.method, request.path)
    return problem_response(500, "Internal server error", "Something went wrong on our side.")
