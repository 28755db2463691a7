"""Response and request bodies of the /v1 catalog endpoints (what /v1/openapi.json shows)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Schema
from pydantic import ConfigDict


class VersionOut(Schema):
    id: str
    created_at: datetime
    cog_version: str
    openapi_schema: dict


class VersionPage(Schema):
    previous: str | None = None
    next: str | None = None
    results: list[VersionOut]


class ModelOut(Schema):
    url: str
    owner: str
    name: str
    description: str | None
    visibility: Literal["public", "private"]
    github_url: str | None
    paper_url: str | None
    license_url: str | None
    weights_url: str | None
    run_count: int
    cover_image_url: str | None
    default_example: dict | None
    latest_version: VersionOut | None
    is_official: bool
    created_at: datetime


class ModelPage(Schema):
    previous: str | None = None
    next: str | None = None
    results: list[ModelOut]


class ModelCreateIn(Schema):
    model_config = ConfigDict(extra="forbid")

    owner: str
    name: str
    visibility: Literal["public", "private"]
    hardware: str
    description: str | None = None
    github_url: str | None = None
    paper_url: str | None = None
    license_url: str | None = None
    cover_image_url: str | None = None


class ModelUpdateIn(Schema):
    """Every field is optional; null clears a link."""

    model_config = ConfigDict(extra="forbid")

    description: str | None = None
    readme: str | None = None
    github_url: str | None = None
    paper_url: str | None = None
    weights_url: str | None = None
    license_url: str | None = None


class CollectionItemOut(Schema):
    name: str
    slug: str
    description: str


class CollectionPage(Schema):
    previous: str | None = None
    next: str | None = None
    results: list[CollectionItemOut]


class CollectionOut(CollectionItemOut):
    full_description: str | None
    models: list[ModelOut]


class HardwareOut(Schema):
    sku: str
    name: str


class SearchMetadata(Schema):
    generated_description: str | None
    tags: list[str]
    score: float | None


class SearchModel(Schema):
    model: ModelOut
    metadata: SearchMetadata


class SearchCollection(CollectionItemOut):
    models: list[str]


class SearchPage(Schema):
    name: str
    href: str


class SearchOut(Schema):
    query: str
    models: list[SearchModel]
    collections: list[SearchCollection]
    pages: list[SearchPage]
