"""Decimal amounts <-> Stripe's integer minor units, at the API edge only."""

from decimal import ROUND_HALF_UP, Decimal

#: ISO 4217 currencies Stripe treats as having no minor unit.
ZERO_DECIMAL = {
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF",
}  # fmt: skip
CENT = Decimal("0.01")


def to_minor(amount: Decimal, currency: str) -> int:
    if currency.upper() in ZERO_DECIMAL:
        return int(amount.quantize(Decimal("1"), rounding=ROUND_HALF_UP))
    return int((amount * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def from_minor(minor: int, currency: str) -> Decimal:
    if currency.upper() in ZERO_DECIMAL:
        return Decimal(int(minor)).quantize(CENT)
    return (Decimal(int(minor)) / 100).quantize(CENT)
