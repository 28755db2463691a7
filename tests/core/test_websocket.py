"""The site's websocket stack (config.asgi.websockets) and the Redis channel layer, through a
per-user notification socket that exists only here: nothing of the site broadcasts yet."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.urls import path

from config.asgi import websockets


def user_group(user_id: int) -> str:
    return f"user-{user_id}"


class NotificationsConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.group = user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello", "username": user.username})

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def notify(self, event):
        await self.send_json({"type": "notify", "message": event["message"]})


def notify_user(user_id: int, message: str) -> None:
    """Send a message to every open socket of a user."""
    async_to_sync(get_channel_layer().group_send)(
        user_group(user_id), {"type": "notify", "message": message}
    )


application = websockets([path("ws/notifications/", NotificationsConsumer.as_asgi())])
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
