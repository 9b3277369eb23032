"""Payment mail through the outbox, the same pattern as ``accounts.outbox``: the row is the truth.

``payment_notice_queue`` creates the row inside the settling transaction (unique per payment, kind
and recipient, so a second settle cannot make a second mail) and publishes the send task after
commit; ``payment_notice_send`` locks the row and sends only while ``sent_at`` is empty; beat's
``payment_notices_requeue`` re-publishes rows whose publish or send failed.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.mail import portal_mail_send
from portal.outbox import outbox_publish

from .models import CardPayment, PaymentNotice

REQUEUE_AFTER = timedelta(seconds=60)
MAX_SEND_ATTEMPTS = 20
USEFUL_FOR = timedelta(days=7)


def _recipients(payment: CardPayment) -> list[str]:
    if payment.user_id and payment.user and payment.user.email:
        return [payment.user.email]
    return sorted({c.email for c in payment.customer.contacts.all() if c.email})


def payment_notice_queue(*, card_payment: CardPayment, kind: str) -> list[PaymentNotice]:
    rows = []
    for email in _recipients(card_payment):
        row, created = PaymentNotice.objects.get_or_create(
            card_payment=card_payment, kind=kind, email=email, defaults={"portal_id": card_payment.portal_id}
        )
        if created:
            rows.append(row)
            transaction.on_commit(partial(safe_enqueue, notice_id=row.pk))
    return rows


def invoice_notice_queue(*, invoice, kind: str, emails) -> list[PaymentNotice]:
    """AutoPay notices about one invoice (upcoming charge, gave up), once per invoice, kind and recipient."""
    rows = []
    for email in sorted({e.strip().lower() for e in emails if e}):
        row, created = PaymentNotice.objects.get_or_create(
            invoice=invoice,
            card_payment=None,
            kind=kind,
            email=email,
            defaults={"portal_id": invoice.customer.portal_id},
        )
        if created:
            rows.append(row)
            transaction.on_commit(partial(safe_enqueue, notice_id=row.pk))
    return rows


def safe_enqueue(*, notice_id: int, fast: bool = True) -> bool:
    """Publish the mail's task (``portal.outbox``): bounded from a request such as Stripe's webhook,
    where a hung broker must not hold the settlement's answer; beat's re-queue passes ``fast=False``."""
    from .tasks import send_payment_notice

    return outbox_publish(
        model=PaymentNotice, row_id=notice_id, task=send_payment_notice, fast=fast, what="payment mail"
    )


def payment_notices_requeue() -> int:
    now = timezone.now()
    ids = list(
        PaymentNotice.objects.filter(
            Q(last_queued_at__isnull=True) | Q(last_queued_at__lt=now - REQUEUE_AFTER),
            sent_at__isnull=True,
            send_attempts__lt=MAX_SEND_ATTEMPTS,
            created_at__gt=now - USEFUL_FOR,
        ).values_list("pk", flat=True)[:500]
    )
    return sum(safe_enqueue(notice_id=pk, fast=False) for pk in ids)


SUBJECTS = {
    PaymentNotice.Kind.RECEIPT: "Receipt for your payment to {portal}",
    PaymentNotice.Kind.FAILED: "Your card payment to {portal} did not go through",
    PaymentNotice.Kind.AUTOPAY_UPCOMING: "AutoPay will charge your card for invoice {invoice}",
    PaymentNotice.Kind.AUTOPAY_GAVE_UP: "AutoPay could not pay invoice {invoice}",
}


def payment_notice_send(*, notice_id: int) -> bool:
    """Send one payment mail unless already sent; the lock makes a duplicate task send nothing."""
    PaymentNotice.objects.filter(pk=notice_id, sent_at__isnull=True).update(
        send_attempts=F("send_attempts") + 1
    )
    with transaction.atomic():
        row = (
            PaymentNotice.objects.select_for_update(of=("self",))
            .select_related(
                "portal", "card_payment", "card_payment__customer", "invoice", "invoice__customer"
            )
            .filter(pk=notice_id)
            .first()
        )
        if row is None or row.sent_at is not None:
            return False
        payment = row.card_payment
        allocations = (
            list(payment.allocations.select_related("invoice").order_by("invoice__number")) if payment else []
        )
        autopay_charge = getattr(row.invoice, "autopay_charge", None) if row.invoice_id else None
        portal_mail_send(
            portal=row.portal,
            to=row.email,
            subject=SUBJECTS[row.kind].format(
                portal=row.portal.name, invoice=row.invoice.number if row.invoice_id else ""
            ),
            template=f"payment_{row.kind}",
            context={
                "payment": payment,
                "allocations": allocations,
                "invoice": row.invoice,
                "autopay_charge": autopay_charge,
                "invoices_url": row.portal.absolute_url("/invoices/"),
                "support_email": row.portal.support_email,
            },
        )
        row.sent_at = timezone.now()
        row.save(update_fields=["sent_at"])
    return True
