"""Who may see a prediction: one rule on the model (`Prediction.objects.visible_to`), which
the prediction page, its websocket and the model page's `?prediction=` all follow; and the
rest of what a prediction knows about itself (who may manage it, why its stream ended)."""

from __future__ import annotations

import asyncio

import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.test import Client

from apps.predictions.models import Prediction
from apps.predictions.sse import stored_events
from config.asgi import application
from tests.catalog.factories import SCHEMA, add_version, make_model

ROLES = ("alice", "bob", "charlie", "anonymous")
ORIGIN = (b"origin", b"http://testserver")

# Which roles see each prediction (alice owns acme, bob is a member, charlie is an outsider).
EXPECTED = {
    "private": {"alice", "bob"},
    "shared on a private model": set(ROLES),
    "example of a public model": set(ROLES),
    "example of a private model": {"alice", "bob"},
    "plain on a public model": {"alice", "bob"},
    "alice's own": {"alice"},
    "charlie's own": {"charlie"},
}


@pytest.fixture
def predictions(cast) -> dict[str, Prediction]:
    private = make_model(cast, "private", name="private-one")
    public = make_model(cast, "public", name="public-one")
    private_version = add_version(private, "a" * 64)
    public_version = add_version(public, "b" * 64)

    def make(owner, version, **fields) -> Prediction:
        return Prediction.objects.create(
            owner=owner,
            model=version.model,
            version=version,
            input={"prompt": "hi"},
            status="succeeded",
            output="done",
            **fields,
        )

    acme = cast.acme.account
    return {
        "private": make(acme, private_version),
        "shared on a private model": make(acme, private_version, is_shared=True),
        "example of a public model": make(acme, public_version, is_example=True),
        "example of a private model": make(acme, private_version, is_example=True),
        "plain on a public model": make(acme, public_version),
        "alice's own": make(cast.alice.user.account, public_version),
        "charlie's own": make(cast.charlie.user.account, public_version),
    }


def user_of(cast, role: str):
    return AnonymousUser() if role == "anonymous" else getattr(cast, role).user


def client_of(cast, role: str) -> Client:
    client = Client()
    if role != "anonymous":
        client.force_login(user_of(cast, role))
    return client


@pytest.mark.parametrize("role", ROLES)
def test_it_lists_what_the_rule_says_once_each(cast, predictions, role):
    seen = list(Prediction.objects.visible_to(user_of(cast, role)))
    assert len(seen) == len(set(seen)), "a prediction was listed twice"
    expected = {key for key, roles in EXPECTED.items() if role in roles}
    assert {key for key, p in predictions.items() if p in seen} == expected


@pytest.mark.parametrize("role", ROLES)
def test_the_prediction_page_follows_the_rule(cast, predictions, role):
    client = client_of(cast, role)
    for key, prediction in predictions.items():
        status = client.get(f"/p/{prediction.id}").status_code
        assert status == (200 if role in EXPECTED[key] else 404), (key, status)


@pytest.mark.parametrize("role", ROLES)
def test_the_model_page_shows_a_prediction_by_the_same_rule(cast, predictions, role):
    client = client_of(cast, role)
    for key, prediction in predictions.items():
        if prediction.model.is_public:
            path = f"/{prediction.model.full_name}?prediction={prediction.id}"
            status = client.get(path).status_code
            assert status == (200 if role in EXPECTED[key] else 404), (key, status)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("role", ROLES)
def test_the_websocket_lets_in_whoever_sees_the_page(cast, predictions, role):
    headers = [ORIGIN]
    if role != "anonymous":
        cookie = client_of(cast, role).cookies[settings.SESSION_COOKIE_NAME].value
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))

    async def opens(prediction_id: str) -> bool:
        path = f"/ws/predictions/{prediction_id}/"
        communicator = WebsocketCommunicator(application, path, headers=headers)
        connected, _code = await communicator.connect(timeout=10)
        if connected:
            await communicator.disconnect()
        return connected

    for key, prediction in predictions.items():
        assert asyncio.run(opens(prediction.id)) == (role in EXPECTED[key]), key


def test_only_members_of_the_owning_account_may_manage_it(cast, predictions):
    shared = predictions["shared on a private model"]
    assert shared.can_manage(cast.alice.user)
    assert shared.can_manage(cast.bob.user)
    assert not shared.can_manage(cast.charlie.user)
    assert not shared.can_manage(AnonymousUser())
    assert not shared.can_manage(None)
    assert not predictions["alice's own"].can_manage(cast.bob.user)


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ("succeeded", None),
        ("failed", "error"),
        ("canceled", "canceled"),
        ("aborted", "canceled"),
        ("processing", None),
    ],
)
def test_the_done_reason_says_why_the_stream_ended(predictions, status, reason):
    prediction = predictions["private"]
    prediction.status = status
    assert prediction.done_reason == reason
    if prediction.is_terminal:
        done = stored_events(prediction)[-1]
        assert done[1:] == ("done", {"reason": reason} if reason else {})


def test_a_version_knows_its_secret_inputs(cast):
    version = add_version(make_model(cast), schema=SCHEMA)
    assert version.secret_inputs == {"api_key"}
    version.openapi_schema = {}
    assert version.secret_inputs == set()
