"""Server-sent events behind `urls.stream`, and the websocket the web pages watch.

Both read the prediction's event log (apps/predictions/events.py) from any position and then
wait for more, so a late or reconnecting watcher gets everything exactly once; the watchers of
one prediction in one web process share one reader of the log (events.follow).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.core import signing
from django.http import StreamingHttpResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from apps.core.db import release_connection
from apps.core.problems import problem_response
from apps.predictions import display, events
from apps.predictions.models import Prediction

_SIGNER = signing.Signer(salt="selfrep.prediction-stream")
KEEPALIVE_MS = 15000
LIVE = "predictions/_live.html"  # the fragments the web pages' websocket sends


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


def _rest_from_database(prediction: Prediction, after: str):
    """What follows `after` in the stream rebuilt from the database. An id of the live log
    (which is gone: it expired, or Redis lost it) cannot be placed in the stored output: such
    a watcher gets the end of the stream, and the prediction has the whole output."""
    replay = _from_database(prediction)
    if after == "0-0":
        return replay
    if events.id_key(after)[0] == 0:  # an id of this rebuilt stream
        return [event for event in replay if events.id_key(event[0]) > events.id_key(after)]
    return [event for event in replay if event[1] in ("error", "done")]


async def _events(prediction: Prediction, after: str):
    if (
        prediction.is_terminal
        and not await sync_to_async(
            lambda: events.client().exists(events.stream_key(prediction.id))
        )()
    ):
        for event in _rest_from_database(prediction, after):
            yield _sse(*event)
        return
    async with contextlib.aclosing(
        events.follow(prediction.id, after, keepalive_ms=KEEPALIVE_MS)
    ) as stream:
        async for batch in stream:
            if not batch:
                # Quiet for a while: if the prediction has ended, the end of its log was lost
                # (Redis was unreachable when it finished), so end the stream from the database.
                stored = await Prediction.objects.filter(pk=prediction.pk).afirst()
                await sync_to_async(release_connection)()
                if stored is not None and stored.is_terminal:
                    for event in _rest_from_database(stored, after):
                        yield _sse(*event)
                    return
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
    await sync_to_async(release_connection)()  # a stream may last minutes
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
    """Live events of one prediction for the web pages: replay, then follow.

    By default each event is sent as JSON `{id, type, data}`. With `?format=html` each event
    is sent as HTML fragments for htmx's ws extension, rendered with the page's templates:
    out-of-band appends of output and log chunks, a replaced progress bar or status, and on
    `done` the final panel as stored; every message starts with a cursor element carrying the
    event id, so a page that reconnects can drop what it has already shown.
    """

    async def connect(self):
        prediction_id = self.scope["url_route"]["kwargs"]["prediction_id"]
        allowed = await self._allowed(prediction_id, self.scope.get("user"))
        if allowed is None:
            await self.close(code=4404)
            return
        self.prediction, self.can_manage = allowed
        await self.accept()
        query = parse_qs(self.scope.get("query_string", b"").decode())
        after = query.get("after", ["0-0"])[-1]
        self.after = after if events.valid_event_id(after) else "0-0"
        self.html = query.get("format", [""])[-1] == "html"
        self.reader = asyncio.ensure_future(self._follow_html() if self.html else self._follow())

    @sync_to_async
    def _allowed(self, prediction_id: str, user) -> tuple[Prediction, bool] | None:
        prediction = (
            Prediction.objects.select_related(
                "owner__user", "owner__organization", "version", "model__default_hardware"
            )
            .filter(pk=prediction_id)
            .first()
        )
        if prediction is None or user is None:
            return None
        is_member = prediction.owner.is_member(user)
        if prediction.is_shared or is_member:
            return prediction, is_member
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
        async with contextlib.aclosing(events.follow(prediction.id, self.after)) as stream:
            async for batch in stream:
                for event_id, kind, data in batch:
                    self.after = event_id
                    await self.send_json({"id": event_id, "type": kind, "data": data})
                    if kind == "done":
                        return

    async def _follow_html(self):
        if self.prediction.is_terminal:
            await self.send(text_data=await self._render_final(None))
            await self.close()
            return
        async with contextlib.aclosing(events.follow(self.prediction.id, self.after)) as stream:
            async for batch in stream:
                for event_id, kind, data in batch:
                    self.after = event_id
                    if kind == "done":
                        await self.send(text_data=await self._render_final(event_id))
                        await self.close()
                        return
                    message = await self._render_event(event_id, kind, data)
                    if message:
                        await self.send(text_data=message)

    async def _render_event(self, event_id: str, kind: str, data) -> str:
        prediction = self.prediction
        context = {"prediction": prediction, "event_id": event_id}
        if kind == "output":
            if display.is_concatenated(prediction):
                context["chunk"] = data if isinstance(data, str) else json.dumps(data)
                return render_to_string(LIVE + "#text_chunk", context)
            context["item"] = display.item_for(data)
            return render_to_string(LIVE + "#item_chunk", context)
        if kind == "logs":
            context["chunk"] = str(data)
            context["progress"] = display.progress_in(context["chunk"])
            return render_to_string(LIVE + "#log_chunk", context)
        if kind == "status":
            return await self._render_status(event_id)
        return ""  # `error` comes just before `done`, which shows it

    @sync_to_async
    def _reload(self) -> Prediction:
        self.prediction = Prediction.objects.select_related(
            "version", "model__default_hardware"
        ).get(pk=self.prediction.pk)
        return self.prediction

    async def _render_status(self, event_id: str) -> str:
        prediction = await self._reload()
        context = {**display.status_context(prediction), "event_id": event_id}
        return await sync_to_async(render_to_string)(LIVE + "#status", context)

    async def _render_final(self, event_id: str | None) -> str:
        prediction = await self._reload()

        def render() -> str:
            context = display.panel_context(prediction, can_manage=self.can_manage)
            context["event_id"] = event_id
            return render_to_string(LIVE + "#final", context)

        return await sync_to_async(render)()

    async def disconnect(self, code):
        reader = getattr(self, "reader", None)
        if reader is not None:
            reader.cancel()
