"""Replicate's prediction endpoints: create (three ways), get, list, cancel."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from django.db import transaction
from django.http import Http404, JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from ninja import Router

from apps.accounts.models import Account
from apps.catalog.access import account_can_see, get_model_for_account
from apps.catalog.models import Version
from apps.core.links import public_base
from apps.core.pagination import paginate
from apps.core.problems import ApiError, not_found
from apps.predictions.models import Prediction
from apps.predictions.schemas import (
    PredictionBody,
    PredictionIn,
    PredictionPage,
    VersionPredictionBody,
)
from apps.predictions.serializers import prediction_json
from apps.predictions.services import prediction_cancel, prediction_create, prediction_wait
from apps.predictions.validation import validate_input

router = Router(tags=["predictions"])

PREFER_WAIT = re.compile(r"^\s*wait(?:\s*=\s*(\d+))?\s*$")
DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
VERSION_REF = re.compile(r"^([^/\s]+)/([^/:\s]+)(?::([0-9a-f]{64}))?$")


def cancel_after_header(request) -> datetime | None:
    raw = request.headers.get("Cancel-After")
    if raw is None:
        return None
    match = DURATION.match(raw.strip())
    if not raw.strip() or not match or not any(match.groups()):
        raise ApiError(
            400,
            "Invalid Cancel-After",
            "Cancel-After must be a duration such as 30, 90s, 5m or 1h30m.",
        )
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if not 5 <= total <= 24 * 3600:
        raise ApiError(
            400, "Invalid Cancel-After", "Cancel-After must be between 5 seconds and 24 hours."
        )
    return timezone.now() + timedelta(seconds=total)


def prefer_wait_header(request) -> int | None:
    raw = request.headers.get("Prefer")
    if raw is None:
        return None
    match = PREFER_WAIT.match(raw)
    if not match:
        raise ApiError(
            400, "Invalid Prefer header", "Prefer must be `wait` or `wait=N` with N from 1 to 60."
        )
    seconds = int(match.group(1) or 60)
    if not 1 <= seconds <= 60:
        detail = f"Prefer: wait={seconds} is out of range: use 1 to 60 seconds."
        raise ApiError(400, "Invalid Prefer header", detail)
    return seconds


def _invalid_version() -> ApiError:
    return ApiError(
        422,
        "Invalid version or not permitted",
        "The specified version does not exist (or perhaps you don't have permission to use it?)",
    )


def _resolve_version(account: Account, ref) -> Version:
    if not isinstance(ref, str):
        raise _invalid_version()
    if HEX64.match(ref):
        versions = Version.objects.filter(digest=ref).select_related(
            "model__owner", "model__default_hardware"
        )
        # The same content may be pushed to several models: prefer the caller's own.
        for version in sorted(versions, key=lambda v: v.model.owner_id != account.pk):
            if account_can_see(account, version.model):
                return version
        raise _invalid_version()
    match = VERSION_REF.match(ref)
    if not match:
        raise _invalid_version()
    owner, name, digest = match.groups()
    try:
        model = get_model_for_account(account, owner, name)
    except Http404:
        raise _invalid_version() from None
    version = model.versions.filter(digest=digest).first() if digest else model.latest_version
    if version is None:
        raise _invalid_version()
    version.model = model  # already loaded, with what the response needs
    return version


def _create(request, version: Version, payload: PredictionIn):
    wait = prefer_wait_header(request)
    deadline = cancel_after_header(request)
    webhook, events = payload.webhook_options()
    inputs = validate_input(version.openapi_schema, payload.input)
    with transaction.atomic():
        prediction = prediction_create(
            version=version,
            owner=request.auth,
            input=inputs,
            created_by=request.auth.user if request.auth.user_id else None,
            webhook=webhook,
            webhook_events_filter=events,
            deadline=deadline,
        )
    return respond_created(request, prediction, wait)


def respond_created(request, prediction: Prediction, wait: int | None):
    """The 201 of every create endpoint, after waiting up to `wait` seconds (`Prefer: wait`)."""
    headers = {}
    if wait is not None:
        prediction = prediction_wait(prediction, wait - 0.25)
        headers["Preference-Applied"] = f"wait={wait}"
    body = prediction_json(prediction, public_base(request))
    if wait is not None and not prediction.is_terminal:
        # Clients take anything but `starting` as finished: say `starting` until it is.
        body["status"] = Prediction.Status.STARTING
    response = JsonResponse(body, status=201)
    response["Location"] = body["urls"]["get"]
    for name, value in headers.items():
        response[name] = value
    return response


@router.post("/predictions", url_name="prediction_create", summary="Create a prediction")
def create_prediction(request, payload: VersionPredictionBody):
    return _create(request, _resolve_version(request.auth, payload.version), payload)


@router.post(
    "/models/{owner}/{name}/predictions",
    url_name="model_prediction_create",
    summary="Create a prediction with a model's latest version",
)
def create_model_prediction(request, owner: str, name: str, payload: PredictionBody):
    model = get_model_for_account(request.auth, owner, name)
    if model.latest_version is None:
        raise ApiError(
            422, "Model has no versions", f"{model.full_name} has no versions to run yet."
        )
    version = model.latest_version
    version.model = model  # already loaded, with what the response needs
    return _create(request, version, payload)


def _visible_predictions(account: Account):
    return Prediction.objects.visible_to_account(account).select_related("model__owner", "version")


def _get(account: Account, prediction_id: str) -> Prediction:
    prediction = _visible_predictions(account).filter(pk=prediction_id).first()
    if prediction is None:
        raise not_found()
    return prediction


@router.get("/predictions/{prediction_id}", url_name="prediction_get", summary="Get a prediction")
def get_prediction(request, prediction_id: str):
    return JsonResponse(prediction_json(_get(request.auth, prediction_id), public_base(request)))


@router.post(
    "/predictions/{prediction_id}/cancel",
    url_name="prediction_cancel",
    summary="Cancel a prediction",
)
def cancel_prediction(request, prediction_id: str):
    prediction = prediction_cancel(_get(request.auth, prediction_id))
    return JsonResponse(prediction_json(prediction, public_base(request)))


def _parse_time(request, name: str) -> datetime | None:
    raw = request.GET.get(name)
    if raw is None:
        return None
    try:
        value = parse_datetime(raw.replace(" ", "+"))
    except ValueError:  # well formed but impossible: month 13, offset +99:99
        value = None
    if value is None:
        raise ApiError(400, f"Invalid {name}", f"{name} must be an ISO 8601 date and time.")
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.utc)
    return value


@router.get("/predictions", url_name="prediction_list", summary="List predictions")
def list_predictions(request):
    predictions = _visible_predictions(request.auth).filter(kind=Prediction.Kind.PREDICTION)
    if (after := _parse_time(request, "created_after")) is not None:
        predictions = predictions.filter(created_at__gte=after)
    if (before := _parse_time(request, "created_before")) is not None:
        predictions = predictions.filter(created_at__lt=before)
    source = request.GET.get("source")
    if source is not None:
        if source != "web":
            raise ApiError(400, "Invalid source", "source can only be `web`.")
        predictions = predictions.filter(source=source)
    base = public_base(request)
    return JsonResponse(paginate(request, predictions, lambda p: prediction_json(p, base)))


@router.get(
    "/models/{owner}/{name}/examples",
    response=PredictionPage,
    summary="List a model's example predictions, newest first",
)
def model_examples(request, owner: str, name: str):
    model = get_model_for_account(request.auth, owner, name)
    examples = model.predictions.filter(is_example=True).select_related("version", "model__owner")
    base = public_base(request)
    return paginate(request, examples, lambda prediction: prediction_json(prediction, base))
