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


def xread_calls() -> int:
    return events.client().info("commandstats").get("cmdstat_xread", {}).get("calls", 0)


def feeds() -> dict:
    """This event loop's shared readers of event logs, by prediction id."""
    return dict(events._feeds.get(asyncio.get_running_loop(), {}))


@pytest.mark.django_db(transaction=True)
def test_many_watchers_share_one_reader_and_each_gets_every_event_once(client, cast, prediction):
    headers = headers_for(client, cast.bob)
    for n in range(3):
        events.append(prediction.id, "output", f"early{n} ")

    async def receive_until_done(communicator):
        seen = []
        while True:
            message = await communicator.receive_json_from(timeout=10)
            seen.append((message["id"], message["data"]))
            if message["type"] == "done":
                return seen

    async def scenario():
        first = [await connect(prediction.id, headers) for _ in range(10)]
        await asyncio.sleep(0.3)  # every watcher waits on the live log now
        # Joining while the feed runs, from the start and from the middle.
        early = events.read(prediction.id)
        late = [
            await connect(prediction.id, headers),
            await connect(prediction.id, headers, after=early[1][0]),
        ]
        await asyncio.sleep(0.3)
        sharing = {key: len(feed.queues) for key, feed in feeds().items()}
        calls = await sync_to_async(xread_calls)()
        for n in range(20):
            await sync_to_async(events.append)(prediction.id, "output", f"live{n} ")
            await asyncio.sleep(0.005)
        await sync_to_async(events.finish)(prediction.id)
        results = await asyncio.gather(*(receive_until_done(c) for c, _, _ in first + late))
        calls = await sync_to_async(xread_calls)() - calls
        for communicator, _, _ in first + late:
            await communicator.disconnect()
        return sharing, calls, results

    sharing, calls, results = asyncio.run(scenario())
    everything = [(event_id, data) for event_id, _kind, data in events.read(prediction.id)]
    assert len(everything) == 3 + 20 + 1
    assert sharing == {prediction.id: 12}, "12 watchers of one prediction, one reader"
    assert calls <= 2 * 21, f"{calls} XREADs for 21 events: one reader, not one per watcher"
    for seen in results[:11]:
        assert seen == everything
    assert results[11] == everything[2:]  # after the second early event: the rest, once


@pytest.mark.django_db(transaction=True)
def test_the_reader_stops_when_the_last_watcher_leaves(client, cast, prediction):
    headers = headers_for(client, cast.bob)

    async def scenario():
        watchers = [await connect(prediction.id, headers) for _ in range(3)]
        await asyncio.sleep(0.3)
        during = {key: len(feed.queues) for key, feed in feeds().items()}
        reader = feeds()[prediction.id].task
        for communicator, _, _ in watchers[:2]:
            await communicator.disconnect()
        await asyncio.sleep(0.1)
        one_left = {key: len(feed.queues) for key, feed in feeds().items()}
        await watchers[2][0].disconnect()
        await asyncio.sleep(0.1)
        return during, one_left, reader.done(), feeds()

    during, one_left, stopped, after = asyncio.run(scenario())
    assert during == {prediction.id: 3}
    assert one_left == {prediction.id: 1}
    assert stopped
    assert after == {}


@pytest.mark.django_db(transaction=True)
def test_a_watcher_arriving_as_the_last_one_leaves_gets_a_reader_of_its_own(cast, prediction):
    """The last watcher leaving stops the shared reader; one arriving in the same moment (before
    the reader has stopped) must not join it, or it would wait forever."""
    events.append(prediction.id, "output", "early")

    async def append_later():
        await asyncio.sleep(0.2)
        await sync_to_async(events.append)(prediction.id, "output", "hello")

    async def scenario():
        leaving = events.follow(prediction.id)
        first = await leaving.__anext__()
        # Both in one step of this task, with no turn of the event loop in between: the last
        # watcher leaves (its reader is told to stop), and somebody arrives.
        await leaving.aclose()
        arriving = events.follow(prediction.id, first[-1][0])
        appender = asyncio.ensure_future(append_later())
        async with asyncio.timeout(5):
            batch = await arriving.__anext__()
        await arriving.aclose()
        await appender
        return batch

    batch = asyncio.run(scenario())
    assert [(kind, data) for _id, kind, data in batch] == [("output", "hello")]
