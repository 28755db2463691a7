from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from ninja import File, Router, Schema, Status
from ninja.files import UploadedFile

from apps.accounts.models import Account
from apps.catalog.access import account_can_manage, get_model_for_account
from apps.catalog.models import Model, Version
from apps.catalog.services import PushError, model_create, version_push_archive
from apps.core.problems import ApiError, not_found

router = Router(tags=["models"])


class VersionOut(Schema):
    id: str
    created_at: datetime
    cog_version: str
    openapi_schema: dict


def version_json(version: Version) -> dict:
    return {
        "id": version.digest,
        "created_at": version.created_at,
        "cog_version": version.cog_version,
        "openapi_schema": version.openapi_schema,
    }


def _model_to_push_to(account: Account, owner: str, name: str) -> Model:
    model = Model.objects.filter(owner__name__iexact=owner, name__iexact=name).first()
    if model is not None:
        if not account_can_manage(account, model.owner):
            # Visible but not yours: 403; invisible: the usual 404.
            get_model_for_account(account, owner, name)
            raise ApiError(403, "Forbidden", "You cannot push versions to this model.")
        return model
    owner_account = Account.objects.filter(name__iexact=owner).first()
    if owner_account is None or not account_can_manage(account, owner_account):
        raise not_found()
    try:
        return model_create(owner=owner_account, name=name, visibility=Model.Visibility.PRIVATE)
    except ValidationError as error:
        raise ApiError(422, "Invalid model name", " ".join(error.messages)) from None


@router.post(
    "/models/{owner}/{name}/versions",
    response={200: VersionOut, 201: VersionOut},
    summary="Push a new version (selfrep extension)",
    description="Upload the model directory as a .tar.gz or .zip in the multipart field "
    "`archive`. The model is created (private) if it does not exist and the token's account "
    "may own it. Pushing identical content returns the existing version with 200.",
)
def version_push(request, owner: str, name: str, archive: File[UploadedFile]):
    model = _model_to_push_to(request.auth, owner, name)
    user = request.auth.user if request.auth.user_id else None
    try:
        version, created = version_push_archive(model=model, archive=archive, created_by=user)
    except PushError as error:
        raise ApiError(422, "Version push failed", str(error), logs=error.details) from None
    return Status(201 if created else 200, version_json(version))


@router.get(
    "/models/{owner}/{name}/versions/{version_id}",
    response=VersionOut,
    summary="Get a model version",
)
def version_get(request, owner: str, name: str, version_id: str):
    model = get_model_for_account(request.auth, owner, name)
    version = model.versions.filter(digest=version_id).first()
    if version is None:
        raise not_found()
    return version_json(version)


class VersionPage(Schema):
    previous: str | None = None
    next: str | None = None
    results: list[VersionOut]


@router.get(
    "/models/{owner}/{name}/versions",
    response=VersionPage,
    summary="List a model's versions, newest first",
)
def version_list(request, owner: str, name: str):
    model = get_model_for_account(request.auth, owner, name)
    return {
        "previous": None,
        "next": None,
        "results": [version_json(v) for v in model.versions.all()[:100]],
    }


@router.delete(
    "/models/{owner}/{name}/versions/{version_id}", response={204: None}, summary="Delete a version"
)
def version_delete(request, owner: str, name: str, version_id: str):
    model = get_model_for_account(request.auth, owner, name)
    if not account_can_manage(request.auth, model.owner):
        raise ApiError(403, "Forbidden", "You cannot delete versions of this model.")
    version = model.versions.filter(digest=version_id).first()
    if version is None:
        raise not_found()
    if model.is_public:
        raise ApiError(
            409,
            "Cannot delete version",
            "Versions of public models cannot be deleted; make the model private.",
        )
    if version.predictions.exclude(owner=model.owner).exists():
        raise ApiError(
            409, "Cannot delete version", "Other accounts have run predictions with this version."
        )
    version.artifact.delete(save=False)
    version.delete()
    model.refresh_latest_version()
    return HttpResponse(status=204)
