"""Websocket routes; each app contributes its own patterns here."""

from django.urls import path

from apps.core.consumers import NotificationsConsumer
from apps.predictions.streaming import PredictionConsumer

websocket_urlpatterns = [
    path("ws/notifications/", NotificationsConsumer.as_asgi()),
    path("ws/predictions/<str:prediction_id>/", PredictionConsumer.as_asgi()),
]
