"""Replicate's billing rules, as apps/billing/rules.py computes them from what happened."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from apps.billing import meter, rules
from apps.billing.models import PriceUnit

CPU = Decimal("0.000100")


def charge(**fields):
    base = dict(
        status="succeeded",
        public=True,
        deployment=False,
        predict_time=2.5,
        setup_time=None,
        price_per_second=CPU,
    )
    return rules.prediction_charge(**(base | fields))


def test_a_public_model_bills_active_time_only():
    result = charge(setup_time=7.0)
    assert result.basis == "active"
    assert result.seconds == Decimal("2.500")
    assert result.amount == Decimal("2.500") * CPU


def test_a_private_model_bills_setup_and_active_time():
    result = charge(public=False, setup_time=7.25)
    assert result.basis == "online"
    assert result.seconds == Decimal("9.750")
    assert result.amount == Decimal("9.750") * CPU
    assert "setup 7.250 s" in result.note


@pytest.mark.parametrize(
    ("public", "status", "billed"),
    [
        (True, "failed", False),  # failed runs of public time-priced models are free
        (False, "failed", True),  # private: billed normally
        (True, "canceled", True),  # up to the cancel
        (False, "canceled", True),
        (True, "aborted", False),  # Cancel-After deadline
        (False, "aborted", False),
    ],
)
def test_failed_canceled_and_aborted(public, status, billed):
    result = charge(public=public, status=status)
    assert (result.amount > 0) is billed
    if not billed:
        assert result.basis == "free" and result.note


def test_a_deployment_prediction_is_paid_by_its_instances():
    result = charge(deployment=True, public=False, setup_time=3)
    assert result.amount == 0 and "instance time" in result.note


def test_unit_pricing_replaces_time_pricing():
    per_image = Decimal("0.003")
    result = charge(unit=PriceUnit.OUTPUT, unit_price=per_image, output=["a.png", "b.png"])
    assert result.basis == "units" and result.units == 2
    assert result.amount == Decimal("0.006")
    tokens = charge(unit=PriceUnit.KILO_TOKENS, unit_price=Decimal("0.05"), output=["tok"] * 1500)
    assert tokens.units == Decimal("1.500") and tokens.amount == Decimal("0.075")
    assert charge(unit=PriceUnit.OUTPUT, unit_price=per_image, output="x.png").units == 1
    failed = charge(unit=PriceUnit.OUTPUT, unit_price=per_image, status="failed", output=None)
    assert failed.amount == 0


def test_amounts_are_exact_decimals():
    result = charge(predict_time=0.1 + 0.2)  # 0.30000000000000004 as a float
    assert result.seconds == Decimal("0.300")
    assert result.amount == Decimal("0.0000300000")
    assert isinstance(result.amount, Decimal)


def test_an_instance_stretch_is_cut_at_month_boundaries():
    start = datetime(2026, 11, 30, 23, 58, tzinfo=UTC)
    end = datetime(2026, 12, 1, 0, 3, tzinfo=UTC)
    pieces = meter.month_pieces(start, end)
    assert pieces == [
        (start, datetime(2026, 12, 1, tzinfo=UTC)),
        (datetime(2026, 12, 1, tzinfo=UTC), end),
    ]
    # Not due while running until an interval has gathered; everything once stopped.
    assert meter.pieces_due(start, start.replace(minute=59), interval=300, final=False) == []
    assert meter.pieces_due(start, start.replace(minute=59), interval=300, final=True)
