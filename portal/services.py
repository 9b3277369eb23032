"""Writes of tenants and customer data: portals, contacts, invoices, payments.

Every write validates the row (``full_clean``) before saving, so the management commands, the
demo seed and any future sync get the same clear ``ValidationError`` messages the admin shows,
instead of a database ``IntegrityError``.
"""

from __future__ import annotations

import datetime
import logging
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from .emails import normalize_email
from .models import Contact, Customer, Invoice, Payment, Portal, host_of
from .money import typed_amount

logger = logging.getLogger(__name__)

DEFAULT_PAYMENT_TERMS = datetime.timedelta(days=30)


def validation_message(error: ValidationError) -> str:
    """One readable line from a ValidationError (``field: message; ...``), for commands and logs."""
    if hasattr(error, "error_dict"):
        parts = []
        for field, errors in error.message_dict.items():
            for message in errors:
                parts.append(message if field == "__all__" else f"{field}: {message}")
        return " ".join(_sentence(p) for p in parts)
    return " ".join(_sentence(m) for m in error.messages)


def _sentence(text: str) -> str:
    text = str(text).strip()
    return text if text.endswith((".", "?", "!")) else f"{text}."


def portal_by_host(*, host: str) -> Portal:
    """The portal answering on ``host`` (``acme.localhost``, ``acme.localhost:8000`` or a URL)."""
    raw = (host or "").strip()
    name = host_of(raw if "://" in raw else f"http://{raw}")
    portal = Portal.objects.filter(host=name).first() if name else None
    if portal is None:
        raise ValidationError(f"No portal answers on the host name {raw!r}.")
    return portal


@transaction.atomic
def portal_create(*, url: str, name: str, sso_only: bool = False) -> Portal:
    """A new portal answering on the host name of ``url`` (the port is ignored when matching)."""
    portal = Portal(url=(url or "").strip().rstrip("/"), name=(name or "").strip(), sso_only=sso_only)
    # ``host`` is derived from ``url`` on save; Portal.clean() checks it is free.
    portal.full_clean(exclude=["host"])
    try:
        with transaction.atomic():
            portal.save()
    except IntegrityError as exc:  # a concurrent create of the same host
        raise ValidationError({"url": f"Another portal already answers on {host_of(portal.url)}."}) from exc
    logger.info("portal created", extra={"portal_id": portal.pk, "host": portal.host})
    return portal


def _customer_get_or_create(*, portal: Portal, customer_name: str) -> tuple[Customer, bool]:
    """The portal's customer of that name, else a new one.

    An exact name wins; otherwise a single case-insensitive match is reused, so "acme ltd" typed
    on the command line does not create a near-duplicate of "Acme Ltd".
    """
    name = (customer_name or "").strip()
    if not name:
        raise ValidationError({"customer": "Enter the customer's name."})
    customer = Customer.objects.filter(portal=portal, name=name).first()
    if customer is None:
        matches = list(Customer.objects.filter(portal=portal, name__iexact=name)[:2])
        if len(matches) == 1:
            customer = matches[0]
    if customer is not None:
        return customer, False
    customer = Customer(portal=portal, name=name)
    customer.full_clean()
    customer.save()
    return customer, True


@transaction.atomic
def contact_add(*, portal: Portal, customer_name: str, email: str, name: str = "") -> Contact:
    """Adds ``email`` as a contact of the customer (created if needed) on ``portal``.

    From then on, a person who proves they own ``email`` on this portal sees that customer's
    invoices; that is why duplicates are refused rather than silently ignored.
    """
    address = normalize_email(email)
    try:
        validate_email(address)
    except ValidationError as exc:
        raise ValidationError({"email": f"{email!r} is not a valid email address."}) from exc
    customer, _created = _customer_get_or_create(portal=portal, customer_name=customer_name)
    if Contact.objects.filter(customer=customer, email__iexact=address).exists():
        raise ValidationError({"email": f"{address} is already a contact of {customer.name}."})
    contact = Contact(customer=customer, email=address, name=(name or "").strip())
    contact.full_clean()
    contact.save()
    logger.debug("contact added", extra={"portal_id": portal.pk, "customer_id": customer.pk})
    return contact


def parse_amount(value) -> Decimal:
    """A money amount from a Decimal, int or string; a string (what an operator typed, e.g. ``--total``)
    follows the rule of every money input (``portal.money.typed_amount``). Floats are refused: they
    cannot hold cents."""
    if isinstance(value, (bool, float)):
        raise ValidationError("Give amounts as a string or Decimal, not a float.")
    if isinstance(value, str):
        return typed_amount(value)
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationError(f"{value!r} is not an amount; use digits like 120.00.") from None
    if not amount.is_finite():
        raise ValidationError(f"{value!r} is not an amount; use digits like 120.00.")
    return amount


@transaction.atomic
def invoice_add(
    *,
    portal: Portal,
    customer_name: str,
    number: str,
    total,
    currency: str = "USD",
    issued: datetime.date | None = None,
    due: datetime.date | None = None,
    status: str = Invoice.Status.OPEN,
) -> Invoice:
    """Adds an invoice to the customer (created if needed) on ``portal``.

    The balance equals the total, except for paid and void invoices, which owe nothing.
    The issue date defaults to today and the due date to 30 days after the issue date.
    """
    try:
        amount = parse_amount(total)
    except ValidationError as exc:
        raise ValidationError({"total": exc.messages}) from None
    if status not in Invoice.Status.values:
        choices = ", ".join(Invoice.Status.values)
        raise ValidationError({"status": f"Unknown status {status!r}; use one of {choices}."})
    issued = issued or timezone.localdate()
    due = due or issued + DEFAULT_PAYMENT_TERMS
    customer, _created = _customer_get_or_create(portal=portal, customer_name=customer_name)
    settled = status in (Invoice.Status.PAID, Invoice.Status.VOID)
    invoice = Invoice(
        customer=customer,
        number=(number or "").strip(),
        issued_on=issued,
        due_on=due,
        currency=(currency or "").strip().upper(),
        total=amount,
        balance=Decimal("0.00") if settled else amount,
        status=status,
    )
    if invoice.number and Invoice.objects.filter(customer=customer, number=invoice.number).exists():
        raise ValidationError(
            {"number": f"{customer.name} already has an invoice numbered {invoice.number}."}
        )
    try:
        invoice.full_clean()
    except ValidationError as exc:
        errors = exc.message_dict
        if "total" in errors:
            errors.pop("balance", None)  # the balance is derived from the total: one message is enough
        raise ValidationError(errors) from None
    invoice.save()
    logger.debug("invoice added", extra={"portal_id": portal.pk, "invoice_id": invoice.pk})
    return invoice


@transaction.atomic
def payment_add(
    *, invoice: Invoice, amount, paid_on: datetime.date | None = None, method: str = ""
) -> Payment:
    """Records a payment and lowers the invoice's balance; a fully paid invoice becomes *paid*.

    The invoice row is locked so two payments recorded at once cannot both read the old balance.
    """
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    try:
        value = parse_amount(amount)
    except ValidationError as exc:
        raise ValidationError({"amount": exc.messages}) from None
    if invoice.status == Invoice.Status.VOID:
        raise ValidationError(f"Invoice {invoice.number} is void; it takes no payments.")
    if value > invoice.balance:
        raise ValidationError({"amount": f"The payment is larger than the balance ({invoice.balance})."})
    payment = Payment(
        invoice=invoice, amount=value, paid_on=paid_on or timezone.localdate(), method=(method or "").strip()
    )
    payment.full_clean()
    payment.save()
    invoice.balance = invoice.balance - value
    fields = ["balance"]
    if invoice.balance == 0:
        invoice.status = Invoice.Status.PAID
        fields.append("status")
    invoice.save(update_fields=fields)
    return payment
