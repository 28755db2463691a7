from __future__ import annotations

import mimetypes

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from apps.catalog.access import get_model_for_user
from apps.catalog.forms import ModelSettingsForm, PushForm
from apps.catalog.services import PushError, version_push_archive


def model_detail(request, owner: str, name: str):
    model, can_manage = get_model_for_user(request.user, owner, name)
    example = (
        model.predictions.filter(is_example=True, status="succeeded")
        .order_by("-created_at")
        .first()
    )
    versions = model.versions.only(
        "digest", "created_at", "cog_version", "setup_status", "openapi_schema"
    )[:50]
    return render(
        request,
        "catalog/model.html",
        {
            "model": model,
            "can_manage": can_manage,
            "versions": versions,
            "example": example,
            "example_image": _image_url(example.output) if example else None,
        },
    )


def _image_url(output) -> str | None:
    if isinstance(output, str) and output.startswith(("http://", "https://")):
        content_type = mimetypes.guess_type(output.split("?", 1)[0])[0] or ""
        if content_type.startswith("image/"):
            return output
    return None


def _manageable(request, owner: str, name: str):
    model, can_manage = get_model_for_user(request.user, owner, name)
    if not can_manage:
        raise PermissionDenied("Only members of the owning account can change this model.")
    return model


@require_http_methods(["GET", "POST"])
def model_settings(request, owner: str, name: str):
    model = _manageable(request, owner, name)
    form = ModelSettingsForm(request.POST or None, request.FILES or None, instance=model)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Settings saved.")
        return redirect("model_settings", owner=model.owner.name, name=model.name)
    return render(
        request,
        "catalog/settings.html",
        {"model": model, "form": form, "push_form": PushForm()},
        status=422 if form.errors else 200,
    )


@require_POST
def model_push(request, owner: str, name: str):
    model = _manageable(request, owner, name)
    push_form = PushForm(request.POST, request.FILES)
    context = {"model": model, "form": ModelSettingsForm(instance=model), "push_form": push_form}
    if not push_form.is_valid():
        return render(request, "catalog/settings.html", context, status=422)
    user = request.user if request.user.is_authenticated else None
    try:
        version, created = version_push_archive(
            model=model, archive=push_form.cleaned_data["archive"], created_by=user
        )
    except PushError as error:
        push_form.add_error("archive", str(error))
        context["push_details"] = error.details
        return render(request, "catalog/settings.html", context, status=422)
    if created:
        messages.success(request, f"Version {version.digest[:12]} pushed.")
    else:
        messages.info(request, f"Nothing changed: this is version {version.digest[:12]}.")
    return redirect("model_settings", owner=model.owner.name, name=model.name)
