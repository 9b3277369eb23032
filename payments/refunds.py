"""Refunds by portal administrators, full or partial, through Stripe, with an audit row each.

A refund recorded here (from the admin or from Stripe's ``charge.refunded`` event, once per Stripe
refund id) gives the money back on the portal's side too: it is spread over the payment's invoices in
the order they were paid (each up to what it received), each invoice's balance is re-opened by its part,
a negative ``Payment`` row records it in the invoice's history, and a HaloPSA write-back row per
invoice posts the same negative payment to HaloPSA (``payments.writeback``).
"""

from __future__ import annotations

from decimal import Decimal

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from portal import outbound
from portal.models import Payment

from .audit import payment_audit
from .ledger import invoice_give_back, invoice_pay_down, invoices_lock
from .models import CardPayment, CardRefund, StripeAccount
from .money import payable_exactly, to_minor
from .stripe_api import friendly_error, stripe_client
from .writeback import writeback_enqueue_refund

#: Stripe refund statuses under which no money moved: such refunds are recorded for the admin but
#: change no balance and post nothing (``succeeded``, ``pending`` and ``requires_action`` count).
VOID_STATUSES = ("failed", "canceled")


class RefundRefused(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def refundable(card_payment: CardPayment) -> Decimal:
    if card_payment.status != CardPayment.Status.SUCCEEDED:
        return Decimal("0")
    return card_payment.amount - card_payment.amount_refunded


def card_refund_record(
    *, card_payment: CardPayment, stripe_refund_id: str, amount: Decimal, status: str, user=None
):
    """Record a refund once (by Stripe's id) and keep ``amount_refunded`` equal to their sum."""
    with transaction.atomic():
        payment = CardPayment.objects.select_for_update().get(pk=card_payment.pk)
        try:
            with transaction.atomic():
                refund = CardRefund.objects.create(
                    card_payment=payment,
                    stripe_refund_id=stripe_refund_id,
                    amount=amount,
                    status=status,
                    created_by=user,
                )
        except IntegrityError:
            return None
        effective = payment.refunds.exclude(status__in=VOID_STATUSES)
        payment.amount_refunded = effective.aggregate(total=Sum("amount"))["total"] or Decimal("0")
        payment.save(update_fields=["amount_refunded", "updated_at"])
        if payment.settled_at is not None:
            card_refund_apply(payment=payment, refund=refund)
        # Not settled yet (Stripe's events arrive in any order: charge.refunded may come before
        # payment_intent.succeeded): the settlement applies it (card_refunds_apply_recorded).
    return refund


def card_refund_status_update(
    *, card_payment: CardPayment, stripe_refund_id: str, amount: Decimal, status: str
) -> CardRefund | None:
    """What Stripe now says of a refund (``charge.refund.updated``, or ``charge.refunded`` listing it
    again). New to us: recorded. A refund that failed or was cancelled after it was counted gave no
    money back, so it is undone on our side and in HaloPSA (``_refund_undo``); the history keeps both."""
    with transaction.atomic():
        payment = CardPayment.objects.select_for_update().get(pk=card_payment.pk)
        refund = payment.refunds.filter(stripe_refund_id=stripe_refund_id).first()
        if refund is None:
            return card_refund_record(
                card_payment=payment, stripe_refund_id=stripe_refund_id, amount=amount, status=status
            )
        if not status or refund.status == status or refund.status in VOID_STATUSES:
            # Failed and canceled are final at Stripe: a later event naming the refund otherwise
            # (``charge.refunded`` delivered late, still listing it as pending) is older news, and
            # acting on it would give the money back a second time.
            return refund
        was_void, now_void = refund.status in VOID_STATUSES, status in VOID_STATUSES
        refund.status = status[:30]
        refund.save(update_fields=["status"])
        effective = payment.refunds.exclude(status__in=VOID_STATUSES)
        payment.amount_refunded = effective.aggregate(total=Sum("amount"))["total"] or Decimal("0")
        payment.save(update_fields=["amount_refunded", "updated_at"])
        if payment.settled_at is not None and now_void and not was_void:
            _refund_undo(payment=payment, refund=refund)
    return refund


def _refund_undo(*, payment: CardPayment, refund: CardRefund) -> None:
    """Inside the payment's locked transaction: the refund's parts are paid again (balances lowered,
    a positive ``Payment`` row beside each negative one, a positive write-back to HaloPSA)."""
    given_back = list(
        Payment.objects.filter(
            reference=refund.stripe_refund_id,
            amount__lt=0,
            invoice_id__in=payment.allocations.values("invoice_id"),
        ).order_by("pk")
    )
    invoices = invoices_lock(ids=[row.invoice_id for row in given_back])
    today, parts = timezone.localdate(), []
    for row in given_back:
        part, invoice = -row.amount, invoices[row.invoice_id]
        allocation = payment.allocations.get(invoice_id=invoice.pk)
        allocation.amount_refunded = max(allocation.amount_refunded - part, Decimal("0"))
        allocation.save(update_fields=["amount_refunded"])
        invoice_pay_down(invoice=invoice, amount=part)
        record = Payment.objects.create(
            invoice=invoice,
            paid_on=today,
            amount=part,
            method=f"Refund failed: {payment.card_label}"[:50],
            reference=f"{refund.stripe_refund_id}:failed"[:255],
        )
        parts.append((invoice, record, part))
    writeback_enqueue_refund(refund=refund, parts=parts, failed=True)


def card_refund_apply(*, payment: CardPayment, refund: CardRefund) -> None:
    """Inside the payment's locked transaction: give a refund back on our side and to HaloPSA.

    Only a refund Stripe is giving or has given back counts; a failed or canceled one moved no money,
    so it re-opens nothing and posts nothing.
    """
    if refund.status in VOID_STATUSES:
        return
    parts = _reopen_invoices(payment=payment, refund=refund)
    writeback_enqueue_refund(refund=refund, parts=parts)


def card_refunds_apply_recorded(*, payment: CardPayment) -> None:
    """At settlement (inside its transaction): apply refunds recorded before the payment settled."""
    for refund in payment.refunds.order_by("pk"):
        card_refund_apply(payment=payment, refund=refund)


def _reopen_invoices(*, payment: CardPayment, refund: CardRefund) -> list[tuple]:
    """Give ``refund.amount`` back over the payment's invoices; returns (invoice, Payment row, part)."""
    allocations = list(payment.allocations.order_by("pk"))
    invoices = invoices_lock(ids=[a.invoice_id for a in allocations])
    left, today, parts = refund.amount, timezone.localdate(), []
    for allocation in allocations:
        part = min(left, allocation.amount - allocation.amount_refunded)
        if part <= 0:
            continue
        left -= part
        allocation.amount_refunded += part
        allocation.save(update_fields=["amount_refunded"])
        invoice = invoices[allocation.invoice_id]
        invoice_give_back(invoice=invoice, amount=part, today=today)
        record = Payment.objects.create(
            invoice=invoice,
            paid_on=today,
            amount=-part,
            method=f"Refund: {payment.card_label}"[:50],
            reference=refund.stripe_refund_id,
        )
        parts.append((invoice, record, part))
        if left <= 0:
            break
    return parts


def _refund_error(exc: stripe.StripeError) -> str:
    if isinstance(exc, stripe.AuthenticationError | stripe.RateLimitError):
        return friendly_error(exc)
    return "Stripe refused the refund, so nothing was given back. Check the payment at Stripe."


def card_refund_create(
    *, card_payment: CardPayment, amount: Decimal | None, user, ip: str | None = None
) -> CardRefund:
    """Refund ``amount`` (None: everything still refundable) of a succeeded card payment.

    The payment's row stays locked from the check of what is left until the refund is recorded, so
    two admins refunding at once cannot give back more than was paid (the second waits, then sees
    what is left); the Stripe call gets ``PAYMENTS_INTERACTIVE_SECONDS`` in all.
    """
    with transaction.atomic(), outbound.budget(settings.PAYMENTS_INTERACTIVE_SECONDS):
        card_payment = (
            CardPayment.objects.select_for_update().select_related("portal").get(pk=card_payment.pk)
        )
        left = refundable(card_payment)
        amount = left if amount is None else amount
        if left <= 0:
            raise RefundRefused("Nothing is left to refund on this payment.")
        if amount <= 0 or amount > left:
            raise RefundRefused(f"The refund must be between 0.01 and {left} {card_payment.currency}.")
        if not payable_exactly(amount, card_payment.currency):
            raise RefundRefused(f"{card_payment.currency} has no such fraction: refund a whole amount.")
        account = StripeAccount.objects.get(portal_id=card_payment.portal_id)
        already = card_payment.refunds.count()
        try:
            refund = stripe_client(account=account).v1.refunds.create(
                params={
                    "payment_intent": card_payment.payment_intent_id,
                    "amount": to_minor(amount, card_payment.currency),
                },
                # From the payment and how many refunds it had: a retried click is the same refund.
                options={
                    "idempotency_key": f"{card_payment.idempotency_key}-refund-{already + 1}-"
                    f"{to_minor(amount, 'x')}"
                },
            )
        except stripe.APIConnectionError:
            raise RefundRefused(
                "Stripe could not be reached, so the refund may or may not have been made. Reload this "
                "payment in a minute (Stripe's event records a refund it made); refunding the same amount "
                "again right away does not refund twice."
            ) from None
        except stripe.StripeError as exc:
            raise RefundRefused(_refund_error(exc)) from None
        row = card_refund_record(
            card_payment=card_payment,
            stripe_refund_id=refund.id,
            amount=amount,
            status=refund.status or "",
            user=user,
        )
    payment_audit(
        portal=card_payment.portal,
        kind="refund",
        user=user,
        ip=ip,
        card_payment=card_payment,
        detail={"amount": str(amount), "currency": card_payment.currency, "refund": refund.id},
    )
    return row or CardRefund.objects.get(stripe_refund_id=refund.id)
