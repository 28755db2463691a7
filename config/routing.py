"""Websocket routes; each app contributes its own patterns here."""

from django.urls import path

from apps.core.consumers import NotificationsConsumer

websocket_urlpatterns = [
    path("ws/notifications/", NotificationsConsumer.as_asgi()),
]
