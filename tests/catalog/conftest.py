from __future__ import annotations

import pytest

from apps.catalog.models import Model
from tests.catalog.factories import add_version, make_model


@pytest.fixture
def sauce(cast) -> Model:
    model = make_model(cast, visibility="public", readme="# Sauce")
    add_version(model)
    return model
