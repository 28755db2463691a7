"""What the prediction pages show, shared by the views and the websocket consumer: outputs by
type, inputs, logs with a progress bar, timings and cost, and the state of a running
prediction folded from its event log together with the id of the last event in it."""

from __future__ import annotations

import json
import mimetypes
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from django.utils import timezone

from apps.predictions import events, metering
from apps.predictions.models import Prediction
from apps.runtime import schema

TQDM = re.compile(r"^\s*(\d+)%\s*\|.+?\|\s*(\d+)/(\d+)")
MEDIA_KINDS = ("image", "audio", "video")
READ_BATCH = 1000


@dataclass(frozen=True)
class Item:
    """One value as the page shows it. `kind` is image, audio, video, file (an http(s) URL
    offered as a download), text or json; `value` is the URL, the text or the JSON."""

    kind: str
    value: str
    name: str = ""

    @property
    def is_http(self) -> bool:
        return self.value[:8].lower().startswith(("http://", "https://"))


def _media_kind(content_type: str) -> str | None:
    kind = content_type.split("/", 1)[0]
    return kind if kind in MEDIA_KINDS else None


def item_for(value: Any) -> Item:
    """Strings that are http(s) URLs become media or download links, `data:` URIs of images,
    audio and video become media; nothing else is ever used as a link."""
    if isinstance(value, str):
        lowered = value[:11].lower()
        if lowered.startswith(("http://", "https://")):
            path = urlsplit(value).path
            name = unquote(PurePosixPath(path).name) or value
            kind = _media_kind(mimetypes.guess_type(path)[0] or "") or "file"
            return Item(kind, value, name)
        if lowered.startswith("data:"):
            content_type = value[5:].split(";", 1)[0].split(",", 1)[0].lower()
            kind = _media_kind(content_type)
            if kind:
                return Item(kind, value, content_type)
            return Item("text", f"data: URI ({content_type or 'unknown type'}, {len(value)} chars)")
        return Item("text", value)
    if isinstance(value, dict | list):
        return Item("json", json.dumps(value, indent=2, ensure_ascii=False))
    return Item("text", json.dumps(value))  # numbers, booleans, null


def _is_link(value: Any) -> bool:
    return isinstance(value, str) and value[:11].lower().startswith(
        ("http://", "https://", "data:")
    )


@dataclass
class OutputView:
    concatenate: bool = False  # streamed text, shown as one text
    text: str = ""
    items: list[Item] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not self.text and not self.items

    @property
    def image(self) -> str | None:
        """The first image with an http(s) URL (for og:image)."""
        for item in self.items:
            if item.kind == "image" and item.value.startswith(("http://", "https://")):
                return item.value
        return None


def is_concatenated(prediction: Prediction) -> bool:
    return prediction.version.output_schema.get("x-cog-array-display") == "concatenate"


def output_view(prediction: Prediction, chunks: list | None = None) -> OutputView:
    """The stored output, or while it runs the chunks that came so far."""
    concatenate = is_concatenated(prediction)
    if chunks is not None:
        if concatenate:
            return OutputView(True, "".join(_text(c) for c in chunks))
        return OutputView(items=[item_for(c) for c in chunks])
    output = prediction.output
    if output is None:
        return OutputView(concatenate)
    if concatenate and isinstance(output, list):
        return OutputView(True, "".join(_text(c) for c in output))
    if isinstance(output, list) and output and all(_is_link(v) for v in output):
        return OutputView(items=[item_for(v) for v in output])
    return OutputView(items=[item_for(output)])


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class Progress:
    percent: int
    current: int
    total: int


def progress_in(logs: str) -> Progress | None:
    """The last tqdm-style progress line (`42%|████ | 42/100 [...]`) in the logs."""
    for line in reversed(re.split(r"[\r\n]", logs)):
        match = TQDM.match(line)
        if match:
            percent, current, total = (int(g) for g in match.groups())
            return Progress(min(percent, 100), current, total)
    return None


@dataclass(frozen=True)
class InputRow:
    name: str
    title: str
    item: Item


def input_rows(prediction: Prediction) -> list[InputRow]:
    """The input as stored (secrets already masked), in the schema's order."""
    document = prediction.version.openapi_schema
    if prediction.is_training:
        document = prediction.version.training_schema
    specs = {spec.name: spec for spec in schema.inputs(document)}
    order = {name: spec.order for name, spec in specs.items()}
    names = sorted(prediction.input or {}, key=lambda n: (order.get(n, schema.UNORDERED + 1), n))
    rows = []
    for name in names:
        title = specs[name].title if name in specs else name.replace("_", " ").capitalize()
        rows.append(InputRow(name, title, item_for(prediction.input[name])))
    return rows


def first_text_input(prediction: Prediction) -> str:
    """A line that describes the prediction (its prompt or first text input), for previews."""
    for row in input_rows(prediction):
        if row.item.kind == "text" and row.name not in prediction.version.secret_inputs:
            return row.item.value
    return ""


@dataclass(frozen=True)
class Cost:
    amount: Decimal
    hardware: str
    price_per_second: Decimal
    live: bool = False  # still running: elapsed time at the price, ticked on by the page
    note: str = ""  # why it is free, or how it was counted


def cost_of(prediction: Prediction) -> Cost | None:
    """A finished prediction's amount in the ledger (what its rules say until it is
    recorded); a running one's elapsed time at its hardware's price."""
    _sku, name, price = metering.hardware_price(prediction.model)
    if not prediction.is_terminal:
        if prediction.started_at is None or prediction.deployment:
            return None
        elapsed = max(0.0, (timezone.now() - prediction.started_at).total_seconds())
        return Cost(metering.rules.seconds_of(elapsed) * price, name, price, live=True)
    if prediction.started_at is None and not prediction.deployment:
        return None  # it never ran: nothing to say
    usage = metering.recorded(prediction)
    if usage is not None:
        return Cost(usage.amount, name, price, note=usage.note)
    charge = metering.charge_of(prediction)
    return Cost(charge.amount, name, price, note=charge.note)


@dataclass
class LiveState:
    """A running prediction as its event log has it up to `cursor`, the last event's id: the
    page shows this and its websocket continues after `cursor`."""

    chunks: list = field(default_factory=list)
    logs: str = ""
    cursor: str = "0-0"


def live_state(prediction: Prediction) -> LiveState | None:
    """None once the prediction has finished (the stored prediction is then complete)."""
    if prediction.is_terminal:
        return None
    state, logs, status, finished = LiveState(), [], None, False
    while True:
        batch = events.read(prediction.id, state.cursor, count=READ_BATCH)
        for event_id, kind, data in batch:
            state.cursor = event_id
            if kind == "output":
                state.chunks.append(data)
            elif kind == "logs":
                logs.append(data)
            elif kind == "status":
                status = data
            elif kind == "done":
                finished = True
        if len(batch) < READ_BATCH:
            break
    # The worker saves a new status before it logs the event: a status event newer than the
    # row we read means the row changed meanwhile, and the websocket will not say it again.
    if finished:
        prediction.refresh_from_db()  # the final state is saved by now
        return None
    if status is not None and status != prediction.status:
        prediction.refresh_from_db(fields=["status", "started_at"])
    state.logs = "".join(logs)
    return state


def format_seconds(seconds: float) -> str:
    """12.3s, 4m 05s, 2h 03m: how long something has run (the page's script ticks it on)."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def status_context(prediction: Prediction) -> dict:
    """What the status line needs: the prediction and, while it runs, for how long and at
    what cost so far."""
    since = prediction.started_at or prediction.created_at
    elapsed = 0.0 if prediction.is_terminal else max(0.0, (timezone.now() - since).total_seconds())
    return {
        "prediction": prediction,
        "elapsed": format_seconds(elapsed),
        "elapsed_seconds": elapsed,
        "cost": cost_of(prediction),
    }


def panel_context(prediction: Prediction, *, can_manage: bool) -> dict:
    """What the prediction panel (status, output, logs, metrics) needs to render."""
    live = live_state(prediction)
    logs = live.logs if live else prediction.logs
    return {
        **status_context(prediction),
        "can_manage": can_manage,
        "live": live,
        "output": output_view(prediction, live.chunks if live else None),
        "logs": logs,
        "progress": progress_in(logs),
        "ws_url": (
            f"/ws/predictions/{prediction.id}/?format=html&after={live.cursor}" if live else ""
        ),
    }
