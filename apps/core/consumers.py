"""A per-user notification socket: the live channel later pages build on."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer


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
    """Send a message to every open socket of a user (call after the transaction commits)."""
    async_to_sync(get_channel_layer().group_send)(
        user_group(user_id), {"type": "notify", "message": message}
    )
