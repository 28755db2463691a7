"""Replicate's deployment endpoints: list, create, get, update, delete, and predictions."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpResponse, JsonResponse
from ninja import Router
from pydantic import BaseModel, ConfigDict, Field, model_validator

from apps.accounts.api import account_json
from apps.accounts.models import Account
from apps.catalog.access import account_can_manage
from apps.core.pagination import paginate
from apps.core.problems import ApiError, not_found
from apps.deployments import services
from apps.deployments.models import Deployment, Release
from apps.predictions.api import cancel_after_header, prefer_wait_header, respond_created
from apps.predictions.schemas import PredictionIn
from apps.predictions.serializers import timestamp
from apps.predictions.validation import validate_input

router = Router(tags=["deployments"])


def problem(exc: services.DeploymentProblem) -> ApiError:
    fields = (
        [{"type": "invalid", "field": exc.field, "description": exc.message}] if exc.field else []
    )
    titles = {400: "Nothing to change", 404: "Not found", 409: "Conflict"}
    title = titles.get(exc.status, "Invalid deployment")
    extra = {"invalid_fields": fields} if fields else {}
    return ApiError(exc.status, title, exc.message, **extra)


def release_json(request, release: Release) -> dict:
    return {
        "number": release.number,
        "model": release.deployment.model.full_name,
        "version": release.version.digest,
        "created_at": timestamp(release.created_at),
        "created_by": (
            account_json(request, release.created_by_account)
            if release.created_by_account
            else None
        ),
        "configuration": {
            "hardware": release.hardware.sku,
            "min_instances": release.min_instances,
            "max_instances": release.max_instances,
        },
    }


def deployment_json(request, deployment: Deployment) -> dict:
    release = deployment.current_release
    release.deployment = deployment
    return {
        "owner": deployment.owner.name,
        "name": deployment.name,
        "current_release": release_json(request, release),
    }


def _deployments(account: Account):
    return Deployment.objects.visible_to_account(account).select_related(
        "owner__user",
        "owner__organization",
        "model__owner",
        "current_release__version",
        "current_release__hardware",
        "current_release__created_by_account__user",
        "current_release__created_by_account__organization",
    )


def _get(account: Account, owner: str, name: str) -> Deployment:
    deployment = _deployments(account).filter(owner__name__iexact=owner, name__iexact=name).first()
    if deployment is None:
        raise not_found(f"There is no deployment {owner}/{name} that this token may use.")
    return deployment


class _JsonObject(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _object(cls, body: Any) -> Any:
        if not isinstance(body, dict):
            raise ApiError(400, "Invalid body", "The request body must be a JSON object.")
        return body


class DeploymentIn(_JsonObject):
    """The body of POST /v1/deployments (values are checked by the service, so that every
    problem is reported the same way on the API and the website)."""

    name: Any = Field(json_schema_extra={"type": "string"})
    model: Any = Field(json_schema_extra={"type": "string"}, description="owner/name")
    version: Any = Field(None, json_schema_extra={"type": "string"}, description="a version id")
    hardware: Any = Field(json_schema_extra={"type": "string"}, description="a hardware SKU")
    min_instances: Any = Field(json_schema_extra={"type": "integer", "minimum": 0, "maximum": 5})
    max_instances: Any = Field(json_schema_extra={"type": "integer", "minimum": 0, "maximum": 20})
    owner: Any = Field(
        None,
        json_schema_extra={"type": "string"},
        description="The account that owns it (default: the token's); one of your organizations.",
    )


class DeploymentPatch(_JsonObject):
    version: Any = Field(None, json_schema_extra={"type": "string"})
    hardware: Any = Field(None, json_schema_extra={"type": "string"})
    min_instances: Any = Field(None, json_schema_extra={"type": "integer"})
    max_instances: Any = Field(None, json_schema_extra={"type": "integer"})


@router.get("/deployments", url_name="deployment_list", summary="List deployments")
def list_deployments(request):
    return JsonResponse(
        paginate(request, _deployments(request.auth), lambda d: deployment_json(request, d))
    )


def _owner_for(account: Account, name) -> Account:
    if name is None or (isinstance(name, str) and name.lower() == account.name.lower()):
        return account
    owner = Account.objects.filter(name__iexact=name).first() if isinstance(name, str) else None
    if owner is None or not account_can_manage(account, owner):
        raise ApiError(
            422,
            "Invalid deployment",
            f"This token cannot create deployments for {name}.",
            invalid_fields=[{"type": "invalid", "field": "owner", "description": "not yours"}],
        )
    return owner


@router.post("/deployments", url_name="deployment_create", summary="Create a deployment")
def create_deployment(request, payload: DeploymentIn):
    account = request.auth
    owner = _owner_for(account, payload.owner)
    name = payload.name
    if isinstance(name, str) and "/" in name:  # "owner/name", as the clients may send it
        prefix, _, name = name.partition("/")
        owner = _owner_for(account, prefix)
    try:
        services.check_name(owner, name)
        model = services.resolve_model(owner, payload.model)
        version = services.resolve_version(model, payload.version)
        hardware = services.resolve_hardware(payload.hardware)
        config = services.check_config(
            version, hardware, payload.min_instances, payload.max_instances
        )
        deployment = services.deployment_create(
            owner=owner,
            name=name,
            model=model,
            config=config,
            by=account,
            user=account.user if account.user_id else None,
        )
    except services.DeploymentProblem as exc:
        raise problem(exc) from None
    return JsonResponse(deployment_json(request, _get(account, owner.name, deployment.name)))


@router.get("/deployments/{owner}/{name}", url_name="deployment_get", summary="Get a deployment")
def get_deployment(request, owner: str, name: str):
    return JsonResponse(deployment_json(request, _get(request.auth, owner, name)))


@router.patch(
    "/deployments/{owner}/{name}", url_name="deployment_update", summary="Update a deployment"
)
def update_deployment(request, owner: str, name: str, payload: DeploymentPatch):
    account = request.auth
    deployment = _get(account, owner, name)
    try:
        services.deployment_update(
            deployment,
            payload.model_dump(),
            by=account,
            user=account.user if account.user_id else None,
        )
    except services.DeploymentProblem as exc:
        raise problem(exc) from None
    return JsonResponse(deployment_json(request, _get(account, owner, name)))


@router.delete(
    "/deployments/{owner}/{name}", url_name="deployment_delete", summary="Delete a deployment"
)
def delete_deployment(request, owner: str, name: str):
    try:
        services.deployment_delete(_get(request.auth, owner, name))
    except services.DeploymentProblem as exc:
        raise problem(exc) from None
    return HttpResponse(status=204)


@router.post(
    "/deployments/{owner}/{name}/predictions",
    url_name="deployment_prediction_create",
    summary="Create a prediction on a deployment",
)
def create_deployment_prediction(request, owner: str, name: str, payload: PredictionIn):
    deployment = _get(request.auth, owner, name)
    wait = prefer_wait_header(request)
    deadline = cancel_after_header(request)
    webhook, events = payload.webhook_options()
    if deployment.is_off:
        raise problem(
            services.DeploymentProblem(
                "",
                f"{deployment.full_name} is disabled: it takes no predictions until it is "
                "enabled (or its max_instances is raised above 0).",
                status=409,
            )
        )
    version = deployment.current_release.version
    version.model = deployment.model
    inputs = validate_input(version.openapi_schema, payload.input)
    try:
        with transaction.atomic():
            prediction = services.deployment_predict(
                deployment,
                owner=request.auth,
                input=inputs,
                created_by=request.auth.user if request.auth.user_id else None,
                webhook=webhook,
                webhook_events_filter=events,
                deadline=deadline,
            )
    except services.DeploymentProblem as exc:
        raise problem(exc) from None
    return respond_created(request, prediction, wait)
