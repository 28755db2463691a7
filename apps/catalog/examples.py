"""A model's examples are predictions, and predictions live in the app above this one
(apps/predictions depends on the catalog, never the other way round). So the catalog asks
through here, and the predictions app answers: when Django starts (PredictionsConfig.ready)
it registers which predictions are a model's examples and how the API shows one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet


@dataclass(frozen=True)
class ExampleSource:
    succeeded: Callable[[], QuerySet]  # the examples that succeeded, newest first
    as_json: Callable[[Any, str], dict]  # (example, base URL) -> the API's prediction JSON


_source: ExampleSource | None = None


def register(source: ExampleSource) -> None:
    global _source
    _source = source


def source() -> ExampleSource:
    if _source is None:
        raise RuntimeError("nothing provides model examples: is apps.predictions installed?")
    return _source
