"""The model, version and collection JSON of Replicate's API."""

from __future__ import annotations

import mimetypes

from django.db.models import Prefetch, QuerySet
from django.urls import reverse

from apps.catalog import examples
from apps.catalog.models import Collection, Model, Version
from apps.core.links import absolute_url, public_base


def version_json(version: Version) -> dict:
    return {
        "id": version.digest,
        "created_at": version.created_at,
        "cog_version": version.cog_version,
        "openapi_schema": version.openapi_schema,
    }


def with_related(queryset: QuerySet) -> QuerySet:
    """What model_json reads, fetched in a fixed number of queries for a whole page."""
    succeeded = examples.source().succeeded()
    return queryset.select_related("owner", "latest_version").prefetch_related(
        Prefetch("predictions", queryset=succeeded, to_attr="succeeded_examples")
    )


def default_example(model: Model):
    """The newest example prediction that succeeded, as the model page shows it."""
    found = getattr(model, "succeeded_examples", None)
    if found is None:
        found = with_related(Model.objects.filter(pk=model.pk)).get().succeeded_examples
    return found[0] if found else None


def _image_output(prediction) -> str | None:
    output = prediction.output if prediction else None
    if isinstance(output, list) and output:
        output = output[0]
    if not isinstance(output, str) or not output.startswith(("http://", "https://")):
        return None
    content_type = mimetypes.guess_type(output.split("?", 1)[0])[0] or ""
    return output if content_type.startswith("image/") else None


def model_json(model: Model, request) -> dict:
    example = default_example(model)
    cover = model.cover_image.url if model.cover_image else None
    shown_example = examples.source().as_json(example, public_base(request)) if example else None
    return {
        "url": absolute_url(request, reverse("model", args=[model.owner.name, model.name])),
        "owner": model.owner.name,
        "name": model.name,
        "description": model.description or None,
        "visibility": model.visibility,
        "github_url": model.github_url or None,
        "paper_url": model.paper_url or None,
        "license_url": model.license_url or None,
        "weights_url": model.weights_url or None,
        "run_count": model.run_count,
        "cover_image_url": absolute_url(request, cover) if cover else _image_output(example),
        "default_example": shown_example,
        "latest_version": version_json(model.latest_version) if model.latest_version else None,
        "is_official": False,
        "created_at": model.created_at,
    }


def collection_item_json(collection: Collection) -> dict:
    return {
        "name": collection.name,
        "slug": collection.slug,
        "description": collection.description,
    }
