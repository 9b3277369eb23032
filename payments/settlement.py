"""Settle card payments: lower balances and record payments exactly once, or record the failure.

Three doors lead here (the signed webhook, the reconcile task, a refund sync), in any order and
any number of times; the row lock on the card payment and ``settled_at`` make every door after
the first a no-op. Balances move in the same transaction as ``settled_at``, so a crash between
the two cannot happen. The HaloPSA write-back rows (``payments.writeback``) are created in that
same transaction too, so a settled payment always has them and an unsettled one never does.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import stripe
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from portal.models import Payment

from .ledger import invoice_pay_down, invoices_lock
from .models import CardPayment, StripeAccount
from .money import from_minor
from .notices import payment_notice_queue
from .refunds import card_refunds_apply_recorded
from .stripe_api import stripe_client
from .writeback import writeback_enqueue_payment

logger = logging.getLogger("payments.settlement")

#: The reconcile task stops asking about a payment after this long (Stripe keeps intents; we move on).
RECONCILE_FOR = timedelta(days=7)


def card_payment_settle_success(*, card_payment_id: int, amount_minor: int, currency: str) -> bool:
    """Apply a succeeded intent to the invoices; True when this call did it (False: already done)."""
    with transaction.atomic():
        payment = CardPayment.objects.select_for_update().select_related("portal").get(pk=card_payment_id)
        if payment.settled_at is not None:
            return False
        received = from_minor(amount_minor, currency)
        if currency.upper() != payment.currency or received != payment.amount:
            # Never trust a mismatch silently: the money is at Stripe, the ledger says otherwise.
            logger.error(
                "card payment amount mismatch",
                extra={
                    "card_payment": payment.pk,
                    "expected": str(payment.amount),
                    "received": str(received),
                },
            )
        today = timezone.localdate()
        allocations = list(payment.allocations.select_related("invoice"))
        invoices = invoices_lock(ids=[a.invoice_id for a in allocations])
        for allocation in allocations:
            invoice = invoices[allocation.invoice_id]
            record = Payment.objects.create(
                invoice=invoice,
                paid_on=today,
                amount=allocation.amount,
                method=f"{payment.card_label} (Stripe)",
                reference=payment.payment_intent_id or "",
            )
            allocation.payment = record
            allocation.save(update_fields=["payment"])
            invoice_pay_down(invoice=invoice, amount=allocation.amount)
        payment.status = CardPayment.Status.SUCCEEDED
        payment.settled_at = timezone.now()
        payment.failure_code = payment.failure_message = ""
        payment.save(update_fields=["status", "settled_at", "failure_code", "failure_message", "updated_at"])
        payment_notice_queue(card_payment=payment, kind="receipt")
        writeback_enqueue_payment(card_payment=payment, allocations=allocations)
        card_refunds_apply_recorded(payment=payment)
    logger.info("card payment settled", extra={"card_payment": payment.pk, "amount": str(payment.amount)})
    return True


def card_payment_mark_failed(*, card_payment_id: int, code: str, message: str) -> bool:
    """Record a failed charge (declined, authentication failed); True the first time only."""
    with transaction.atomic():
        payment = CardPayment.objects.select_for_update().get(pk=card_payment_id)
        if payment.settled_at is not None or payment.status == CardPayment.Status.FAILED:
            return False
        payment.status = CardPayment.Status.FAILED
        payment.failed_at = timezone.now()
        payment.failure_code = (code or "")[:80]
        payment.failure_message = (message or "The card was declined.")[:500]
        payment.save(update_fields=["status", "failed_at", "failure_code", "failure_message", "updated_at"])
        payment_notice_queue(card_payment=payment, kind="failed")
    return True


def card_payment_apply_intent(*, card_payment: CardPayment, intent) -> str:
    """Bring our row in line with an intent's state (from a webhook or from the API)."""
    status = intent["status"]
    if status == "succeeded":
        card_payment_settle_success(
            card_payment_id=card_payment.pk, amount_minor=int(intent["amount"]), currency=intent["currency"]
        )
    elif status == "requires_payment_method" and intent.get("last_payment_error"):
        error = intent["last_payment_error"] or {}
        card_payment_mark_failed(
            card_payment_id=card_payment.pk,
            code=error.get("code") or "card_declined",
            message=error.get("message") or "The card was declined.",
        )
    elif status == "canceled":
        open_rows = CardPayment.objects.filter(pk=card_payment.pk, settled_at__isnull=True).exclude(
            status=CardPayment.Status.FAILED
        )
        open_rows.filter(failure_message="").update(failure_message=NOT_COMPLETED_MESSAGE)
        open_rows.update(status=CardPayment.Status.CANCELED, updated_at=timezone.now())
    return status


NOT_COMPLETED_MESSAGE = (
    "The payment was not completed, so nothing was charged. You can pay the invoice again."
)
#: Intent states in which no money has moved and none will without the person: safe to cancel.
WAITING_FOR_PERSON = {"requires_action", "requires_payment_method", "requires_confirmation"}


def card_payment_reconcile(*, card_payment: CardPayment, cancel_if_waiting: bool = False) -> str:
    """Ask Stripe for the intent of one pending payment and apply what it says.

    ``cancel_if_waiting``: the card check (3-D Secure) was abandoned. The intent is cancelled at
    Stripe, never merely forgotten here: a check finished later could otherwise still charge the
    card after the person paid the invoice another way.
    """
    account = StripeAccount.objects.get(portal_id=card_payment.portal_id)
    client = stripe_client(account=account)
    intent = client.v1.payment_intents.retrieve(card_payment.payment_intent_id)
    if cancel_if_waiting and intent.status in WAITING_FOR_PERSON:
        intent = client.v1.payment_intents.cancel(card_payment.payment_intent_id)
        logger.info("abandoned card check cancelled", extra={"card_payment": card_payment.pk})
    return card_payment_apply_intent(card_payment=card_payment, intent=intent.to_dict())


def reconcile_pending(*, now=None) -> int:
    """Beat task: pending payments whose webhook has not come within a few minutes are asked of Stripe.

    A lost or refused webhook must neither leave an invoice unpaid (the money was taken) nor pay
    it twice (the settle lock). One Stripe call per pending payment; errors skip to the next. A card
    check (3-D Secure) left unfinished for ``PAYMENTS_ABANDONED_ACTION_SECONDS`` is cancelled, so the
    invoice can be paid again.
    """
    now = now or timezone.now()
    quiet = timedelta(seconds=settings.PAYMENTS_RECONCILE_AFTER_SECONDS)
    abandoned_before = now - timedelta(seconds=settings.PAYMENTS_ABANDONED_ACTION_SECONDS)
    pending = (
        CardPayment.objects.filter(
            status__in=[CardPayment.Status.PROCESSING, CardPayment.Status.REQUIRES_ACTION],
            payment_intent_id__isnull=False,
            settled_at__isnull=True,
            updated_at__lt=now - quiet,
        )
        # A card check waiting on the person blocks its invoices until it ends: never out of sight.
        .filter(Q(created_at__gt=now - RECONCILE_FOR) | Q(status=CardPayment.Status.REQUIRES_ACTION))
        .order_by("created_at")[:500]
    )
    done = 0
    for payment in pending:
        abandoned = (
            payment.status == CardPayment.Status.REQUIRES_ACTION and payment.updated_at < abandoned_before
        )
        try:
            card_payment_reconcile(card_payment=payment, cancel_if_waiting=abandoned)
            done += 1
        except (stripe.StripeError, StripeAccount.DoesNotExist) as exc:
            logger.warning(
                "reconcile failed", extra={"card_payment": payment.pk, "error": type(exc).__name__}
            )
    return done
