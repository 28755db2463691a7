"""The Train tab, the training page and the dashboard's trainings, with the Django test client
(the end-to-end run of a training is tests/e2e/test_trainings.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.billing.models import BillingProfile
from apps.catalog.models import Model
from apps.predictions.models import Prediction
from apps.runtime import schema
from tests.billing.factories import spend
from tests.catalog.factories import add_version, cog_schema, make_model

TRAINING = cog_schema(
    {
        "text": {"type": "string", "format": "uri", "title": "Text", "x-order": 0},
        "steps": {"type": "integer", "title": "Steps", "default": 30, "minimum": 1, "x-order": 1},
    },
    required=("text",),
)


def trainable_schema() -> dict:
    document = cog_schema({"prompt": {"type": "string", "title": "Prompt", "x-order": 0}})
    training = {
        "paths": {"/trainings": {"post": {}}},
        "components": {
            "schemas": {
                "TrainingInput": {**TRAINING["components"]["schemas"]["Input"]},
                "TrainingOutput": {"type": "object", "title": "TrainingOutput"},
            }
        },
    }
    return schema.with_training(document, training)


@pytest.fixture
def base(cast):
    model = make_model(cast, "public", owner=cast.alice.user.account, name="char-lm")
    version = add_version(model, "a" * 64, trainable_schema())
    version.config = {"train": "train.py:train"}
    version.save()
    return version


def test_the_train_tab_shows_a_form_from_the_training_input(client, cast, base):
    client.force_login(cast.bob.user)
    page = client.get("/alice/char-lm/train")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="text__url"' in html and 'name="text"' in html
    assert 'name="steps"' in html and 'name="prompt"' not in html
    assert 'name="training-destination"' in html and "A new model of bob" in html
    assert ">Train</a>" in client.get("/alice/char-lm").content.decode()  # the tab


def test_no_train_tab_for_a_model_without_train(client, cast):
    model = make_model(cast, "public", owner=cast.alice.user.account, name="plain")
    add_version(model)
    client.force_login(cast.bob.user)
    assert ">Train</a>" not in client.get("/alice/plain").content.decode()
    page = client.get("/alice/plain/train")
    assert "cannot be trained" in page.content.decode()
    response = client.post("/alice/plain/train", {"training-destination": "__new__"})
    assert response.status_code == 422 and not Prediction.objects.exists()


def test_train_into_a_new_model_goes_to_the_training_page(client, cast, base):
    client.force_login(cast.bob.user)
    response = client.post(
        "/alice/char-lm/train",
        {
            "text__url": "https://example.com/text.txt",
            "steps": "12",
            "training-destination": "__new__",
            "training-new_name": "my-lm",
        },
    )
    assert response.status_code == 302, response.content.decode()[-3000:]
    training = Prediction.objects.get()
    assert response["Location"] == f"/p/{training.id}"
    assert training.kind == "training" and training.source == "web"
    assert training.input == {"text": "https://example.com/text.txt", "steps": 12}
    destination = Model.objects.get(owner=cast.bob.user.account, name="my-lm")
    assert training.destination == destination and destination.visibility == "private"

    page = client.get(f"/p/{training.id}").content.decode()
    assert f"Training <code>{training.id}</code>" in page
    assert "Trains into" in page and "bob/my-lm" in page
    assert "The new version appears here when train() finishes." in page
    assert "Steps" in page  # the input, titled from TrainingInput
    assert f'href="/alice/char-lm/train?version={base.digest}">Tweak it' in page

    dashboard = client.get("/dashboard").content.decode()
    assert "Recent trainings" in dashboard and training.id in dashboard


def test_bad_training_forms_show_errors_next_to_fields(client, cast, base):
    client.force_login(cast.bob.user)
    Model.objects.create(owner=cast.bob.user.account, name="taken")
    response = client.post(
        "/alice/char-lm/train",
        {"steps": "0", "training-destination": "__new__", "training-new_name": "taken"},
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert "bob/taken already exists." in html
    assert "greater than or equal to 1" in html or "at least 1" in html or "≥ 1" in html
    # Someone else's model is not a choice.
    response = client.post(
        "/alice/char-lm/train",
        {"text__url": "https://example.com/t.txt", "training-destination": "alice/char-lm"},
    )
    assert response.status_code == 422 and "Select a valid choice" in response.content.decode()
    assert not Prediction.objects.exists()


def test_logged_out_visitors_are_asked_to_log_in(client, cast, base):
    page = client.get("/alice/char-lm/train").content.decode()
    assert "Log in to train" in page
    response = client.post("/alice/char-lm/train", {})
    assert response.status_code == 302 and "/login" in response["Location"]
    assert not Prediction.objects.exists()


def test_a_trained_version_page_links_to_its_base_and_training(client, cast, base):
    destination = make_model(cast, "private", owner=cast.bob.user.account, name="mine")
    trained = add_version(destination, "b" * 64, base.openapi_schema)
    trained.trained_from, trained.training_id, trained.weights = base, "t" * 26, ".weights/w.pt"
    trained.save()
    client.force_login(cast.bob.user)
    page = client.get(f"/bob/mine/versions/{'b' * 64}").content.decode()
    assert f"/alice/char-lm/versions/{'a' * 64}" in page
    assert f"/p/{'t' * 26}" in page and ".weights/w.pt" in page


def test_past_the_spend_limit_the_form_says_so_and_nothing_is_made(client, cast, base):
    bob = cast.bob.user.account
    BillingProfile.objects.update_or_create(account=bob, defaults={"spend_limit": Decimal(2)})
    spend(bob, "3")
    client.force_login(cast.bob.user)
    response = client.post(
        "/alice/char-lm/train",
        {
            "text__url": "https://example.com/text.txt",
            "training-destination": "__new__",
            "training-new_name": "never",
        },
    )
    assert response.status_code == 402
    assert "has reached its monthly spend limit of $2.00" in response.content.decode()
    assert not Prediction.objects.exists()
    assert not Model.objects.filter(name="never").exists()  # the new model is rolled back too
