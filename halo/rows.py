"""Values out of HaloPSA rows, read strictly: what the portal's columns cannot hold is refused here.

HaloPSA is the MSP's own database and a proxy may stand in front of it, so any field may hold anything
JSON can say. A value read leniently can still break the write of the whole page (a 13-digit amount, an
id beyond 32 bits, a NUL character PostgreSQL refuses), and since a failed run resumes at the page it
stopped at, one such row would block every later sync. So the readers here either give a value the
columns take, ``None`` for "not there", or raise ``BadValue`` naming the field: the upsert skips that
row, counts it and keeps what the portal already has.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from portal.models import Customer, Invoice

ZERO = Decimal("0.00")
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
#: The money columns are ``max_digits=12, decimal_places=2``.
MONEY_MAX = Decimal("9999999999.99")
CENT = Decimal("0.01")
#: Invoice lines are kept as JSON for the invoice page: bounded in depth and count.
MAX_LINES, MAX_LINE_DEPTH = 1000, 8


class BadValue(ValueError):
    """A field holds something the portal cannot store; ``field`` names it (never the value: logs)."""

    def __init__(self, field: str):
        super().__init__(f"HaloPSA field “{field}” holds a value the portal cannot store")
        self.field = field


def int_value(value) -> int | None:
    """An id or code that fits the 32-bit columns, else ``None`` (booleans, Infinity, 10**12 included)."""
    if isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError, ArithmeticError):
        return None
    return number if INT_MIN <= number <= INT_MAX else None


def money_value(value, *, field: str) -> Decimal:
    """An amount to the cent; missing is zero, anything unreadable or too large for the columns is
    ``BadValue`` (never read as zero: a zero total would show an invoice as paid)."""
    if value is None or value == "":
        return ZERO
    if isinstance(value, bool):
        raise BadValue(field)
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise BadValue(field) from None
    if not amount.is_finite() or abs(amount) > MONEY_MAX:
        raise BadValue(field)
    return amount.quantize(CENT)


def datetime_value(value) -> datetime | None:
    """An aware datetime, or ``None`` for a missing or impossible one (30 February, year 0)."""
    if not value or not isinstance(value, str):
        return None
    try:
        when = parse_datetime(value.strip().replace("Z", "+00:00"))
        if when is None:
            return None
        if timezone.is_naive(when):
            when = timezone.make_aware(when, timezone.get_current_timezone())
        when.astimezone(UTC)  # an offset that takes it past year 1 or 9999 fails here
    except (ValueError, OverflowError):
        return None
    return when


def date_value(value) -> date | None:
    when = datetime_value(value)
    return when.date() if when else None


def bool_value(value) -> bool:
    return value is True or str(value).lower() in {"true", "1"}


def text_value(value, limit: int) -> str:
    """Text for a column: NUL characters dropped (PostgreSQL refuses them), cut to the column's size."""
    if value is None:
        return ""
    return str(value).replace("\x00", "")[:limit]


def json_value(value, depth: int = 0):
    """Something ``JSONField`` stores on every database: Decimals as text, NULs dropped, non-finite
    numbers and what lies deeper than ``MAX_LINE_DEPTH`` left out."""
    if depth > MAX_LINE_DEPTH:
        return None
    if isinstance(value, dict):
        return {text_value(k, 200): json_value(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [json_value(v, depth + 1) for v in value[:MAX_LINES]]
    if isinstance(value, str):
        return text_value(value, 10_000)
    if isinstance(value, Decimal):
        return str(value) if value.is_finite() else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return value if value is None or isinstance(value, bool | int) else None


def lines_value(value) -> list[dict]:
    """The invoice's lines: a list of objects, or none at all (a number or ``true`` is no list)."""
    if not isinstance(value, list):
        return []
    return [json_value(line) for line in value[:MAX_LINES] if isinstance(line, dict)]


def invoice_values(row: dict, customer: Customer, *, today: date) -> dict | None:
    """The invoice's columns from a HaloPSA row; ``None`` when it has no usable invoice date."""
    issued = date_value(row.get("invoice_date"))
    if issued is None:
        return None
    due = date_value(row.get("duedate")) or issued
    total, paid = (
        money_value(row.get("total"), field="total"),
        money_value(row.get("amountpaid"), field="amountpaid"),
    )
    if row.get("amountdue") is not None:
        due_amount = money_value(row.get("amountdue"), field="amountdue")
    else:
        due_amount = total - paid
    balance = max(ZERO, min(due_amount, max(total, ZERO)))
    if balance == ZERO:
        status = Invoice.Status.PAID
    elif due < today:
        status = Invoice.Status.OVERDUE
    else:
        status = Invoice.Status.OPEN
    currency = text_value(row.get("currency_code") or "USD", 3).strip().upper() or "USD"
    return {
        "customer": customer,
        "number": text_value(row.get("invoicenumber") or row.get("id"), 50),
        "issued_on": issued,
        "due_on": max(due, issued),
        "currency": currency,
        "total": total,
        "balance": balance,
        "status": status,
        "tax_total": money_value(row.get("tax_total"), field="tax_total"),
        "amount_paid": paid,
        "halo_payment_status": int_value(row.get("paymentstatus")),
        "lines": lines_value(row.get("lines")),
        "halo_last_modified": datetime_value(row.get("last_modified")),
    }
