"""Request bodies of the /v1 prediction endpoints (what /v1/openapi.json shows).

Replicate checks a create body in two steps, and so do we: its shape (a JSON object with
`input`, and `version` on /v1/predictions, and no other keys) at the door, here; the values
once the version is known (webhook, `webhook_events_filter`, then `input` against the
version's schema). So the fields take what was sent, and the document shows their types.
Problems are Replicate's 422s (`invalid_fields`, `field` empty for the body itself), which
ninja's validation errors cannot spell, hence ApiError from the validator.
"""

from __future__ import annotations

from typing import Annotated, Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from ninja.params.models import Body, BodyModel
from pydantic import BaseModel, ConfigDict, Field, model_validator

from apps.core.outbound import OutboundRefused, check_url
from apps.core.problems import ApiError
from apps.predictions.validation import invalid

WEBHOOK_EVENTS = ("start", "output", "logs", "completed")


class PredictionIn(BaseModel):
    """The body of POST /v1/models/{owner}/{name}/predictions."""

    # A pydantic model rather than a ninja Schema: no ORM objects to read, and the shape
    # check below must see the body as sent.
    model_config = ConfigDict(extra="forbid")

    input: Any = Field(
        json_schema_extra={"type": "object"},
        description="The model's inputs, as its version's `Input` schema describes them.",
    )
    webhook: Any = Field(
        None,
        json_schema_extra={"type": "string", "format": "uri"},
        description="An http(s) URL to receive the prediction as it changes.",
    )
    webhook_events_filter: Any = Field(
        None,
        json_schema_extra={
            "type": "array",
            "items": {"type": "string", "enum": sorted(WEBHOOK_EVENTS)},
        },
        description="The events that are sent to the webhook (all when absent or empty).",
    )
    stream: Any = Field(
        None,
        json_schema_extra={"type": "boolean", "deprecated": True},
        description="Ignored: `urls.stream` is given whenever the model streams.",
    )
    webhook_completed: Any = Field(
        None,
        json_schema_extra={"type": "string", "format": "uri", "deprecated": True},
        description="A webhook for the completed event only (use `webhook`).",
    )

    @model_validator(mode="before")
    @classmethod
    def _replicate_shape(cls, body: Any) -> Any:
        if not isinstance(body, dict):
            raise invalid([("invalid_type", "", "the request body must be a JSON object")])
        problems = [
            ("additional_property_not_allowed", "", f"Additional property {key} is not allowed")
            for key in body
            if key not in cls.model_fields
        ]
        problems += [
            ("required", "", f"{name} is required")
            for name, field in cls.model_fields.items()
            if field.is_required() and name not in body
        ]
        if problems:
            raise invalid(problems)
        return body

    def webhook_options(self) -> tuple[str, list[str]]:
        """The webhook and its events, or a 422 saying what is wrong with them."""
        webhook = self.webhook or self.webhook_completed or ""
        events = self.webhook_events_filter
        if self.webhook_completed and not self.webhook and events is None:
            events = ["completed"]
        if webhook:
            _check_webhook(webhook)
        if events is not None and (
            not isinstance(events, list) or not all(e in WEBHOOK_EVENTS for e in events)
        ):
            description = "webhook_events_filter items must be one of: " + ", ".join(WEBHOOK_EVENTS)
            raise invalid([("enum", "webhook_events_filter", description)])
        return webhook, list(dict.fromkeys(events or []))


class VersionPredictionIn(PredictionIn):
    """The body of POST /v1/predictions."""

    version: Any = Field(
        json_schema_extra={"type": "string"},
        description="A 64-hex version id, `owner/name:version`, "
        "or `owner/name` (the model's latest version).",
    )


class TrainingIn(PredictionIn):
    """The body of POST /v1/models/{owner}/{name}/versions/{id}/trainings."""

    destination: Any = Field(
        json_schema_extra={"type": "string"},
        description="The model (`owner/name`, yours) that receives the trained version.",
    )
    stream: Any = Field(None, exclude=True, json_schema_extra={"deprecated": True})


def _check_webhook(webhook: Any) -> None:
    if not isinstance(webhook, str) or not webhook.startswith(("https://", "http://")):
        raise invalid([("format", "webhook", "webhook must be an http(s) URL")])
    try:
        # Literal addresses are judged now; names are resolved only when delivering.
        check_url(webhook, resolve=False)
    except OutboundRefused as exc:
        raise invalid([("format", "webhook", f"webhook cannot be delivered: {exc}")]) from None


class _CreateBodyModel(BodyModel):
    """ninja's JSON body (through the hardened parser), read as Replicate reads a create
    body: an empty one is `{}`, so the answer says what is required, and one larger than
    DATA_UPLOAD_MAX_MEMORY_SIZE is a 413 problem (ninja lets RequestDataTooBig escape)."""

    @classmethod
    def get_request_data(cls, request, api, path_params):
        try:
            raw = request.body
        except RequestDataTooBig:
            raise ApiError(
                413,
                "Request too large",
                "The request body is larger than "
                f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE // 2**20} MB; upload large "
                "inputs with the files API and pass their URLs.",
            ) from None
        if not raw:
            return {cls.__read_from_single_attr__: {}}
        return super().get_request_data(request, api, path_params)


class _CreateBody(Body):
    _model = _CreateBodyModel

    @classmethod
    def _param_source(cls) -> str:
        return "body"


# What the create views declare: `payload: VersionPredictionBody`.
PredictionBody = Annotated[PredictionIn, _CreateBody(...)]
VersionPredictionBody = Annotated[VersionPredictionIn, _CreateBody(...)]
TrainingBody = Annotated[TrainingIn, _CreateBody(...)]


class PredictionPage(BaseModel):
    previous: str | None = None
    next: str | None = None
    results: list[dict]
