"""Predictions in the billing ledger: what one costs (apps/billing/rules.py), recorded once
when it finishes (and by the sweeper for a finish whose record was lost); what one is
expected to cost, for the spend limit at admission and the model page's "run time and cost".
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count

from apps.accounts.models import Account
from apps.billing import limits, meter, rules
from apps.billing.models import PriceUnit, UsageRecord
from apps.catalog.models import Model
from apps.predictions.models import WORKER_DIED, Prediction

FALLBACK_PRICE = Decimal("0.0001")  # CPU's, for a model whose hardware row is gone
TYPICAL_RUNS = 20  # recent successful runs a typical predict time is taken from
TYPICAL_TTL = 30.0  # seconds a process keeps a model's typical predict time
DEFAULT_PREDICT_TIME = 1.0  # seconds expected of a model with no successful run yet
_typical: dict[int, tuple[float, float | None]] = {}


def key(prediction_id: str) -> str:
    return f"prediction:{prediction_id}"


def price_per_second(model: Model) -> tuple[str, Decimal]:
    sku, _name, price = hardware_price(model)
    return sku, price


def hardware_price(model: Model) -> tuple[str, str, Decimal]:
    """The model's hardware (sku, name) and its price per second, read now."""
    hardware = model.hardware()
    if hardware is None:
        return "cpu", "CPU", FALLBACK_PRICE
    return hardware.sku, hardware.name, hardware.price_per_second


def charge_of(prediction: Prediction) -> rules.Charge:
    model = prediction.model
    metrics = prediction.metrics or {}
    _sku, price = price_per_second(model)
    if prediction.status == Prediction.Status.FAILED and prediction.error == WORKER_DIED:
        # The platform's failure, not the model's: nobody pays for a worker that died.
        active = rules.seconds_of(metrics.get("predict_time"))
        return rules.Charge(
            UsageRecord.Basis.FREE, active, "", active, price, Decimal(0), "its worker died"
        )
    training = prediction.is_training
    return rules.prediction_charge(
        status=prediction.status,
        # A training pays for the time train() ran, on any model: like a public model's run.
        public=model.is_public or training,
        deployment=bool(prediction.deployment),
        predict_time=metrics.get("predict_time"),
        setup_time=metrics.get("setup_time"),
        price_per_second=price,
        unit=model.price_unit if model.is_unit_priced and not training else "",
        unit_price=model.unit_price,
        output=prediction.output,
    )


def record(prediction: Prediction) -> UsageRecord | None:
    """The finished prediction's record in the ledger (None if it was already there)."""
    sku, _price = price_per_second(prediction.model)
    return meter.record(
        key=key(prediction.id),
        account=prediction.owner,
        kind=UsageRecord.Kind.TRAINING if prediction.is_training else UsageRecord.Kind.PREDICTION,
        object_id=prediction.id,
        charge=charge_of(prediction),
        hardware="" if prediction.deployment else sku,
        started_at=prediction.started_at or prediction.created_at,
        ended_at=prediction.completed_at or prediction.created_at,
        model=prediction.model.full_name,
        version=prediction.version.digest,
        deployment=prediction.deployment,
    )


def recorded(prediction: Prediction) -> UsageRecord | None:
    return UsageRecord.objects.filter(key=key(prediction.id)).first()


def typical_predict_time(model: Model) -> float | None:
    """The median predict time of the model's recent successful runs (None before any)."""
    now = time.monotonic()
    cached = _typical.get(model.pk)
    if cached and now - cached[0] < TYPICAL_TTL:
        return cached[1]
    rows = (
        Prediction.objects.filter(
            model=model, status=Prediction.Status.SUCCEEDED, kind=Prediction.Kind.PREDICTION
        )
        .order_by("-created_at")
        .values_list("metrics", flat=True)[:TYPICAL_RUNS]
    )
    times = [m["predict_time"] for m in rows if isinstance(m, dict) and "predict_time" in m]
    value = statistics.median(times) if times else None
    _typical[model.pk] = (now, value)
    return value


def expected_cost(model: Model) -> Decimal:
    """What one run of the model is expected to cost: its typical predict time at its
    hardware's price, or one unit at its unit price."""
    if model.is_unit_priced:
        return model.unit_price
    seconds = typical_predict_time(model) or DEFAULT_PREDICT_TIME
    return rules.seconds_of(seconds) * price_per_second(model)[1]


@dataclass(frozen=True)
class RunCost:
    """The model page's "run time and cost"."""

    hardware: str
    price_per_second: Decimal
    typical_seconds: float | None
    per_run: Decimal | None
    unit: str = ""
    unit_price: Decimal | None = None

    @property
    def runs_per_dollar(self) -> int | None:
        return int(1 / self.per_run) if self.per_run else None


def run_cost(model: Model) -> RunCost:
    _sku, name, price = hardware_price(model)
    seconds = typical_predict_time(model)
    if model.is_unit_priced:
        unit = PriceUnit(model.price_unit).label
        return RunCost(name, price, seconds, None, unit, model.unit_price)
    per_run = rules.seconds_of(seconds) * price if seconds is not None else None
    return RunCost(name, price, seconds, per_run)


def reserved_cost(account: Account) -> Decimal:
    """The expected cost of the account's predictions admitted and not yet finished (those
    of deployments are paid by their instances' time)."""
    running = (
        Prediction.objects.filter(
            owner=account,
            deployment="",
            status__in=[Prediction.Status.STARTING, Prediction.Status.PROCESSING],
        )
        .values("model")
        .annotate(n=Count("pk"))
    )
    counts = {row["model"]: row["n"] for row in running}
    total = Decimal(0)
    for model in Model.objects.filter(pk__in=counts).select_related("default_hardware"):
        total += expected_cost(model) * counts[model.pk]
    return total


def admit(account: Account, model: Model, *, deployment: bool) -> None:
    """Raise limits.SpendLimitReached unless the account's spend limit leaves room for a run
    of `model` (a deployment's prediction costs its instances' time, already counted)."""
    limits.admit(
        account,
        estimate=(lambda: Decimal(0)) if deployment else (lambda: expected_cost(model)),
        reserved=lambda: reserved_cost(account),
    )
