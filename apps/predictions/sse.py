"""Server-sent events behind `urls.stream`: Replicate's stream of a prediction.

The stream reads the prediction's event log (apps/predictions/events.py) from any position
and then waits for more, so a late or reconnecting client (`Last-Event-ID`) gets everything
exactly once; the watchers of one prediction in one web process share one reader of the log
(events.follow). Once the log has expired, the stream is rebuilt from the database.

The URL is a capability: signed, it works without a token (browsers' EventSource sends
none), and it is handed out only with the prediction, to those who may see it.
"""

from __future__ import annotations

import contextlib
import json

from asgiref.sync import sync_to_async
from django.core import signing
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from apps.core.db import release_connection
from apps.core.problems import problem_response
from apps.predictions import events
from apps.predictions.models import Prediction

_SIGNER = signing.Signer(salt="selfrep.prediction-stream")
KEEPALIVE_MS = 15000


def stream_path(prediction_id: str) -> str:
    """The capability path of a prediction's stream: works without a token."""
    return reverse("prediction_stream", args=[_SIGNER.sign(prediction_id)])


def stored_events(prediction: Prediction) -> list[tuple[str, str, object]]:
    """The whole stream rebuilt from the stored prediction, once its event log has expired:
    its outputs, an `error` if it failed, and `done`."""
    items = (
        prediction.output
        if isinstance(prediction.output, list)
        else ([prediction.output] if prediction.output is not None else [])
    )
    replay = [(f"0-{i + 1}", "output", item) for i, item in enumerate(items)]
    if prediction.status == Prediction.Status.FAILED:
        replay.append((f"0-{len(replay) + 1}", "error", {"detail": prediction.error or ""}))
    reason = prediction.done_reason
    replay.append((f"0-{len(replay) + 1}", "done", {"reason": reason} if reason else {}))
    return replay


async def log_expired(prediction: Prediction) -> bool:
    """Whether the prediction has ended and its event log is gone (expired, or lost by
    Redis): then only the database tells its story."""
    if not prediction.is_terminal:
        return False
    key = events.stream_key(prediction.id)
    return not await sync_to_async(lambda: events.client().exists(key))()


def _sse(event_id: str, kind: str, data) -> str:
    if kind in ("output", "logs"):
        text = data if isinstance(data, str) else json.dumps(data)
    else:
        text = json.dumps(data)
    lines = "".join(f"data: {line}\n" for line in text.split("\n"))
    return f"event: {kind}\nid: {event_id}\n{lines}\n"


def _rest_from_database(prediction: Prediction, after: str):
    """What follows `after` in the stream rebuilt from the database. An id of the live log
    (which is gone: it expired, or Redis lost it) cannot be placed in the stored output: such
    a watcher gets the end of the stream, and the prediction has the whole output."""
    replay = stored_events(prediction)
    if after == "0-0":
        return replay
    if events.id_key(after)[0] == 0:  # an id of this rebuilt stream
        return [event for event in replay if events.id_key(event[0]) > events.id_key(after)]
    return [event for event in replay if event[1] in ("error", "done")]


async def _events(prediction: Prediction, after: str):
    # Replicate's events, nothing else; a training (which has no output events) streams its
    # logs as `logs` events, a type the clients know (some of them fail on it, so never for
    # a prediction).
    sent = {"output", "error", "done"} | ({"logs"} if prediction.is_training else set())
    if await log_expired(prediction):
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
                if kind in sent:
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
