"""The predictions app's websocket routes (config/asgi.py serves them)."""

from __future__ import annotations

from django.urls import path

from apps.predictions.consumers import PredictionConsumer

websocket_urlpatterns = [
    path("ws/predictions/<str:prediction_id>/", PredictionConsumer.as_asgi()),
]
