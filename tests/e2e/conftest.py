from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

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


NPM_VERSION = "1.4.0"


@pytest.fixture(scope="session")
def node_client() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "the npm client test needs Node.js and npm on the machine"
    folder = settings.SELFREP_CACHE_DIR / "npm" / f"replicate-{NPM_VERSION}"
    if not (folder / "node_modules" / "replicate" / "package.json").exists():
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                npm,
                "install",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(folder),
                f"replicate@{NPM_VERSION}",
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return folder
