"""/v1 models and versions: list, search, create, read, update and delete models; push, list,
read and delete versions."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import ProtectedError
from django.http import HttpResponse
from ninja import File, Router, Status
from ninja.files import UploadedFile

from apps.accounts.models import Account
from apps.billing.models import Hardware
from apps.catalog.access import account_can_manage, get_model_for_account
from apps.catalog.browse_api import router as browse_router
from apps.catalog.covers import CoverError, cover_from_url
from apps.catalog.models import Model
from apps.catalog.paging import paginate_in_order
from apps.catalog.schemas import (
    ModelCreateIn,
    ModelOut,
    ModelPage,
    ModelUpdateIn,
    VersionOut,
    VersionPage,
)
from apps.catalog.search import model_search, searchable_models
from apps.catalog.serializers import model_json, version_json, with_related
from apps.catalog.services import PushError, model_create, version_push_archive
from apps.core.pagination import paginate
from apps.core.problems import ApiError, not_found
from apps.runtime import sandbox

__all__ = ["router", "version_json"]

router = Router(tags=["models"])
router.add_router("", browse_router)

URL_FIELDS = {"github_url", "paper_url", "license_url"}


def invalid(errors: dict[str, list[tuple[str, str]]]) -> ApiError:
    """A 422 in the shape of Replicate's validation errors; `errors` maps a field to
    (type, description) pairs."""
    invalid_fields = [
        {"type": kind, "field": field, "description": description}
        for field, problems in errors.items()
        for kind, description in problems
    ]
    detail = "".join(f"- {f['field']}: {f['description']}\n" for f in invalid_fields)
    return ApiError(422, "Input validation failed", detail, invalid_fields=invalid_fields)


def _check_fields(model: Model, fields) -> None:
    """Run the model's own validators (name format, URLs, lengths) on `fields`."""
    exclude = [field.name for field in Model._meta.fields if field.name not in fields]
    try:
        model.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
    except ValidationError as error:
        raise invalid(
            {
                field: [(e.code or "invalid", " ".join(e.messages)) for e in problems]
                for field, problems in error.error_dict.items()
            }
        ) from None


def _new_model_owner(account: Account, owner: str) -> Account:
    owner_account = Account.objects.filter(name__iexact=owner).first()
    if owner_account is None:
        raise not_found(f"There is no user or organization named {owner!r}.")
    if not account_can_manage(account, owner_account):
        raise ApiError(
            403, "Forbidden", f"This API token cannot create models for {owner_account.name}."
        )
    return owner_account


def _available_hardware(sku: str) -> Hardware:
    hardware = Hardware.objects.filter(sku=sku, available=True).first()
    if hardware is None:
        choices = ", ".join(
            f'"{s}"' for s in Hardware.objects.filter(available=True).values_list("sku", flat=True)
        )
        raise invalid({"hardware": [("enum", f"hardware must be one of the following: {choices}")]})
    return hardware


def _already_exists(owner: Account, name: str) -> ApiError:
    return ApiError(409, "Model already exists", f"The model {owner.name}/{name} already exists.")


@router.get("/models", response=ModelPage, summary="List models, newest first")
def model_list(request):
    models = with_related(Model.objects.visible_to_account(request.auth))
    return paginate(request, models, lambda model: model_json(model, request))


@router.api_operation(["QUERY"], "/models", response=ModelPage, include_in_schema=False)
def model_search_query(request):
    """Search with HTTP QUERY and the text as a text/plain body, as the official clients do."""
    try:
        text = request.body.decode().strip()
    except UnicodeDecodeError:
        raise ApiError(400, "Bad request", "The search text must be UTF-8.") from None
    if not text:
        raise ApiError(400, "Bad request", "Send the search text as a text/plain request body.")
    models = with_related(model_search(searchable_models(request.auth), text))
    return paginate_in_order(request, models, lambda model: model_json(model, request))


@router.post("/models", response={201: ModelOut}, summary="Create a model")
def model_create_endpoint(request, payload: ModelCreateIn):
    owner = _new_model_owner(request.auth, payload.owner)
    fields = {
        field: value or ""  # null and "" both mean none
        for field, value in payload.dict(include={"visibility", "description"} | URL_FIELDS).items()
    }
    fields["default_hardware"] = _available_hardware(payload.hardware)
    _check_fields(Model(owner=owner, name=payload.name, **fields), {"name", *fields})
    if Model.objects.filter(owner=owner, name__iexact=payload.name).exists():
        raise _already_exists(owner, payload.name)
    cover = None
    if payload.cover_image_url:
        try:
            cover = cover_from_url(payload.cover_image_url)
        except CoverError as error:
            raise invalid({"cover_image_url": [("invalid", str(error))]}) from None
    try:
        with transaction.atomic():
            model = model_create(owner=owner, name=payload.name, **fields)
            if cover is not None:
                model.cover_image.save(cover.name, cover)
    except ValidationError:  # created by someone else in the meantime
        raise _already_exists(owner, payload.name) from None
    return Status(201, model_json(model, request))


@router.get("/models/{owner}/{name}", response=ModelOut, summary="Get a model")
def model_get(request, owner: str, name: str):
    return model_json(get_model_for_account(request.auth, owner, name), request)


def _managed_model(account: Account, owner: str, name: str, action: str) -> Model:
    """The model if the account may change it: 404 when it cannot even see it, else 403."""
    model = get_model_for_account(account, owner, name)
    if not account_can_manage(account, model.owner):
        raise ApiError(403, "Forbidden", f"You cannot {action} this model.")
    return model


@router.patch("/models/{owner}/{name}", response=ModelOut, summary="Update a model's metadata")
def model_update(request, owner: str, name: str, payload: ModelUpdateIn):
    model = _managed_model(request.auth, owner, name, "change")
    changes = {field: value or "" for field, value in payload.dict(exclude_unset=True).items()}
    for field, value in changes.items():
        setattr(model, field, value)
    _check_fields(model, changes)
    if changes:
        model.save(update_fields=[*changes, "updated_at"])
    return model_json(model, request)


@router.delete("/models/{owner}/{name}", response={204: None}, summary="Delete a model")
def model_delete(request, owner: str, name: str):
    model = _managed_model(request.auth, owner, name, "delete")
    if model.is_public:
        raise ApiError(
            409, "Cannot delete model", "Only private models can be deleted; make it private first."
        )
    if model.versions.exists():
        raise ApiError(
            409, "Cannot delete model", "The model has versions; delete its versions first."
        )
    model.cover_image.delete(save=False)
    model.delete()
    return HttpResponse(status=204)


@router.get(
    "/models/{owner}/{name}/readme",
    summary="Get a model's README (Markdown, text/plain)",
    openapi_extra={
        "responses": {
            200: {
                "description": "Markdown",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        }
    },
)
def model_readme(request, owner: str, name: str):
    model = get_model_for_account(request.auth, owner, name)
    if not model.readme.strip():
        raise not_found("This model has no README.")
    return HttpResponse(model.readme, content_type="text/plain; charset=utf-8")


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
    user = request.auth.user if request.auth.user_id else None
    if not sandbox.may_push(user):
        raise ApiError(403, "Pushing is limited", sandbox.PUSH_LIMITED)
    model = _model_to_push_to(request.auth, owner, name)
    if archive.size > settings.MAX_VERSION_ARCHIVE_BYTES:  # cut off as it streamed (uploads.py)
        limit = settings.MAX_VERSION_ARCHIVE_BYTES // 2**20
        raise ApiError(413, "Content too large", f"The archive must be smaller than {limit} MB.")
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


@router.get(
    "/models/{owner}/{name}/versions",
    response=VersionPage,
    summary="List a model's versions, newest first",
)
def version_list(request, owner: str, name: str):
    model = get_model_for_account(request.auth, owner, name)
    return paginate(request, model.versions.all(), version_json)


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
    try:
        with transaction.atomic():
            version.delete()
    except ProtectedError:  # a release of a deployment runs it (apps/deployments)
        raise ApiError(
            409,
            "Cannot delete version",
            "A deployment uses this version; change or delete the deployment first.",
        ) from None
    version.artifact.delete(save=False)
    model.refresh_latest_version()
    return HttpResponse(status=204)
