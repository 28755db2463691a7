"""The model page's tabs that run and show predictions: the Playground, the API snippets
(filled in with an example's input) and the Examples. The page around them and its other
tabs are the catalog's (apps/catalog/views.py); this app depends on the catalog, never the
other way round."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import Http404
from django.urls import reverse
from django.views.decorators.http import require_GET

from apps.catalog.access import get_model_for_user
from apps.catalog.inputs import input_fields, output_shape, snippet_input
from apps.catalog.models import Model, Version
from apps.catalog.snippets import api_snippets
from apps.catalog.views import tab_response
from apps.core.links import public_base
from apps.predictions import metering
from apps.predictions.display import output_view
from apps.predictions.forms import PlaygroundForm, playground_initial
from apps.predictions.models import Prediction

LANGUAGES = {"python": "Python", "node": "Node.js", "http": "HTTP"}
EXAMPLES_SHOWN = 24


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
        "run_cost": metering.run_cost(model),
    }
    return tab_response(request, "catalog/playground.html", context, status=status)


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
    return tab_response(request, "catalog/api.html", context)


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
    return tab_response(request, "catalog/examples.html", context)
