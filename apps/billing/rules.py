"""What a run costs, by Replicate's rules (docs/billing.md): pure functions of what happened.

- Public models bill active (predict) time only; setup and idle are free.
- Private models bill their setup and active time, failed and canceled runs included.
- Predictions of a deployment are free here: the deployment's instances bill all their
  online time (`instance_charge`).
- Failed runs of public, time-priced models are free; canceled ones bill up to the cancel;
  runs aborted by their Cancel-After deadline are free.
- A model with a unit price bills its outputs instead of its time.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from apps.billing.models import PriceUnit, UsageRecord

MILLISECOND = Decimal("0.001")
Basis = UsageRecord.Basis


@dataclass(frozen=True)
class Charge:
    basis: str
    seconds: Decimal
    unit: str
    units: Decimal
    unit_price: Decimal
    amount: Decimal
    note: str = ""


def seconds_of(value) -> Decimal:
    """Seconds as the ledger keeps them: exact to the millisecond, never negative."""
    seconds = Decimal(str(value or 0)).quantize(MILLISECOND, rounding=ROUND_HALF_UP)
    return max(seconds, Decimal(0))


def _time(basis: str, seconds: Decimal, price: Decimal, note: str = "") -> Charge:
    return Charge(basis, seconds, "", seconds, price, seconds * price, note)


def _free(seconds: Decimal, price: Decimal, note: str) -> Charge:
    return Charge(Basis.FREE, seconds, "", seconds, price, Decimal(0), note)


def count_units(unit: str, output) -> Decimal:
    """Outputs: each item of a list (an image each), 1 for a single output, 0 for none.
    1k tokens: streamed text items (a language model's tokens), in thousands."""
    if output is None:
        items = 0
    elif isinstance(output, list):
        items = len(output)
    else:
        items = 1
    if unit == PriceUnit.KILO_TOKENS:
        return (Decimal(items) / 1000).quantize(MILLISECOND, rounding=ROUND_HALF_UP)
    return Decimal(items)


def prediction_charge(
    *,
    status: str,
    public: bool,
    deployment: bool,
    predict_time,
    setup_time,
    price_per_second: Decimal,
    unit: str = "",
    unit_price: Decimal | None = None,
    output=None,
) -> Charge:
    active = seconds_of(predict_time)
    setup = seconds_of(setup_time)
    if status == "aborted":
        return _free(active, price_per_second, "aborted by its Cancel-After deadline")
    if deployment:
        return _free(active, price_per_second, "billed as the deployment's instance time")
    if unit and unit_price is not None:
        if status == "failed":
            return Charge(
                Basis.FREE, active, unit, Decimal(0), unit_price, Decimal(0), "failed run"
            )
        units = count_units(unit, output)
        return Charge(Basis.UNITS, active, unit, units, unit_price, units * unit_price)
    if public:
        if status == "failed":
            return _free(active, price_per_second, "failed run of a public model")
        return _time(Basis.ACTIVE, active, price_per_second)
    note = f"setup {setup} s + active {active} s" if setup else ""
    return _time(Basis.ONLINE, setup + active, price_per_second, note)


def instance_charge(seconds, price_per_second: Decimal) -> Charge:
    """A deployment instance's online time (setting up, idle and busy alike)."""
    return _time(Basis.ONLINE, seconds_of(seconds), price_per_second)
