"""Webhooks: each account's signing secret, and the delivery of prediction events.

The run loop calls `prediction_webhook(prediction, event)`, which only decides and queues. The
HTTP requests happen in the `deliver_webhook` actor on a worker: it posts the prediction as it
is at that moment (the JSON of `GET /v1/predictions/{id}`), signed the Standard Webhooks way.

- `start` and `completed` are queued once per prediction; only `completed` is retried.
- `output` and `logs` share one throttle per prediction, kept in Redis because several
  processes report events: at most one delivery per interval. An event inside the interval is
  not dropped: it is folded into one delivery at the end of the interval, which carries the
  newest state, unless the `completed` webhook supersedes it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from functools import cache, partial

import dramatiq
import httpx
from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone
from ninja import Router, Schema
from redis.commands.core import Script

from apps.core import outbound
from apps.core.outbound import OutboundRefused, check_url
from apps.core.redis import client as redis_client
from apps.predictions.models import Prediction
from apps.predictions.serializers import prediction_json

logger = logging.getLogger(__name__)

router = Router(tags=["webhooks"])

EVENTS = ("start", "output", "logs", "completed")
PROGRESS_EVENTS = frozenset({"output", "logs"})
QUEUE = "webhooks"
USER_AGENT = "selfrep-webhooks/1.0"
STATE_TTL = 600  # seconds the throttle's keys live; also bounds the effect of a lost message
ONCE_TTL = 24 * 3600  # how long `start` and `completed` remember they were queued


def _setting(name: str, default: float) -> float:
    return getattr(settings, name, default)


class SecretOut(Schema):
    key: str


@router.get(
    "/webhooks/default/secret",
    response=SecretOut,
    summary="Get the signing secret for the default webhook",
)
def webhooks_default_secret(request):
    return {"key": request.auth.webhook_signing_secret()}


# Signing


def webhook_sign(*, secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header: `v1,` + base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`,
    keyed by the base64-decoded part of the `whsec_...` secret."""
    key = base64.b64decode(secret.partition("_")[2])
    message = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def webhook_headers(*, secret: str, webhook_id: str, timestamp: int, body: bytes) -> dict:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": webhook_sign(
            secret=secret, webhook_id=webhook_id, timestamp=timestamp, body=body
        ),
    }


# Queueing (in the process that saw the event)


def webhook_events(prediction: Prediction) -> set[str]:
    """The events the prediction's webhook wants; an empty filter means all of them."""
    return set(prediction.webhook_events_filter or EVENTS)


def prediction_webhook(prediction: Prediction, event: str) -> None:
    """Queue the `event` webhook of `prediction`, if it has a webhook that wants the event.

    Call it after the state the event reports is saved: the delivery reads the prediction
    from the database when it is sent. Cheap (a few Redis commands) and never raises for a
    delivery problem, so the run loop can call it at every event.
    """
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    if not prediction.webhook or event not in webhook_events(prediction):
        return
    transaction.on_commit(partial(_queue, prediction.id, event))


def _key(prediction_id: str, name: str) -> str:
    return f"selfrep:webhook:{prediction_id}:{name}"


def _queue(prediction_id: str, event: str) -> None:
    try:
        if event in PROGRESS_EVENTS:
            _queue_progress(prediction_id, event)
        else:
            _queue_once(prediction_id, event)
    except Exception:
        # A webhook must never fail the prediction it reports on.
        logger.exception("Could not queue the %s webhook of prediction %s", event, prediction_id)


def _queue_once(prediction_id: str, event: str) -> None:
    redis = redis_client()
    if not redis.set(_key(prediction_id, f"queued:{event}"), "1", nx=True, ex=ONCE_TTL):
        return
    if event == "completed":
        # A progress delivery still waiting for its turn is superseded by this one.
        redis.delete(_key(prediction_id, "pending"))
    deliver_webhook.send(prediction_id, event, f"msg_{prediction_id}_{event}", 1)


def _queue_progress(prediction_id: str, event: str) -> None:
    """Mark new progress; queue a delivery unless one is queued already, delayed until the
    throttle interval since the last progress delivery has passed."""
    redis = redis_client()
    with redis.pipeline(transaction=True) as pipe:
        pipe.set(_key(prediction_id, "pending"), event, ex=STATE_TTL)
        pipe.set(_key(prediction_id, "scheduled"), "1", nx=True, ex=STATE_TTL)
        pipe.pttl(_key(prediction_id, "gate"))
        _, scheduled, gate_ms = pipe.execute()
    if not scheduled:
        return  # the queued delivery will carry this event's state too
    sequence = _key(prediction_id, "sequence")
    number = redis.incr(sequence)
    redis.expire(sequence, ONCE_TTL)
    deliver_webhook.send_with_options(
        args=(prediction_id, event, f"msg_{prediction_id}_{event}_{number}", 1),
        delay=max(gate_ms, 0),
    )


# Consume the pending progress and close the gate for one interval, in one step, so that
# an event arriving meanwhile either is carried by this delivery or queues the next one.
_CLAIM_PROGRESS = """
redis.call('DEL', KEYS[1])
if redis.call('GET', KEYS[2]) == false then return 0 end
redis.call('DEL', KEYS[2])
redis.call('SET', KEYS[3], '1', 'PX', ARGV[1])
return 1
"""


@cache
def _claim_script() -> Script:
    return redis_client().register_script(_CLAIM_PROGRESS)


def _claim_progress(prediction_id: str) -> bool:
    keys = [_key(prediction_id, name) for name in ("scheduled", "pending", "gate")]
    interval_ms = int(_setting("WEBHOOK_THROTTLE_INTERVAL", 0.5) * 1000)
    return bool(_claim_script()(keys=keys, args=[interval_ms]))


# Delivery (on a worker)


class DeliveryFailed(Exception):
    def __init__(self, reason: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(reason)
        self.retryable = retryable
        self.status = status  # the receiver's answer, when there was one


def webhook_post(url: str, *, secret: str, webhook_id: str, body: bytes) -> int:
    """POST one signed webhook; return the 2xx status or raise DeliveryFailed."""
    try:
        check_url(url)
    except OutboundRefused as exc:
        raise DeliveryFailed(f"refused: {exc}", retryable=False) from None
    headers = webhook_headers(
        secret=secret, webhook_id=webhook_id, timestamp=int(time.time()), body=body
    )
    timeout = _setting("WEBHOOK_TIMEOUT", 10.0)
    try:
        # Streamed and never read: the receiver's answer body is not our business.
        with (
            outbound.client(timeout=timeout) as client,
            client.stream("POST", url, content=body, headers=headers) as response,
        ):
            status = response.status_code
    except OutboundRefused as exc:  # the name resolved elsewhere as we connected
        raise DeliveryFailed(f"refused: {exc}", retryable=False) from None
    except httpx.InvalidURL as exc:
        raise DeliveryFailed(f"invalid URL: {exc}", retryable=False) from None
    except httpx.HTTPError as exc:  # connection errors, timeouts, broken answers
        raise DeliveryFailed(f"{type(exc).__name__}: {exc}", retryable=True) from None
    if 200 <= status < 300:
        return status
    if status >= 400:
        raise DeliveryFailed(f"the receiver answered {status}", retryable=True, status=status)
    raise DeliveryFailed(
        f"the receiver answered {status}; redirects are not followed",
        retryable=False,
        status=status,
    )


def retry_delay(attempt: int) -> float:
    """Seconds to wait after failed attempt number `attempt` (1, 2, 4, ... capped)."""
    first = _setting("WEBHOOK_RETRY_DELAY", 1.0)
    return min(first * 2 ** (attempt - 1), _setting("WEBHOOK_RETRY_MAX_DELAY", 30.0))


def webhook_deliver(*, prediction_id: str, event: str, webhook_id: str, attempt: int = 1) -> None:
    """Send the prediction's current state to its webhook; retry `completed` on failure."""
    if event in PROGRESS_EVENTS and not _claim_progress(prediction_id):
        return  # no progress since the last delivery
    prediction = (
        Prediction.objects.select_related("owner", "model__owner", "version")
        .filter(pk=prediction_id)
        .first()
    )
    if prediction is None or not prediction.webhook:
        return
    if (
        event in PROGRESS_EVENTS
        and prediction.is_terminal
        and "completed" in webhook_events(prediction)
    ):
        return  # the completed webhook carries this state
    body = json.dumps(prediction_json(prediction)).encode()
    secret = prediction.owner.webhook_signing_secret()
    try:
        status = webhook_post(prediction.webhook, secret=secret, webhook_id=webhook_id, body=body)
    except DeliveryFailed as failure:
        _record_attempt(prediction.id, event, attempt, failure.status, str(failure))
        _after_failure(prediction, event, webhook_id, attempt, failure)
    else:
        _record_attempt(prediction.id, event, attempt, status, None)


MAX_RECORDED_ATTEMPTS = 20


def _record_attempt(
    prediction_id: str, event: str, attempt: int, status: int | None, error: str | None
) -> None:
    """Keep the last deliveries on the prediction, for its page: a webhook that never
    arrives is then visible, with the reason, instead of silently lost."""
    entry = {
        "at": timezone.now().isoformat(),
        "event": event,
        "attempt": attempt,
        "status": status,
        "error": error,
    }
    try:
        with transaction.atomic():
            rows = Prediction.objects.select_for_update().filter(pk=prediction_id)
            recorded = rows.values_list("webhook_attempts", flat=True).first()
            if recorded is not None:
                rows.update(webhook_attempts=[*recorded, entry][-MAX_RECORDED_ATTEMPTS:])
    except DatabaseError:  # the record is for people; the delivery itself happened
        logger.exception("Could not record a webhook attempt of prediction %s", prediction_id)


def _after_failure(
    prediction: Prediction, event: str, webhook_id: str, attempt: int, failure: DeliveryFailed
) -> None:
    retries = int(_setting("WEBHOOK_RETRIES", 6))
    if event == "completed" and failure.retryable and attempt <= retries:
        delay = retry_delay(attempt)
        logger.info(
            "The %s webhook of prediction %s failed (%s); attempt %d in %.1f s",
            event,
            prediction.id,
            failure,
            attempt + 1,
            delay,
        )
        deliver_webhook.send_with_options(
            args=(prediction.id, event, webhook_id, attempt + 1), delay=int(delay * 1000)
        )
        return
    logger.warning(
        "The %s webhook of prediction %s was not delivered (%s, attempt %d); giving up",
        event,
        prediction.id,
        failure,
        attempt,
    )


@dramatiq.actor(queue_name=QUEUE, max_retries=0, time_limit=120_000)
def deliver_webhook(prediction_id: str, event: str, webhook_id: str, attempt: int = 1) -> None:
    webhook_deliver(
        prediction_id=prediction_id, event=event, webhook_id=webhook_id, attempt=attempt
    )
