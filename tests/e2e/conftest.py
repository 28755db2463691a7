from __future__ import annotations

import pytest

from apps.core.queue import broker
from tests.e2e.platform import Platform, push_model


@pytest.fixture(scope="module")
def platform(django_db_setup, django_db_blocker, tmp_path_factory):
    # Messages left by earlier tests (whose rows are gone) would only slow the worker down.
    for queue in ("cpu", "default"):
        broker.flush(queue)
    server = Platform(tmp_path_factory.mktemp("platform"))
    yield server
    server.stop()


@pytest.fixture
def models(transactional_db, cast, tmp_path):
    """The test predictors, pushed under alice (hello, streamer) and acme (sizer, private)."""
    return {
        "hello": push_model(cast.alice.user.account, "hello", tmp_path),
        "streamer": push_model(cast.alice.user.account, "streamer", tmp_path),
        "sizer": push_model(cast.acme.account, "sizer", tmp_path, visibility="private"),
    }
