"""The model page: one URL per tab (Playground, API, Examples, README, Versions, Settings).

htmx tab switches get just the `tab` partial of the same page template; plain requests (and
htmx history restores) get the whole page, so every tab works without JavaScript. The tabs
that run and show predictions (Playground, API, Examples) are the predictions app's
(apps/predictions/model_tabs.py): it depends on the catalog, never the other way round."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.context import acting_accounts, current_account
from apps.catalog.access import get_model_for_user
from apps.catalog.forms import ModelSettingsForm, PushForm
from apps.catalog.inputs import input_fields
from apps.catalog.models import Model
from apps.catalog.services import PushError, version_push_archive
from apps.runtime import sandbox

VERSIONS_SHOWN = 100


TABS = [
    ("playground", "Playground", "model"),
    ("api", "API", "model_api"),
    ("train", "Train", "model_train"),  # trainable models only
    ("examples", "Examples", "model_examples"),
    ("readme", "README", "model_readme"),
    ("versions", "Versions", "model_versions"),
    ("settings", "Settings", "model_settings"),
]
TAB_LABELS = {key: label for key, label, _url_name in TABS}


def _tabs(model: Model, can_manage: bool, query: str) -> list[tuple[str, str, str]]:
    """(key, label, url) of each tab; Playground and API keep `?version=` and `?prediction=`."""
    tabs = []
    for key, label, url_name in TABS:
        if key == "settings" and not can_manage:
            continue
        if key == "train" and not (model.latest_version and model.latest_version.is_trainable):
            continue
        url = reverse(url_name, args=[model.owner.name, model.name])
        tabs.append((key, label, url + query if key in ("playground", "api") else url))
    return tabs


def tab_response(request, template: str, context: dict, *, status: int = 200, title: str = ""):
    """Render a tab: just its `tab` partial for htmx tab switches, else the whole page."""
    model = context["model"]
    context["tabs"] = _tabs(model, context["can_manage"], context.get("query", ""))
    title = title or ("" if context["tab"] == "playground" else TAB_LABELS[context["tab"]])
    context["page_title"] = f"{title} · {model.full_name}" if title else model.full_name
    context["latest_url"] = request.path
    if request.htmx and not request.htmx.history_restore_request:
        template += "#tab"
    else:
        context["acting_accounts"] = acting_accounts(request.user)
        context["acting_account"] = current_account(request, context["acting_accounts"])
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_GET
def model_readme(request, owner: str, name: str):
    model, can_manage = get_model_for_user(request.user, owner, name)
    context = {"model": model, "can_manage": can_manage, "tab": "readme"}
    return tab_response(request, "catalog/readme.html", context)


@require_GET
def model_versions(request, owner: str, name: str):
    model, can_manage = get_model_for_user(request.user, owner, name)
    versions = model.versions.only(
        "model_id", "digest", "created_at", "cog_version", "setup_status", "openapi_schema"
    )[:VERSIONS_SHOWN]
    context = {
        "model": model,
        "can_manage": can_manage,
        "tab": "versions",
        "versions": versions,
        "total": model.versions.count(),
    }
    return tab_response(request, "catalog/versions.html", context)


@require_GET
def version_detail(request, owner: str, name: str, digest: str):
    model, can_manage = get_model_for_user(request.user, owner, name)
    version = (
        model.versions.select_related("created_by", "trained_from__model__owner")
        .filter(digest=digest)
        .first()
    )
    if version is None:
        raise Http404("No such version")
    context = {
        "model": model,
        "can_manage": can_manage,
        "tab": "versions",
        "version": version,
        "fields": input_fields(version.openapi_schema),
        "version_query": "?" + urlencode({"version": version.digest}),
    }
    title = f"Version {version.digest[:12]}"
    return tab_response(request, "catalog/version.html", context, title=title)


def _manageable(request, owner: str, name: str):
    model, can_manage = get_model_for_user(request.user, owner, name)
    if not can_manage:
        raise PermissionDenied("Only members of the owning account can change this model.")
    return model


def _settings_context(model: Model, **extra) -> dict:
    return {"model": model, "can_manage": True, "tab": "settings", **extra}


@require_http_methods(["GET", "POST"])
def model_settings(request, owner: str, name: str):
    model = _manageable(request, owner, name)
    form = ModelSettingsForm(request.POST or None, request.FILES or None, instance=model)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Settings saved.")
        return redirect("model_settings", owner=model.owner.name, name=model.name)
    context = _settings_context(model, form=form, push_form=PushForm())
    return tab_response(
        request, "catalog/settings.html", context, status=422 if form.errors else 200
    )


@require_POST
def model_push(request, owner: str, name: str):
    model = _manageable(request, owner, name)
    push_form = PushForm(request.POST, request.FILES)
    context = _settings_context(model, form=ModelSettingsForm(instance=model), push_form=push_form)
    if not push_form.is_valid():
        return tab_response(request, "catalog/settings.html", context, status=422)
    user = request.user if request.user.is_authenticated else None
    if not sandbox.may_push(user):
        push_form.add_error("archive", sandbox.PUSH_LIMITED)
        return tab_response(request, "catalog/settings.html", context, status=403)
    try:
        version, created = version_push_archive(
            model=model, archive=push_form.cleaned_data["archive"], created_by=user
        )
    except PushError as error:
        push_form.add_error("archive", str(error))
        context["push_details"] = error.details
        return tab_response(request, "catalog/settings.html", context, status=422)
    if created:
        messages.success(request, f"Version {version.digest[:12]} pushed.")
    else:
        messages.info(request, f"Nothing changed: this is version {version.digest[:12]}.")
    return redirect("model_settings", owner=model.owner.name, name=model.name)
