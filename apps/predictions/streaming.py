"""Server-sent events behind `urls.stream`, and the websocket the web pages watch.

Both read the prediction's event log (apps/predictions/events.py) from any position and then
wait for more, so a late or reconnecting watcher gets everything exactly once.
"""

from __future__ import annotations

import json

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.core import signing
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from apps.core.problems import problem_response
from apps.predictions import events
from apps.predictions.models import Prediction

_SIGNER = signing.Signer(salt="selfrep.prediction-stream")
KEEPALIVE_MS = 15000


def stream_path(prediction_id: str) -> str:
    """The capability path of a prediction's stream: works without a token."""
    return reverse("prediction_stream", args=[_SIGNER.sign(prediction_id)])


def _sse(event_id: str, kind: str, data) -> str:
    if kind == "output":
        text = data if isinstance(data, str) else json.dumps(data)
    else:
        text = json.dumps(data)
    lines = "".join(f"data: {line}\n" for line in text.split("\n"))
    return f"event: {kind}\nid: {event_id}\n{lines}\n"


def _from_database(prediction: Prediction) -> list[tuple[str, str, object]]:
    """The whole stream rebuilt from the stored prediction, once its event log has expired."""
    items = (
        prediction.output
        if isinstance(prediction.output, list)
        else ([prediction.output] if prediction.output is not None else [])
    )
    replay = [(f"0-{i + 1}", "output", item) for i, item in enumerate(items)]
    reason = {"canceled": "canceled", "aborted": "canceled", "failed": "error"}.get(
        prediction.status
    )
    if prediction.status == Prediction.Status.FAILED:
        replay.append((f"0-{len(replay) + 1}", "error", {"detail": prediction.error or ""}))
    replay.append((f"0-{len(replay) + 1}", "done", {"reason": reason} if reason else {}))
    return replay


async def _events(prediction: Prediction, after: str):
    if (
        prediction.is_terminal
        and not await sync_to_async(
            lambda: events.client().exists(events.stream_key(prediction.id))
        )()
    ):
        for event in _from_database(prediction):
            if event[0] > after or after == "0-0":
                yield _sse(*event)
        return
    while True:
        batch = await events.aread(prediction.id, after, block_ms=KEEPALIVE_MS)
        if not batch:
            yield ": keepalive\n\n"
            continue
        for event_id, kind, data in batch:
            after = event_id
            if kind in ("output", "error", "done"):  # Replicate's events, nothing else
                yield _sse(event_id, kind, data)
            if kind == "done":
                return


@csrf_exempt
@require_GET
async def prediction_stream(request, token: str):
    try:
        prediction_id = _SIGNER.unsign(token)
    except signing.BadSignature:
        return problem_response(404, "Not found", "This stream does not exist.")
    prediction = await Prediction.objects.filter(pk=prediction_id).afirst()
    if prediction is None:
        return problem_response(404, "Not found", "This stream does not exist.")
    after = request.headers.get("Last-Event-ID", "0-0").strip() or "0-0"
    if not events.valid_event_id(after):
        return problem_response(
            400, "Invalid Last-Event-ID", "Last-Event-ID must be an event id this stream sent."
        )
    response = StreamingHttpResponse(_events(prediction, after), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


class PredictionConsumer(AsyncJsonWebsocketConsumer):
    """Live events of one prediction for the web pages: replay, then follow."""

    async def connect(self):
        prediction_id = self.scope["url_route"]["kwargs"]["prediction_id"]
        self.prediction = await self._allowed(prediction_id, self.scope.get("user"))
        if self.prediction is None:
            await self.close(code=4404)
            return
        await self.accept()
        query = dict(
            part.split("=", 1)
            for part in self.scope.get("query_string", b"").decode().split("&")
            if "=" in part
        )
        after = query.get("after", "0-0")
        self.after = after if events.valid_event_id(after) else "0-0"
        import asyncio

        self.reader = asyncio.ensure_future(self._follow())

    @sync_to_async
    def _allowed(self, prediction_id: str, user) -> Prediction | None:
        prediction = (
            Prediction.objects.select_related("owner__user", "owner__organization")
            .filter(pk=prediction_id)
            .first()
        )
        if prediction is None or user is None:
            return None
        if getattr(prediction, "is_shared", False) or prediction.owner.is_member(user):
            return prediction
        return None

    async def _follow(self):
        prediction = self.prediction
        if (
            prediction.is_terminal
            and not await sync_to_async(
                lambda: events.client().exists(events.stream_key(prediction.id))
            )()
        ):
            for event_id, kind, data in _from_database(prediction):
                await self.send_json({"id": event_id, "type": kind, "data": data})
            return
        while True:
            batch = await events.aread(prediction.id, self.after, block_ms=KEEPALIVE_MS)
            for event_id, kind, data in batch:
                self.after = event_id
                await self.send_json({"id": event_id, "type": kind, "data": data})
                if kind == "done":
                    return

    async def disconnect(self, code):
        reader = getattr(self, "reader", None)
        if reader is not None:
            reader.cancel()
