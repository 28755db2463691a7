"""Training from the browser: the Train tab of the demo char-lm, the live training page with
its loss lines, and a run of the trained version from its Run link."""

from __future__ import annotations

import re

import pytest
from django.conf import settings

from apps.catalog.models import Model
from apps.catalog.services import version_push
from apps.predictions.models import Prediction

pytestmark = pytest.mark.django_db(transaction=True)

TEXT = "the cat sat on the mat. " * 150


def test_train_the_demo_from_the_train_tab_and_run_the_result(login, cast, screens, tmp_path):
    base = Model.objects.create(owner=cast.alice.user.account, name="char-lm", visibility="public")
    version_push(model=base, source_dir=settings.BASE_DIR / "models" / "char-lm")
    text_file = tmp_path / "cats.txt"
    text_file.write_text(TEXT)

    page = login(cast.bob)
    page.goto("/alice/char-lm")
    page.click("nav.tabs a:has-text('Train')")
    page.wait_for_url(re.compile(r".*/alice/char-lm/train$"))
    page.set_input_files("input[type=file][name=text]", str(text_file))
    page.fill("input[name=steps][type=number]", "150")
    page.select_option("select[name=training-destination]", "__new__")
    page.fill("input[name=training-new_name]", "cat-lm")
    screens(page, "train-form")
    page.click("#train-form button[type=submit]")

    page.wait_for_url(re.compile(r".*/p/[a-z0-9]+$"))
    assert page.locator("h1").inner_text().startswith("Training")
    # The loss lines stream into the page while it trains.
    page.locator("#" + page.locator(".pred-logs").get_attribute("id")).filter(
        has_text=re.compile(r"step \d+/150 loss")
    ).wait_for(timeout=120000)
    screens(page, "training")
    page.locator(".train-result a.button:has-text('Run')").wait_for(timeout=240000)
    screens(page, "trained")
    training = Prediction.objects.get(kind="training")
    assert training.status == "succeeded"
    trained = Model.objects.get(owner=cast.bob.user.account, name="cat-lm").latest_version
    assert trained.trained_from.model == base

    page.click(".train-result a.button:has-text('Run')")
    page.wait_for_url(re.compile(rf".*/bob/cat-lm\?version={trained.digest}$"))
    page.fill("textarea[name=prompt], input[name=prompt]", "the ")
    page.fill("input[name=seed][type=number]", "3")
    page.click("#playground-form button[type=submit]")
    page.wait_for_function(
        "() => document.querySelector('.status-succeeded') !== null", timeout=120000
    )
    screens(page, "trained-output")
    output = Prediction.objects.get(kind="prediction", version=trained).output
    assert "cat" in output or "mat" in output, output
