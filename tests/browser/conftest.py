"""Browser tests: Debian's Chromium driven by Playwright, against a running platform (daphne
and real workers). Screenshots of each step go to test-artifacts/ (not committed)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import sync_playwright

from apps.core.queue import broker
from tests.e2e.platform import Platform

# Playwright's sync API keeps an event loop in this thread, which makes Django refuse database
# calls from the test itself; they are ordinary synchronous calls, so allow them here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = settings.BASE_DIR / "test-artifacts" / "browser"


@pytest.fixture(scope="module")
def browser():
    # Module-scoped: Playwright's sync API runs an event loop in this thread while it is open,
    # which would break later tests that start their own loop.
    executable = shutil.which("chromium")
    assert executable, "the browser tests need Debian's chromium (apt-get install chromium)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def platform(django_db_setup, django_db_blocker, tmp_path_factory):
    for queue in ("cpu", "default", "webhooks"):
        broker.flush(queue)
    server = Platform(tmp_path_factory.mktemp("browser-platform"))
    yield server
    server.stop()


class Screens:
    """Numbered screenshots of a test's steps."""

    def __init__(self, name: str) -> None:
        self.folder = ARTIFACTS / re.sub(r"[^\w.-]", "_", name)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.count = 0

    def __call__(self, page, step: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def screens(request) -> Screens:
    return Screens(request.node.name)


@pytest.fixture
def context(browser, platform):
    context = browser.new_context(base_url=platform.url, viewport={"width": 1200, "height": 900})
    context.set_default_timeout(20000)
    yield context
    context.close()


@pytest.fixture
def login(context, platform):
    def login(person):
        # The test process hashes passwords with MD5 for speed; the server only knows the
        # default hashers, so store this one the server's way.
        from django.contrib.auth.hashers import PBKDF2PasswordHasher

        hasher = PBKDF2PasswordHasher()
        person.user.password = hasher.encode(person.password, hasher.salt())
        person.user.save(update_fields=["password"])
        page = context.new_page()
        page.goto("/login/")
        page.fill("#id_username", person.username)
        page.fill("#id_password", person.password)
        page.click("main button[type=submit]")
        page.wait_for_url(re.compile(r".*/account/$"))
        return page

    return login
