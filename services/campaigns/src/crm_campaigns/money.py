"""Money: ``NUMERIC(14,2)`` amounts of record, written as ``"12500.00"`` in JSON, and the
same amounts in cents, which the dashboard sums (exact and fast on either database)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from pydantic import Field, PlainSerializer

CENT = Decimal("0.01")


def money_str(value: Decimal) -> str:
    """An amount with exactly two decimals: ``"12500.00"``."""
    return str(Decimal(value).quantize(CENT))


# Decimal in, "12500.00" out (numbers and strings are both accepted on input)
Money = Annotated[
    Decimal,
    Field(ge=0, max_digits=14, decimal_places=2),
    PlainSerializer(money_str, return_type=str, when_used="json"),
]
MoneyOut = Annotated[Decimal, PlainSerializer(money_str, return_type=str, when_used="json")]


def cents(amount: Decimal) -> int:
    """An amount in whole cents."""
    return int(Decimal(amount).quantize(CENT) * 100)


def from_cents(value: Any, divisor: int = 1) -> Decimal:
    """An integer sum of cents (times ``divisor``) as euros, rounded half-up to the cent."""
    return (Decimal(int(value or 0)) / (100 * divisor)).quantize(CENT, rounding=ROUND_HALF_UP)
