"""Deployments in the browser: create one from a model page, run it from its page, watch its
instances come and go without reloading, and roll back a release."""

from __future__ import annotations

import re
import sys

import pytest

from apps.core.queue import broker
from apps.deployments.models import Deployment
from tests.e2e.platform import Platform, push_model

pytestmark = pytest.mark.django_db(transaction=True)

IDLE = 4  # seconds before an idle instance above min stops


@pytest.fixture(scope="module")
def platform(django_db_setup, django_db_blocker, tmp_path_factory):
    for queue in ("cpu", "default", "webhooks", "deployment.alice.hello-web"):
        broker.flush(queue)
    server = Platform(
        tmp_path_factory.mktemp("browser-deployments"),
        extra_env={
            "AUTOSCALER_IDLE_SECONDS": str(IDLE),
            "AUTOSCALER_INTERVAL": "0.5",
            "INSTANCE_CPUS": "8",
            "INSTANCE_MEMORY_GB": "64",
        },
    )
    server.workers.append(server._spawn("autoscaler", [sys.executable, "manage.py", "autoscaler"]))
    yield server
    server.stop()
    broker.flush("deployment.alice.hello-web")


def instance_rows(page):
    return page.locator("#instances .instance-table tbody tr")


def test_create_run_watch_and_roll_back(login, cast, screens, platform, tmp_path):
    push_model(cast.alice.user.account, "hello", tmp_path)
    page = login(cast.alice)

    # From the model page's Deploy button to a created deployment.
    page.goto("/alice/hello")
    page.click("a.model-deploy")
    page.wait_for_url(re.compile(r".*/deployments/create\?model=alice/hello$"))
    assert page.input_value("input[name=model]") == "alice/hello"
    page.fill("input[name=name]", "hello-web")
    page.fill("input[name=min_instances]", "0")
    page.fill("input[name=max_instances]", "1")
    screens(page, "create")
    page.click("main form button[type=submit]:has-text('Create deployment')")
    page.wait_for_url(re.compile(r".*/deployments/alice/hello-web$"))
    screens(page, "created")
    assert instance_rows(page).count() == 0
    assert "No instances online" in page.inner_text("#instances")

    # Run it from its own page, in a second tab; this tab watches the instances.
    runner = page.context.new_page()
    runner.goto("/deployments/alice/hello-web")
    runner.fill("form.playground-form [name=text]", "browser")
    runner.click("form.playground-form button[type=submit]")
    runner.wait_for_url(re.compile(r".*/p/[a-z0-9]+$"))
    runner.locator("text=hello browser").first.wait_for(timeout=90000)
    screens(runner, "prediction")

    # The watching tab saw an instance come (the htmx poll, no reload)...
    instance_rows(page).first.wait_for(timeout=60000)
    screens(page, "one-instance")
    assert instance_rows(page).count() == 1
    # ... and go again after the idle window.
    page.locator("#instances:has-text('No instances online')").wait_for(timeout=(IDLE + 30) * 1000)
    screens(page, "scaled-to-zero")
    assert "Stopped in the last hour (1)" in page.inner_text("#instances")

    # A new release from the settings, then back to release 1's configuration.
    page.fill("#settings input[name=max_instances]", "2")
    page.click("#settings button:has-text('Save as a new release')")
    page.locator("#releases:has-text('Roll back to #1')").wait_for()
    releases = page.inner_text("#releases")
    assert re.search(r"Maximum instances:?\s*1\s*→\s*2", releases) or "1 → 2" in releases
    screens(page, "release-2")
    page.click("#releases button:has-text('Roll back to #1')")
    page.locator("#releases:has-text('rollback to #1')").wait_for()
    screens(page, "rolled-back")
    deployment = Deployment.objects.get(name="hello-web")
    assert deployment.current_release.number == 3
    assert deployment.current_release.rolled_back_from == 1
    assert deployment.current_release.max_instances == 1
