"""Decimal amounts <-> Stripe's integer minor units, at the API edge only.

Stripe counts most currencies in hundredths, the zero-decimal ones in whole units and five in
thousandths (where the last digit must be 0). An amount that a currency's minor unit cannot say
exactly (a fraction of a yen) is refused before anything is charged (``payable_exactly``), so a
person is never charged more, or less, than the amount they were shown.
"""

from decimal import ROUND_DOWN, Decimal

#: ISO 4217 currencies Stripe treats as having no minor unit.
ZERO_DECIMAL = {
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF",
}  # fmt: skip
#: ISO 4217 currencies Stripe counts in thousandths.
THREE_DECIMAL = {"BHD", "JOD", "KWD", "OMR", "TND"}
CENT = Decimal("0.01")


def _scale(currency: str) -> int:
    code = currency.upper()
    if code in ZERO_DECIMAL:
        return 1
    return 1000 if code in THREE_DECIMAL else 100


def payable_exactly(amount: Decimal, currency: str) -> bool:
    """Whether Stripe can charge exactly ``amount`` (the portal keeps cents; JPY has none)."""
    return (amount * _scale(currency)) == (amount * _scale(currency)).to_integral_value()


def to_minor(amount: Decimal, currency: str) -> int:
    """Minor units, rounded down: a fraction a currency cannot say is never charged (nor is it
    ever asked for: ``card_payment_start`` refuses such an amount)."""
    return int((amount * _scale(currency)).to_integral_value(rounding=ROUND_DOWN))


def from_minor(minor: int, currency: str) -> Decimal:
    return (Decimal(int(minor)) / _scale(currency)).quantize(CENT)
