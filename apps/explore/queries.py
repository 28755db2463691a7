"""What the explore pages and the dashboard list, and for whom."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from apps.catalog.models import Collection, Model
from apps.catalog.search import searchable_models


def listed_models() -> QuerySet:
    """Public models with a version to run: what everyone sees in listings."""
    return Model.objects.filter(
        visibility=Model.Visibility.PUBLIC, latest_version__isnull=False
    ).select_related("owner")


def findable_models(user) -> QuerySet:
    """Listed models, plus (for a signed-in user) the models of their own accounts."""
    if not user.is_authenticated:
        return listed_models()
    return searchable_models(user.account).select_related("owner")


def collections_with_models(user) -> QuerySet:
    """Collections in their curated order, each with `found_models` the user may see."""
    models = findable_models(user).order_by("-featured", "-run_count", "owner__name", "name")
    return Collection.objects.order_by("position", "name", "pk").prefetch_related(
        Prefetch("models", queryset=models, to_attr="found_models")
    )
