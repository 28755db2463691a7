"""`{{ amount|usd }}`: dollars as people read them: cents for a cent or more, six decimals
below a cent (a one-second CPU run is $0.000100), $0.00 for nothing."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import template

register = template.Library()


@register.filter
def usd(value) -> str:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return ""
    if amount == 0:
        return "$0.00"
    places = Decimal("0.01") if abs(amount) >= Decimal("0.01") else Decimal("0.000001")
    return f"${amount.quantize(places, rounding=ROUND_HALF_UP):,}"
