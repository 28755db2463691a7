"""The websocket the prediction page follows: its events, live, as JSON or page fragments.

It reads the prediction's event log like the SSE stream (apps/predictions/sse.py) and lets in
exactly those who may see the page (`PredictionQuerySet.visible_to`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.template.loader import render_to_string

from apps.predictions import display, events
from apps.predictions.models import Prediction
from apps.predictions.sse import log_expired, stored_events

LIVE = "predictions/_live.html"  # the fragments the web pages' websocket sends


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
        """The prediction and whether the user may manage it, if the user may see its page."""
        prediction = (
            Prediction.objects.visible_to(user)
            .select_related(
                "owner__user", "owner__organization", "version", "model__default_hardware"
            )
            .filter(pk=prediction_id)
            .first()
        )
        if prediction is None:
            return None
        return prediction, prediction.can_manage(user)

    async def _follow(self):
        prediction = self.prediction
        if await log_expired(prediction):
            for event_id, kind, data in stored_events(prediction):
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

        def render() -> str:  # the status line reads the database (the cost so far)
            context = {**display.status_context(prediction), "event_id": event_id}
            return render_to_string(LIVE + "#status", context)

        return await sync_to_async(render)()

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
