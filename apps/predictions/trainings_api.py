"""Replicate's training endpoints: create (on a version), get, list, cancel."""

from __future__ import annotations

from django.db import transaction
from django.http import JsonResponse
from ninja import Router

from apps.accounts.models import Account
from apps.catalog.access import get_model_for_account
from apps.core.links import public_base
from apps.core.pagination import paginate
from apps.core.problems import ApiError, not_found
from apps.predictions.models import Prediction
from apps.predictions.schemas import TrainingBody
from apps.predictions.serializers import training_json
from apps.predictions.services import prediction_cancel
from apps.predictions.trainings import NOT_TRAINABLE, destination_for, training_create
from apps.predictions.validation import validate_input

router = Router(tags=["trainings"])


@router.post(
    "/models/{owner}/{name}/versions/{version_id}/trainings",
    url_name="training_create",
    summary="Create a training",
)
def create_training(request, owner: str, name: str, version_id: str, payload: TrainingBody):
    model = get_model_for_account(request.auth, owner, name)
    version = model.versions.filter(digest=version_id).first()
    if version is None:
        raise not_found()
    version.model = model
    if not version.is_trainable:
        raise ApiError(422, "Version is not trainable", NOT_TRAINABLE)
    destination = destination_for(request.auth, payload.destination)
    webhook, events = payload.webhook_options()
    inputs = validate_input(version.training_schema, payload.input)
    with transaction.atomic():
        training = training_create(
            version=version,
            owner=request.auth,
            destination=destination,
            input=inputs,
            created_by=request.auth.user if request.auth.user_id else None,
            webhook=webhook,
            webhook_events_filter=events,
        )
    body = training_json(training, public_base(request))
    response = JsonResponse(body, status=201)
    response["Location"] = body["urls"]["get"]
    return response


def _trainings(account: Account):
    return (
        Prediction.objects.visible_to_account(account)
        .filter(kind=Prediction.Kind.TRAINING)
        .select_related("model__owner", "version", "destination__owner")
    )


def _get(account: Account, training_id: str) -> Prediction:
    training = _trainings(account).filter(pk=training_id).first()
    if training is None:
        raise not_found()
    return training


@router.get("/trainings/{training_id}", url_name="training_get", summary="Get a training")
def get_training(request, training_id: str):
    return JsonResponse(training_json(_get(request.auth, training_id), public_base(request)))


@router.post(
    "/trainings/{training_id}/cancel", url_name="training_cancel", summary="Cancel a training"
)
def cancel_training(request, training_id: str):
    training = prediction_cancel(_get(request.auth, training_id))
    return JsonResponse(training_json(training, public_base(request)))


@router.get("/trainings", url_name="training_list", summary="List trainings")
def list_trainings(request):
    base = public_base(request)
    return JsonResponse(
        paginate(request, _trainings(request.auth), lambda t: training_json(t, base))
    )
