"""The model page: one URL per tab (Playground, API, Examples, README, Versions, Settings).

htmx tab switches get just the `tab` partial of the same page template; plain requests (and
htmx history restores) get the whole page, so every tab works without JavaScript."""

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
from apps.catalog.inputs import input_fields, output_shape, snippet_input
from apps.catalog.models import Model, Version
from apps.catalog.services import PushError, version_push_archive
from apps.catalog.snippets import api_snippets
from apps.core.links import public_base
from apps.predictions.display import output_view
from apps.predictions.forms import PlaygroundForm, playground_initial
from apps.predictions.models import Prediction
from apps.runtime import sandbox

LANGUAGES = {"python": "Python", "node": "Node.js", "http": "HTTP"}
VERSIONS_SHOWN = 100
EXAMPLES_SHOWN = 24


TABS = [
    ("playground", "Playground", "model"),
    ("api", "API", "model_api"),
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
        url = reverse(url_name, args=[model.owner.name, model.name])
        tabs.append((key, label, url + query if key in ("playground", "api") else url))
    return tabs


def _tab_response(request, template: str, context: dict, *, status: int = 200, title: str = ""):
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


def _shown_prediction(request, model: Model):
    """`?prediction=<id>`: one of this model's predictions the user may see, else a 404."""
    prediction_id = request.GET.get("prediction")
    if not prediction_id:
        return None
    prediction = (
        Prediction.objects.visible_to(request.user)
        .select_related("version")
        .filter(pk=prediction_id, model=model)
        .first()
    )
    if prediction is None:
        raise Http404("No such prediction")
    return prediction


def _selected_version(request, model: Model, prediction=None) -> Version | None:
    """`?version=<digest>`, else the prediction's version, else the latest."""
    digest = request.GET.get("version")
    if digest:
        version = model.versions.filter(digest=digest).first()
        if version is None:
            raise Http404("No such version")
        return version
    if prediction is not None:
        return prediction.version
    return model.latest_version


def _query(request) -> str:
    """The version and prediction a Playground or API tab link keeps."""
    kept = {key: request.GET[key] for key in ("version", "prediction") if request.GET.get(key)}
    return "?" + urlencode(kept) if kept else ""


def _example(model: Model, version: Version | None = None):
    examples = model.predictions.filter(is_example=True, status="succeeded")
    if version is not None:
        examples = examples.filter(version=version)
    return examples.order_by("-created_at").first()


def _playground_form(version: Version | None, prediction) -> PlaygroundForm | None:
    if version is None:
        return None
    initial = playground_initial(prediction) if prediction is not None else None
    return PlaygroundForm(version.openapi_schema, initial=initial)


@require_GET
def model_detail(request, owner: str, name: str):
    """The Playground tab: the form for the latest version, `?version=` or `?prediction=`."""
    model, can_manage = get_model_for_user(request.user, owner, name)
    prediction = _shown_prediction(request, model)
    version = _selected_version(request, model, prediction)
    form = _playground_form(version, prediction)
    return playground_page(
        request,
        model=model,
        can_manage=can_manage,
        version=version,
        form=form,
        prediction=prediction,
    )


def playground_page(
    request, *, model: Model, can_manage: bool, version, form, prediction=None, status: int = 200
):
    """The Playground tab around `form`; the predictions app re-renders it with a bound form
    when a run posted without JavaScript is invalid."""
    context = {
        "model": model,
        "can_manage": can_manage,
        "tab": "playground",
        "query": _query(request),
        "version": version,
        "prediction": prediction,
        "playground_form": form,
    }
    return _tab_response(request, "catalog/playground.html", context, status=status)


def _language_links(model: Model, query: str) -> list[tuple[str, str, str]]:
    links = []
    for key, label in LANGUAGES.items():
        args = [model.owner.name, model.name]
        url = reverse("model_api", args=args) if key == "python" else None
        url = url or reverse("model_api_language", args=[*args, key])
        links.append((key, label, url + query))
    return links


@require_GET
def model_api(request, owner: str, name: str, language: str = "python"):
    if language not in LANGUAGES:
        raise Http404("No such language")
    model, can_manage = get_model_for_user(request.user, owner, name)
    prediction = _shown_prediction(request, model)
    version = _selected_version(request, model, prediction)
    context = {
        "model": model,
        "can_manage": can_manage,
        "tab": "api",
        "query": _query(request),
        "version": version,
        "prediction": prediction,
        "language": language,
        "language_links": _language_links(model, _query(request)),
        "base_url": public_base(request),
    }
    if version is not None:
        source = prediction or _example(model, version)
        snippets = api_snippets(
            base_url=context["base_url"],
            ref=f"{model.owner.name}/{model.name}:{version.digest}",
            inputs=snippet_input(version.openapi_schema, source.input if source else None),
            shape=output_shape(version, source.output if source else None),
        )
        context["snippet"] = next(s for s in snippets if s.key == language)
        context["fields"] = input_fields(version.openapi_schema)
    return _tab_response(request, "catalog/api.html", context)


@require_GET
def model_examples(request, owner: str, name: str):
    model, can_manage = get_model_for_user(request.user, owner, name)
    examples = list(
        model.predictions.filter(is_example=True, status="succeeded")
        .select_related("version")
        .order_by("-created_at")[:EXAMPLES_SHOWN]
    )
    for example in examples:
        example.output_view = output_view(example)
    context = {"model": model, "can_manage": can_manage, "tab": "examples", "examples": examples}
    return _tab_response(request, "catalog/examples.html", context)


@require_GET
def model_readme(request, owner: str, name: str):
    model, can_manage = get_model_for_user(request.user, owner, name)
    context = {"model": model, "can_manage": can_manage, "tab": "readme"}
    return _tab_response(request, "catalog/readme.html", context)


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
    return _tab_response(request, "catalog/versions.html", context)


@require_GET
def version_detail(request, owner: str, name: str, digest: str):
    model, can_manage = get_model_for_user(request.user, owner, name)
    version = model.versions.select_related("created_by").filter(digest=digest).first()
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
    return _tab_response(request, "catalog/version.html", context, title=title)


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
    return _tab_response(
        request, "catalog/settings.html", context, status=422 if form.errors else 200
    )


@require_POST
def model_push(request, owner: str, name: str):
    model = _manageable(request, owner, name)
    push_form = PushForm(request.POST, request.FILES)
    context = _settings_context(model, form=ModelSettingsForm(instance=model), push_form=push_form)
    if not push_form.is_valid():
        return _tab_response(request, "catalog/settings.html", context, status=422)
    user = request.user if request.user.is_authenticated else None
    if not sandbox.may_push(user):
        push_form.add_error("archive", sandbox.PUSH_LIMITED)
        return _tab_response(request, "catalog/settings.html", context, status=403)
    try:
        version, created = version_push_archive(
            model=model, archive=push_form.cleaned_data["archive"], created_by=user
        )
    except PushError as error:
        push_form.add_error("archive", str(error))
        context["push_details"] = error.details
        return _tab_response(request, "catalog/settings.html", context, status=422)
    if created:
        messages.success(request, f"Version {version.digest[:12]} pushed.")
    else:
        messages.info(request, f"Nothing changed: this is version {version.digest[:12]}.")
    return redirect("model_settings", owner=model.owner.name, name=model.name)
