"""Reads for payments. What a person may pay is derived from ``portal.selectors``: the same rule
that decides which invoices they may see, so a forged invoice id is a 404 like everywhere else."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.http import Http404
from django.utils import timezone

from portal.models import Customer, Invoice, Portal
from portal.selectors import UNPAID_STATUSES, customers_for_user, invoices_for_user

from .models import AutoPay, CardPayment, SavedCard, StripeAccount

#: How many invoices one payment may cover (a bound on the form and on the work per request).
MAX_INVOICES_PER_PAYMENT = 50


def stripe_account_for_portal(*, portal: Portal | None) -> StripeAccount | None:
    """The portal's usable Stripe account (keys set, enabled), else None: no Pay buttons."""
    if portal is None or portal.pk is None:
        return None
    account = StripeAccount.objects.filter(portal_id=portal.pk).select_related("portal").first()
    return account if account is not None and account.usable else None


def payable_invoices(*, user, portal: Portal, invoice_ids) -> list[Invoice]:
    """The named invoices, each visible to ``user``, unpaid and with a balance; else ``Http404``.

    All or nothing: one bad id (malformed, another tenant's, paid, void) refuses the whole
    selection, so nobody pays something other than what they chose.
    """
    ids = set()
    for raw in invoice_ids:
        try:
            value = int(str(raw).strip())
        except (TypeError, ValueError):
            raise Http404("No such invoice.") from None
        if not 0 < value < 2**63:
            raise Http404("No such invoice.")
        ids.add(value)
    if not ids or len(ids) > MAX_INVOICES_PER_PAYMENT:
        raise Http404("No such invoice.")
    invoices = list(
        invoices_for_user(user=user, portal=portal)
        .filter(pk__in=ids, status__in=UNPAID_STATUSES, balance__gt=0)
        .order_by("due_on", "id")
    )
    if len(invoices) != len(ids):
        raise Http404("No such invoice.")
    return invoices


def card_payment_for_user(*, user, portal: Portal, public_id) -> CardPayment:
    """A card payment started by ``user`` on ``portal``; ``Http404`` for anything else."""
    try:
        value = uuid.UUID(str(public_id))
    except (TypeError, ValueError):
        raise Http404("No such payment.") from None
    payment = (
        CardPayment.objects.filter(public_id=value, portal_id=portal.pk, user_id=getattr(user, "pk", None))
        .select_related("customer", "portal")
        .first()
    )
    if payment is None or user is None or user.portal_id != portal.pk:
        raise Http404("No such payment.")
    return payment


def confirm_claims_live_since(now: datetime | None = None) -> datetime:
    """Claims (``CardPayment.confirming_since``) newer than this are a Pay still waiting on Stripe.

    Any Pay's Stripe calls share ``PAYMENTS_INTERACTIVE_SECONDS``, so an older claim was left by a
    request that died; it then only makes the next Pay look for an intent before creating one.
    """
    return (now or timezone.now()) - timedelta(seconds=2 * settings.PAYMENTS_INTERACTIVE_SECONDS + 5)


def pending_payment_for_invoices(*, invoice_ids, exclude_pk: int | None = None) -> CardPayment | None:
    """A started payment already charging one of these invoices (its intent exists, no outcome yet,
    or a Pay is sending its create right now)."""
    return (
        CardPayment.objects.filter(allocations__invoice_id__in=list(invoice_ids))
        .filter(
            Q(status__in=[CardPayment.Status.PROCESSING, CardPayment.Status.REQUIRES_ACTION])
            | Q(status=CardPayment.Status.CREATED, confirming_since__gt=confirm_claims_live_since())
        )
        .exclude(pk=exclude_pk)
        .order_by("-created_at")
        .first()
    )


def customer_for_user(*, user, portal: Portal, pk) -> Customer:
    """One customer ``user`` may see (a contact with their email); ``Http404`` otherwise."""
    try:
        value = int(str(pk).strip())
    except (TypeError, ValueError):
        raise Http404("No such customer.") from None
    customer = customers_for_user(user=user, portal=portal).filter(pk=value).select_related("portal").first()
    if customer is None:
        raise Http404("No such customer.")
    return customer


def wallet_for_user(*, user, portal: Portal) -> list[dict]:
    """Per customer the person may see: saved cards and the active AutoPay (the cards page)."""
    rows = []
    for customer in customers_for_user(user=user, portal=portal).order_by("name"):
        rows.append(
            {
                "customer": customer,
                "cards": list(SavedCard.objects.filter(customer=customer, removed_at__isnull=True)),
                "autopay": AutoPay.objects.filter(customer=customer, disabled_at__isnull=True)
                .select_related("card")
                .first(),
            }
        )
    return rows


def saved_card_for_user(*, user, portal: Portal, pk) -> SavedCard:
    try:
        value = int(str(pk).strip())
    except (TypeError, ValueError):
        raise Http404("No such card.") from None
    card = (
        SavedCard.objects.filter(
            pk=value, removed_at__isnull=True, customer__in=customers_for_user(user=user, portal=portal)
        )
        .select_related("customer", "customer__portal")
        .first()
    )
    if card is None:
        raise Http404("No such card.")
    return card
