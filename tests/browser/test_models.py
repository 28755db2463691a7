"""Running models from the browser: the playground, live output, cancel and sharing."""

from __future__ import annotations

import re
import time

import pytest
from django.conf import settings

from apps.catalog.models import Model
from apps.catalog.services import version_push
from apps.predictions.models import Prediction
from tests.e2e.platform import push_model

pytestmark = pytest.mark.django_db(transaction=True)

DEMO = settings.BASE_DIR / "models"


def push_demo(owner, name: str) -> Model:
    model = Model.objects.create(owner=owner, name=name)
    version_push(model=model, source_dir=DEMO / name)
    model.refresh_from_db()
    return model


def latest_prediction(model) -> Prediction:
    return Prediction.objects.filter(model=model).order_by("-created_at").first()


def test_the_language_model_streams_its_answer_into_the_playground(login, cast, screens):
    model = push_demo(cast.alice.user.account, "smollm2-135m-instruct")
    page = login(cast.alice)
    page.goto(f"/alice/{model.name}")
    screens(page, "playground")
    page.fill("textarea[name=prompt], input[name=prompt]", "What is the capital of France?")
    page.fill("input[name=max_new_tokens][type=number]", "40")
    page.fill("input[name=temperature][type=number]", "0")
    page.click("#playground-form button[type=submit]")
    text = page.locator("#playground-output .output-text")
    text.wait_for(timeout=180000)
    # Tokens appear while the prediction is still running...
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not text.inner_text().strip():
        time.sleep(0.05)
    partial = text.inner_text()
    status_then = latest_prediction(model).status
    screens(page, "first-tokens")
    assert partial.strip(), "no tokens appeared"
    assert status_then in ("starting", "processing"), "the answer arrived only at the end"
    # ...and the whole answer arrives.
    page.wait_for_function(
        "() => document.querySelector('.status-succeeded') !== null", timeout=120000
    )
    screens(page, "done")
    final = text.inner_text()
    assert "Paris" in final
    assert final.startswith(partial.strip()[:5])
    assert final == "".join(latest_prediction(model).output)


def test_the_classifier_labels_an_uploaded_photo(login, cast, screens):
    model = push_demo(cast.alice.user.account, "efficientnet-lite0")
    page = login(cast.alice)
    page.goto(f"/alice/{model.name}")
    page.set_input_files("input[type=file][name=image]", str(DEMO / model.name / "example.jpg"))
    screens(page, "chosen")
    page.click("#playground-form button[type=submit]")
    page.wait_for_function(
        "() => document.querySelector('.status-succeeded') !== null", timeout=120000
    )
    screens(page, "labels")
    content = page.locator("#playground-output").inner_text()
    assert re.search(r"(tiger cat|tabby|Egyptian cat)", content), content


def test_cancel_a_running_prediction_then_share_it(
    context, browser, platform, login, cast, screens, tmp_path
):
    version = push_model(cast.alice.user.account, "hello", tmp_path)
    page = login(cast.alice)
    page.goto("/alice/hello")
    page.fill("textarea[name=text], input[name=text]", "patient")
    page.fill("input[name=sleep][type=number]", "60")
    page.click("#playground-form button[type=submit]")
    prediction = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        prediction = Prediction.objects.filter(version=version, status="processing").first()
        if prediction:
            break
        time.sleep(0.2)
    assert prediction is not None, "the prediction never started"
    page.goto(f"/p/{prediction.id}")
    screens(page, "running")
    page.click("button:has-text('Cancel')")
    page.wait_for_function(
        "() => document.querySelector('.status-canceled') !== null", timeout=30000
    )
    screens(page, "canceled")
    prediction.refresh_from_db()
    assert prediction.status == "canceled"

    page.click("#pred-share button[type=submit]")
    page.locator("#pred-share a").wait_for()
    link = page.locator("#pred-share a").get_attribute("href")
    screens(page, "shared")
    stranger = browser.new_context(base_url=platform.url)  # logged out
    try:
        public = stranger.new_page()
        response = public.goto(link)
        assert response.status == 200
        screens(public, "logged-out")
        assert "patient" in public.content()
        assert public.locator("meta[property='og:title']").count() == 1
    finally:
        stranger.close()
