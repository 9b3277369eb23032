"""Money formatting shared by the pages and the admin. Amounts are ``Decimal``; never float."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")

# Symbols for the currencies MSPs bill in most; any other code is shown as a prefix ("CHF 10.00").
SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "AUD": "A$", "CAD": "C$", "NZD": "NZ$", "JPY": "¥"}


def format_money(amount, currency: str = "") -> str:
    """``$1,234.50``, ``€12.00``, ``CHF 7.25``; an empty string for a missing or unusable amount."""
    if amount is None or amount == "":
        return ""
    try:
        value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    except (InvalidOperation, TypeError, ValueError):
        return ""
    if not value.is_finite():
        return ""
    value = value.quantize(CENT, rounding=ROUND_HALF_UP)
    sign = "-" if value < 0 else ""
    digits = f"{abs(value):,.2f}"
    code = (currency or "").upper()
    symbol = SYMBOLS.get(code)
    if symbol:
        return f"{sign}{symbol}{digits}"
    return f"{sign}{code} {digits}".strip()
