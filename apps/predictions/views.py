"""The playground's Run, the prediction page and its Cancel and Share buttons.

htmx requests get fragments (the output panel, the actions, the share box); plain form posts
get a redirect to the prediction page, so everything works without JavaScript.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect, reswap, retarget

from apps.accounts.context import current_account
from apps.billing.limits import SpendLimitReached
from apps.catalog.access import get_model_for_user
from apps.catalog.models import Model, Version
from apps.core.links import public_base
from apps.predictions import display
from apps.predictions.forms import PlaygroundForm
from apps.predictions.models import Prediction
from apps.predictions.services import prediction_cancel, prediction_create

PAGE = "predictions/prediction.html"
PLAYGROUND = "predictions/_playground.html"


def get_prediction_for_user(user, prediction_id: str) -> tuple[Prediction, bool]:
    """The prediction and whether the user may act on it (`Prediction.can_manage`); a 404
    for a prediction they may not see (`PredictionQuerySet.visible_to`)."""
    prediction = (
        Prediction.objects.visible_to(user)
        .select_related(
            "owner__user",
            "owner__organization",
            "created_by",
            "version",
            "model__owner",
            "model__default_hardware",
        )
        .filter(pk=prediction_id)
        .first()
    )
    if prediction is None:
        raise Http404("No such prediction")
    return prediction, prediction.can_manage(user)


def _version_to_run(request, model: Model) -> Version:
    digest = request.GET.get("version")
    version = model.versions.filter(digest=digest).first() if digest else model.latest_version
    if version is None:
        raise Http404("No such version")
    return version


@require_POST
def playground_run(request, owner: str, name: str):
    """Run the playground form: a web prediction owned by the user's own account."""
    if not request.user.is_authenticated:
        model_url = reverse("model", args=[owner, name])
        if request.htmx:
            login = f"{reverse(settings.LOGIN_URL)}?next={model_url}"
            return HttpResponseClientRedirect(login)
        return redirect_to_login(model_url)
    model, can_manage = get_model_for_user(request.user, owner, name)
    version = _version_to_run(request, model)
    form = PlaygroundForm(version.openapi_schema, data=request.POST, files=request.FILES)
    if not form.is_valid():
        return _invalid(request, model, version, form, can_manage)
    try:
        with transaction.atomic():
            prediction = prediction_create(
                version=version,
                owner=current_account(request) or request.user.account,
                input=form.cleaned_data["input"],
                created_by=request.user,
                source=Prediction.Source.WEB,
            )
    except SpendLimitReached as refusal:  # the same sentence as the API's 402
        form.add_error(None, refusal.detail)
        return _invalid(request, model, version, form, can_manage, status=402)
    if not request.htmx:
        return redirect("prediction_detail", prediction_id=prediction.id)
    prediction = get_prediction_for_user(request.user, prediction.id)[0]
    context = display.panel_context(prediction, can_manage=True)
    return render(request, PAGE + "#panel", {**context, "show_link": True})


def _invalid(request, model: Model, version: Version, form, can_manage: bool, status=422):
    context = {"model": model, "version": version, "form": form, "can_manage": can_manage}
    if request.htmx:  # the form again, errors next to the fields, in place of the old one
        response = render(request, PLAYGROUND + "#form", context, status=status)
        return reswap(retarget(response, "#playground-form"), "outerHTML")
    return render(request, "predictions/playground.html", context, status=status)


@require_GET
def prediction_detail(request, prediction_id: str):
    prediction, can_manage = get_prediction_for_user(request.user, prediction_id)
    context = display.panel_context(prediction, can_manage=can_manage)
    if request.htmx and not request.htmx.history_restore_request:
        response = render(request, PAGE + "#panel", {**context, "show_link": True})
        patch_vary_headers(response, ["HX-Request"])
        return response
    output = context["output"]
    base = public_base(request)
    model = prediction.model
    context |= {
        "inputs": display.input_rows(prediction),
        "page_url": base + reverse("prediction_detail", args=[prediction.id]),
        "og_description": display.first_text_input(prediction) or model.description,
        "og_image": output.image,
        "tweak_url": (
            f"{reverse('model', args=[model.owner.name, model.name])}?prediction={prediction.id}"
            if model.is_public or can_manage
            else ""
        ),
    }
    if prediction.is_training and context["tweak_url"]:  # train the same version again
        train = reverse("model_train", args=[model.owner.name, model.name])
        context["tweak_url"] = f"{train}?version={prediction.version.digest}"
    response = render(request, PAGE, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _member_prediction(request, prediction_id: str) -> Prediction:
    """For Cancel and Share: a 404 to those who cannot see the prediction, a 403 to visitors
    of a shared one (they may look, not act)."""
    prediction, can_manage = get_prediction_for_user(request.user, prediction_id)
    if not can_manage:
        raise PermissionDenied("Only members of the prediction's account can change it.")
    return prediction


@require_POST
def prediction_cancel_view(request, prediction_id: str):
    prediction = prediction_cancel(_member_prediction(request, prediction_id))
    if not request.htmx:
        return redirect("prediction_detail", prediction_id=prediction.id)
    # The websocket shows the outcome; until then the button says it is on its way.
    context = {"prediction": prediction, "can_manage": True, "canceling": True}
    return render(request, PAGE + "#actions", context)


@require_POST
def prediction_share(request, prediction_id: str):
    """`shared=1` or `shared=0`; without it, the opposite of the current state."""
    prediction = _member_prediction(request, prediction_id)
    wanted = request.POST.get("shared")
    shared = (wanted == "1") if wanted in ("0", "1") else not prediction.is_shared
    if shared != prediction.is_shared:
        prediction.is_shared = shared
        prediction.save(update_fields=["is_shared"])
    if not request.htmx:
        return redirect("prediction_detail", prediction_id=prediction.id)
    page_url = public_base(request) + reverse("prediction_detail", args=[prediction.id])
    context = {"prediction": prediction, "can_manage": True, "page_url": page_url}
    return render(request, PAGE + "#share", context)
