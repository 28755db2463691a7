"""The notifications socket through the real ASGI application and the Redis channel layer."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings

from apps.core.consumers import notify_user
from config.asgi import application

ORIGIN = (b"origin", b"http://testserver")


def session_cookie(client) -> tuple[bytes, bytes]:
    value = client.cookies[settings.SESSION_COOKIE_NAME].value
    return (b"cookie", f"{settings.SESSION_COOKIE_NAME}={value}".encode())


async def connect(headers):
    communicator = WebsocketCommunicator(application, "/ws/notifications/", headers=headers)
    connected, code = await communicator.connect(timeout=10)
    return communicator, connected, code


@pytest.mark.django_db(transaction=True)
def test_anonymous_sockets_are_refused(cast):
    async def scenario():
        communicator, connected, code = await connect([ORIGIN])
        assert not connected
        assert code == 4401

    asyncio.run(scenario())


@pytest.mark.django_db(transaction=True)
def test_a_logged_in_user_receives_their_notifications_only(client, cast):
    client.force_login(cast.alice.user)
    alice_headers = [ORIGIN, session_cookie(client)]

    async def scenario():
        communicator, connected, _ = await connect(alice_headers)
        assert connected
        assert await communicator.receive_json_from(timeout=5) == {
            "type": "hello",
            "username": "alice",
        }
        await sync_to_async(notify_user)(cast.bob.user.pk, "for bob")
        await sync_to_async(notify_user)(cast.alice.user.pk, "for alice")
        message = await communicator.receive_json_from(timeout=5)
        assert message == {"type": "notify", "message": "for alice"}
        assert await communicator.receive_nothing(timeout=0.3)
        await communicator.disconnect()

    asyncio.run(scenario())


@pytest.mark.django_db(transaction=True)
def test_sockets_from_foreign_origins_are_refused(client, cast):
    client.force_login(cast.alice.user)
    headers = [(b"origin", b"http://evil.example"), session_cookie(client)]

    async def scenario():
        _communicator, connected, _ = await connect(headers)
        assert not connected

    asyncio.run(scenario())
