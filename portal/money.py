"""Money formatting and typed money input shared by the pages, the admin and the commands. Amounts are
``Decimal``; never float."""

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import forms
from django.core.exceptions import ValidationError

CENT = Decimal("0.01")

#: An amount as a person types it: ASCII digits, optionally a "." and at most two decimals. ``[0-9]``,
#: not ``\d`` (which matches every script's digits).
_TYPED_AMOUNT = re.compile(r"[0-9]+(?:\.[0-9]{0,2})?|\.[0-9]{1,2}")
AMOUNT_MESSAGE = (
    "Enter the amount in digits 0-9 with at most two decimals after a “.”, e.g. 50.00 "
    "(no thousands separators)."
)


def typed_amount(text: str) -> Decimal:
    """The amount a person typed (surrounding spaces trimmed); ``ValidationError`` unless it is written as
    ``_TYPED_AMOUNT`` says. Why not just ``Decimal(text)``: it also reads Arabic-Indic, Persian and
    full-width digits (U+0661 U+0660 is 10), exponents ("1e3"), signs and "NaN", none of which the
    person meant as this amount; and a decimal comma ("1,50") must not become 150 by dropping it."""
    text = text.strip()
    if not _TYPED_AMOUNT.fullmatch(text):
        raise ValidationError(AMOUNT_MESSAGE, code="invalid")
    return Decimal(text)


class MoneyFormField(forms.DecimalField):
    """``forms.DecimalField`` reading typed text through ``typed_amount`` (its limits, e.g. ``max_digits``
    and ``min_value``, still apply). Every money input of a form or the admin uses it."""

    default_error_messages = {"invalid": AMOUNT_MESSAGE}

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, Decimal):  # an initial value, not typed
            return value
        return typed_amount(str(value))


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
