"""The explore pages (`/`, `/explore`, `/collections`) and the dashboard."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from apps.accounts.context import acting_accounts, current_account, find_acting_account
from apps.billing import limits
from apps.billing.models import SpendAlert, month_of
from apps.catalog.models import Collection, Model
from apps.catalog.search import collection_search, model_search, search_terms
from apps.explore.forms import PredictionFilterForm
from apps.explore.queries import (
    collections_with_models,
    findable_models,
    listed_models,
)
from apps.predictions.models import Prediction

SHELF_SIZE = 12
SEARCH_LIMIT = 48
PREDICTIONS_PER_PAGE = 50
YOUR_MODELS_LIMIT = 24
TRAININGS_SHOWN = 10
RUNNING = (Prediction.Status.STARTING, Prediction.Status.PROCESSING)
# What a dashboard row shows; inputs, outputs and logs can be large and stay in the database.
PREDICTION_ROW_FIELDS = (
    "id",
    "status",
    "source",
    "created_at",
    "started_at",
    "completed_at",
    "metrics",
    "is_example",
    "model__name",
    "model__owner__name",
    "created_by__username",
)


def _partial(request) -> bool:
    """htmx asks for a fragment; a history restore needs the whole page."""
    return bool(request.htmx) and not request.htmx.history_restore_request


@require_GET
def explore(request):
    query = request.GET.get("query", "").strip()
    context = {"query": query}
    if search_terms(query):
        found = list(model_search(findable_models(request.user), query)[: SEARCH_LIMIT + 1])
        context.update(
            results=found[:SEARCH_LIMIT],
            more_results=len(found) > SEARCH_LIMIT,
            matching_collections=list(collection_search(query)[:6]),
        )
    else:
        featured = listed_models().filter(featured=True).order_by("-run_count", "-created_at")
        context.update(
            featured=list(featured[:SHELF_SIZE]),
            collections=list(collections_with_models(request.user)),
            recent=list(listed_models().order_by("-created_at", "-pk")[:SHELF_SIZE]),
        )
        if not context["featured"]:
            # A fresh installation has nothing curated yet: show what people run instead.
            popular = listed_models().order_by("-run_count", "-created_at")
            context["popular"] = list(popular[:SHELF_SIZE])
    context["partial"] = _partial(request)
    template_name = "explore/explore.html"
    if context["partial"]:
        template_name += "#results"
    return render(request, template_name, context)


@require_GET
def collection_list(request):
    collections = collections_with_models(request.user)
    return render(request, "explore/collections.html", {"collections": collections})


@require_GET
def collection_detail(request, slug: str):
    collection = get_object_or_404(Collection, slug=slug)
    models = (
        findable_models(request.user)
        .filter(collections=collection)
        .order_by("-featured", "-run_count", "owner__name", "name")
    )
    return render(request, "explore/collection.html", {"collection": collection, "models": models})


@login_required
@require_GET
def dashboard(request):
    accounts = acting_accounts(request.user)
    account = _chosen_account(request, accounts)
    ran_models = (
        Model.objects.filter(pk__in=_predictions(account).values("model_id"))
        .select_related("owner")
        .order_by("owner__name", "name")
    )
    form = PredictionFilterForm(request.GET, models=list(ran_models))
    predictions = form.filter(
        _predictions(account)
        .select_related("model__owner", "created_by")
        .only(*PREDICTION_ROW_FIELDS)
        .order_by("-created_at", "-pk")
    )
    page = Paginator(predictions, PREDICTIONS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "account": account,
        "accounts": accounts,
        "form": form,
        "page": page,
        "polling": any(prediction.status in RUNNING for prediction in page),
    }
    if _partial(request):
        return render(request, "explore/dashboard.html#predictions", context)
    owned = account.models.select_related("owner").order_by("-created_at", "-pk")
    your_models = list(owned[: YOUR_MODELS_LIMIT + 1])
    context["your_models"] = your_models[:YOUR_MODELS_LIMIT]
    context["more_models"] = len(your_models) > YOUR_MODELS_LIMIT
    context["trainings"] = (
        Prediction.objects.filter(owner=account, kind=Prediction.Kind.TRAINING)
        .select_related("model__owner", "destination__owner")
        .order_by("-created_at", "-pk")[:TRAININGS_SHOWN]
    )
    if account.is_admin(request.user):  # money is for the account's owners only
        alerts = SpendAlert.objects.filter(account=account, month=month_of(timezone.now()))
        context["spend_alerts"] = [limits.alert_sentence(alert) for alert in alerts[:1]]
    return render(request, "explore/dashboard.html", context)


def _predictions(account):
    return Prediction.objects.filter(owner=account, kind=Prediction.Kind.PREDICTION)


def _chosen_account(request, accounts):
    """`?account=<name>` must be one of the user's accounts (404 otherwise); without it, the
    account chosen in the context switcher, or the user's own."""
    name = request.GET.get("account", "").strip()
    if name and find_acting_account(accounts, name) is None:
        raise Http404("No such account of yours.")
    return current_account(request, accounts)
