"""The websocket the web pages use to follow a prediction: authorisation, replay, live."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings

from apps.catalog.models import Model, Version
from apps.predictions import events
from apps.predictions.models import Prediction
from config.asgi import application

ORIGIN = (b"origin", b"http://testserver")


def headers_for(client, person=None):
    if person is None:
        return [ORIGIN]
    client.force_login(person.user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    return [ORIGIN, (b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode())]


@pytest.fixture
def prediction(cast) -> Prediction:
    model = Model.objects.create(owner=cast.acme.account, name="chat", visibility="private")
    version = Version.objects.create(
        model=model,
        digest="e" * 64,
        openapi_schema={},
        cog_version="0.23.1",
        predictor_ref="predict.py:Predictor",
    )
    prediction = Prediction.objects.create(
        owner=cast.acme.account, model=model, version=version, input={"prompt": "hi"}
    )
    events.client().delete(events.stream_key(prediction.id))
    return prediction


async def connect(prediction_id, headers, after=None):
    path = f"/ws/predictions/{prediction_id}/" + (f"?after={after}" if after else "")
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await communicator.connect(timeout=10)
    return communicator, connected, code


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("who", [None, "charlie"])
def test_outsiders_and_anonymous_visitors_are_refused(client, cast, prediction, who):
    headers = headers_for(client, getattr(cast, who) if who else None)

    async def scenario():
        _communicator, connected, code = await connect(prediction.id, headers)
        assert not connected
        assert code == 4404

    asyncio.run(scenario())


@pytest.mark.django_db(transaction=True)
def test_a_member_gets_earlier_events_then_live_ones_in_order(client, cast, prediction):
    first = events.append(prediction.id, "logs", "loading\n")
    events.append(prediction.id, "output", "Hel")
    headers = headers_for(client, cast.bob)

    async def scenario():
        communicator, connected, _ = await connect(prediction.id, headers)
        assert connected
        replayed = [await communicator.receive_json_from(timeout=5) for _ in range(2)]
        assert [(m["type"], m["data"]) for m in replayed] == [
            ("logs", "loading\n"),
            ("output", "Hel"),
        ]
        assert replayed[0]["id"] == first
        await sync_to_async(events.append)(prediction.id, "output", "lo")
        await sync_to_async(events.finish)(prediction.id)
        live = [await communicator.receive_json_from(timeout=5) for _ in range(2)]
        assert [(m["type"], m["data"]) for m in live] == [("output", "lo"), ("done", {})]
        ids = [m["id"] for m in replayed + live]
        assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))
        await communicator.disconnect()

    asyncio.run(scenario())


@pytest.mark.django_db(transaction=True)
def test_reconnecting_after_an_event_skips_what_was_seen(client, cast, prediction):
    seen = events.append(prediction.id, "output", "a")
    events.append(prediction.id, "output", "b")
    events.finish(prediction.id)
    headers = headers_for(client, cast.alice)

    async def scenario():
        communicator, connected, _ = await connect(prediction.id, headers, after=seen)
        assert connected
        messages = [await communicator.receive_json_from(timeout=5) for _ in range(2)]
        assert [(m["type"], m["data"]) for m in messages] == [("output", "b"), ("done", {})]
        await communicator.disconnect()

    asyncio.run(scenario())


@pytest.mark.django_db(transaction=True)
def test_a_finished_prediction_whose_log_expired_is_replayed_from_the_database(
    client, cast, prediction
):
    Prediction.objects.filter(pk=prediction.pk).update(status="succeeded", output=["x", "y"])
    headers = headers_for(client, cast.alice)

    async def scenario():
        communicator, connected, _ = await connect(prediction.id, headers)
        assert connected
        messages = [await communicator.receive_json_from(timeout=5) for _ in range(3)]
        assert [(m["type"], m["data"]) for m in messages] == [
            ("output", "x"),
            ("output", "y"),
            ("done", {}),
        ]
        await communicator.disconnect()

    asyncio.run(scenario())
