"""/v1 collections, hardware and the search endpoint."""

from __future__ import annotations

from django.db.models import Prefetch
from ninja import Router

from apps.billing.models import Hardware
from apps.catalog.models import Collection, Model
from apps.catalog.paging import paginate_in_order
from apps.catalog.schemas import CollectionOut, CollectionPage, HardwareOut, SearchOut
from apps.catalog.search import collection_search, model_search, searchable_models
from apps.catalog.serializers import collection_item_json, model_json, with_related
from apps.core.problems import ApiError, not_found

router = Router()

SEARCH_LIMIT_DEFAULT = 20
SEARCH_LIMIT_MAX = 50


@router.get(
    "/collections",
    response=CollectionPage,
    tags=["collections"],
    summary="List collections of models, in their curated order",
)
def collection_list(request):
    collections = Collection.objects.order_by("position", "name", "pk")
    return paginate_in_order(request, collections, collection_item_json)


@router.get(
    "/collections/{slug}",
    response=CollectionOut,
    tags=["collections"],
    summary="Get a collection and the models in it that you can see",
)
def collection_get(request, slug: str):
    collection = Collection.objects.filter(slug=slug).first()
    if collection is None:
        raise not_found()
    visible = Model.objects.visible_to_account(request.auth).values("pk")
    models = with_related(Model.objects.filter(pk__in=visible, collections=collection)).order_by(
        "-featured", "-run_count", "owner__name", "name"
    )
    return {
        **collection_item_json(collection),
        "full_description": collection.full_description or None,
        "models": [model_json(model, request) for model in models],
    }


@router.get(
    "/hardware",
    response=list[HardwareOut],
    tags=["hardware"],
    summary="List the hardware that models can run on here",
)
def hardware_list(request):
    # Only SKUs whose queues this installation's workers serve: a model created on another
    # SKU would queue its predictions forever.
    return list(Hardware.objects.filter(available=True).values("sku", "name"))


def _search_limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return SEARCH_LIMIT_DEFAULT
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= SEARCH_LIMIT_MAX:
        raise ApiError(
            400, "Bad request", f'Query parameter "limit" must be 1 to {SEARCH_LIMIT_MAX}'
        )
    return limit


@router.get(
    "/search",
    response=SearchOut,
    tags=["models"],
    summary="Search models and collections",
    description="Every word of `query` must appear in a model's name, owner or description. "
    "`limit` (1-50, default 20) caps the models and the collections returned.",
)
def search(request, query: str | None = None, limit: str | None = None):
    text = (query or "").strip()
    if not text:
        raise ApiError(400, "Bad request", 'Query parameter "query" is required')
    limit = _search_limit(limit)
    account = request.auth
    models = with_related(model_search(searchable_models(account), text)).prefetch_related(
        "collections"
    )[:limit]
    collections = collection_search(text).prefetch_related(
        Prefetch(
            "models",
            queryset=searchable_models(account).select_related("owner").order_by("-run_count"),
            to_attr="found_models",
        )
    )[:limit]
    return {
        "query": text,
        "models": [
            {
                "model": model_json(model, request),
                "metadata": {
                    "generated_description": None,
                    "tags": [collection.slug for collection in model.collections.all()],
                    "score": float(model.score),
                },
            }
            for model in models
        ],
        "collections": [
            {
                **collection_item_json(collection),
                "models": [model.full_name for model in collection.found_models],
            }
            for collection in collections
        ],
        "pages": [],
    }
