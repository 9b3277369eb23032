"""Card payments and refunds written back to HaloPSA (``POST /api/InvoicePayment``), exactly once.

The outbox pattern of ``payments.notices``: ``writeback_enqueue_*`` creates one ``HaloWriteBack`` row
per invoice inside the transaction that settles the payment (or records the refund) and publishes the
task after commit; ``writeback_post`` locks the row (``skip_locked``: a second worker moves on), does
nothing for a row already posted, and otherwise

1. asks HaloPSA for the invoice's payments and *adopts* one whose ``thirdpartyid`` is ours (an earlier
   attempt posted it and died before its commit, or timed out after HaloPSA stored it), else
2. posts the row, and
3. stores HaloPSA's payment id and ``posted`` in the same transaction, and gives the portal's own
   ``Payment`` row that id, so the HaloPSA sync links it instead of importing a second payment.

We never assume HaloPSA de-duplicates on ``thirdpartyid``: step 1 is what makes a retry harmless.
Failures (429/5xx after the client's own retries, timeouts, refusals) back off exponentially; after
``MAX_ATTEMPTS`` (or at once for a refusal no retry can fix: 400/401/403/404) the row is ``failed`` and the
admin shows it with its ``last_error`` and a "Retry write-back" action. Beat's ``writeback_requeue``
re-publishes rows that are due (publish failed, back-off over, or the task was lost).

Dependency direction: payments uses halo's public client and selector; halo never imports payments
(the sync recognises our rows by ``portal.Payment.reference``, a field of the shared ``portal`` app).
Portals without a HaloPSA connection get no rows at all; an invoice that did not come from HaloPSA
(no ``halo_id``) gets a ``not_applicable`` row so the admin says why nothing was written back.
"""

from __future__ import annotations

import logging
from datetime import UTC, timedelta
from decimal import Decimal
from functools import partial

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from halo.client import HaloAPIError, HaloClient, payment_reference
from halo.selectors import halo_connection_for_portal
from portal.outbox import outbox_publish

from .audit import payment_audit
from .models import CardPayment, CardRefund, HaloWriteBack

logger = logging.getLogger("payments.writeback")

MAX_ATTEMPTS = 8
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=1)
#: A row queued this long ago and still pending lost its task (worker died, broker flushed): re-publish.
REQUEUE_AFTER = timedelta(minutes=5)
#: HaloPSA refusals that no retry fixes: the admin must act (scope, permissions, a deleted invoice).
PERMANENT_STATUSES = {400, 401, 403, 404, 409, 422}
NOT_FROM_HALO = "This invoice was not imported from HaloPSA (no HaloPSA id): nothing to write back."

Pending = HaloWriteBack.State.PENDING


def _connected(portal) -> bool:
    return halo_connection_for_portal(portal=portal, enabled_only=False) is not None


def _create(*, card_payment: CardPayment, invoice, payment, amount: Decimal, thirdpartyid: str,
            kind: str, refund: CardRefund | None = None) -> HaloWriteBack:  # fmt: skip
    applicable = invoice.halo_id is not None
    row, created = HaloWriteBack.objects.get_or_create(
        card_payment=card_payment,
        refund=refund,
        invoice=invoice,
        kind=kind,
        defaults={
            "portal_id": card_payment.portal_id,
            "payment": payment,
            "amount": amount,
            "thirdpartyid": thirdpartyid,
            "state": Pending if applicable else HaloWriteBack.State.NOT_APPLICABLE,
            "last_error": "" if applicable else NOT_FROM_HALO,
        },
    )
    if created and row.state == Pending:
        transaction.on_commit(partial(writeback_safe_enqueue, writeback_id=row.pk))
    return row


def writeback_enqueue_payment(*, card_payment: CardPayment, allocations) -> list[HaloWriteBack]:
    """Inside the settling transaction: one row per invoice paid (none without a HaloPSA connection)."""
    if not _connected(card_payment.portal):
        return []
    return [
        _create(
            card_payment=card_payment,
            invoice=allocation.invoice,
            payment=allocation.payment,
            amount=allocation.amount,
            thirdpartyid=card_payment.payment_intent_id or f"portal-{card_payment.public_id}",
            kind=HaloWriteBack.Kind.PAYMENT,
        )
        for allocation in allocations
    ]


def writeback_enqueue_refund(*, refund: CardRefund, parts, failed: bool = False) -> list[HaloWriteBack]:
    """Inside the refund's transaction: ``parts`` are (invoice, portal Payment row, amount).

    A refund posts each part as a negative payment. ``failed``: Stripe failed the refund after that, so
    the same parts are posted again as positive payments. Either way HaloPSA's ``thirdpartyid`` is the
    portal row's ``reference`` (the refund's id, or ``<id>:failed``), which is how the sync links them.
    """
    card_payment = refund.card_payment
    if not _connected(card_payment.portal):
        return []
    kind, sign = (HaloWriteBack.Kind.REFUND_FAILED, 1) if failed else (HaloWriteBack.Kind.REFUND, -1)
    return [
        _create(
            card_payment=card_payment,
            refund=refund,
            invoice=invoice,
            payment=payment,
            amount=sign * amount,
            thirdpartyid=payment.reference,
            kind=kind,
        )
        for invoice, payment, amount in parts
    ]


def writeback_safe_enqueue(*, writeback_id: int, fast: bool = True) -> bool:
    """Publish the task (``portal.outbox``): bounded from a request (the settlement's webhook, an
    admin's retry); a broker that is down leaves the row for beat's re-queue (``fast=False``)."""
    from .tasks import post_writeback

    return outbox_publish(
        model=HaloWriteBack, row_id=writeback_id, task=post_writeback, fast=fast, what="HaloPSA write-back"
    )


def writeback_requeue(*, now=None) -> int:
    """Beat: re-publish pending rows that are due and not queued recently."""
    from django.db.models import Q

    now = now or timezone.now()
    ids = list(
        HaloWriteBack.objects.filter(
            Q(last_queued_at__isnull=True) | Q(last_queued_at__lt=now - REQUEUE_AFTER),
            state=Pending,
            next_attempt_at__lte=now,
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:500]
    )
    return sum(writeback_safe_enqueue(writeback_id=pk, fast=False) for pk in ids)


def backoff(attempts: int) -> timedelta:
    return min(BACKOFF_BASE * (2 ** max(0, attempts - 1)), BACKOFF_MAX)


#: What the method HaloPSA shows starts with, per kind of write-back.
LABELS = {
    HaloWriteBack.Kind.PAYMENT: "",
    HaloWriteBack.Kind.REFUND: "Refund: ",
    HaloWriteBack.Kind.REFUND_FAILED: "Refund failed: ",
}


def _payload(row: HaloWriteBack) -> dict:
    payment = row.card_payment
    refund = row.refund
    when = (refund.created_at if refund else payment.settled_at) or timezone.now()
    if row.kind == HaloWriteBack.Kind.REFUND_FAILED:
        when = row.created_at  # when Stripe told us the refund failed
    method = f"{payment.card_label} (Stripe)"
    return {
        "invoice_id": row.invoice.halo_id,
        "client_id": row.invoice.customer.halo_id or 0,
        "date": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        # A JSON number, as HaloPSA expects: two decimals survive float -> str exactly.
        "amount": float(row.amount),
        "method": (f"{LABELS[row.kind]}{method}")[:50],
        "status": "refunded" if row.kind == HaloWriteBack.Kind.REFUND else "succeeded",
        "intent_id": payment.payment_intent_id or "",
        "thirdpartyid": row.thirdpartyid,
    }


def _already_in_halo(client: HaloClient, row: HaloWriteBack) -> dict | None:
    """HaloPSA's row for this write-back, if an earlier attempt got there: matched on its reference
    (``thirdpartyid``, or a payment's ``intent_id``), exactly as the sync links HaloPSA's payments."""
    for page in client.pages("InvoicePayment", "payments", params={"invoice_id": row.invoice.halo_id}):
        for found in page.rows:
            if payment_reference(found) == row.thirdpartyid:
                return found
    return None


def _halo_id(answer) -> int | None:
    first = answer[0] if isinstance(answer, list) and answer else answer
    try:
        return int(first.get("id")) if isinstance(first, dict) else None
    except (TypeError, ValueError, OverflowError):  # OverflowError: an id of Infinity
        return None


def _record_posted(row: HaloWriteBack, *, halo_id: int | None, adopted: bool, now) -> None:
    """The commit that makes the write-back done (a crash before it means: adopt on the next attempt)."""
    from portal.models import Payment

    row.state, row.halo_payment_id, row.adopted, row.posted_at = (
        HaloWriteBack.State.POSTED, halo_id, adopted, now
    )  # fmt: skip
    row.last_error = "" if halo_id is not None else "HaloPSA answered without a payment id."
    row.save(update_fields=["state", "halo_payment_id", "adopted", "posted_at", "last_error", "attempts",
                            "updated_at"])  # fmt: skip
    if halo_id is not None and row.payment_id:
        Payment.objects.filter(pk=row.payment_id).exclude(halo_id=halo_id).update(
            halo_id=halo_id, halo_recorded_at=timezone.now()
        )


def _record_failure(row: HaloWriteBack, *, message: str, permanent: bool, now) -> None:
    row.last_error = message[:500]
    if permanent or row.attempts >= MAX_ATTEMPTS:
        row.state = HaloWriteBack.State.FAILED
    else:
        row.next_attempt_at = now + backoff(row.attempts)
        row.last_queued_at = None  # due again once the back-off is over (beat re-publishes)
    row.save(update_fields=["state", "last_error", "next_attempt_at", "last_queued_at", "attempts",
                            "updated_at"])  # fmt: skip
    logger.warning(
        "HaloPSA write-back failed",
        extra={"writeback": row.pk, "attempts": row.attempts, "state": row.state, "error": row.last_error},
    )


def writeback_post(*, writeback_id: int, now=None) -> str:
    """One attempt at one row; returns what happened (``posted``, ``adopted``, ``failed``, ``skipped``)."""
    now = now or timezone.now()
    # Counted before the locked transaction (as the mail outbox does): an attempt that dies with an
    # unexpected error rolls back everything else, but still counts towards MAX_ATTEMPTS, so a row that
    # always crashes ends up "failed" instead of calling HaloPSA every few minutes for ever.
    HaloWriteBack.objects.filter(pk=writeback_id, state=Pending).update(attempts=F("attempts") + 1)
    with transaction.atomic():
        row = (
            HaloWriteBack.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("portal", "invoice", "invoice__customer", "card_payment", "refund")
            .filter(pk=writeback_id)
            .first()
        )
        if row is None or row.state != Pending:
            return "skipped"  # done, not applicable, failed (admin retries), or another worker has it
        if row.attempts > MAX_ATTEMPTS:
            _record_failure(row, message=row.last_error or "Every attempt ended in an error.", permanent=True,
                            now=now)  # fmt: skip
            return "failed"
        connection = halo_connection_for_portal(portal=row.portal)
        if connection is None:
            _record_failure(
                row,
                message="The portal's HaloPSA connection is missing or turned off.",
                permanent=False,
                now=now,
            )
            return "failed"
        client = HaloClient(connection)
        try:
            found = _already_in_halo(client, row)
            if found is not None:
                _record_posted(row, halo_id=_halo_id(found), adopted=True, now=now)
                return "adopted"
            answer = client.post("InvoicePayment", [_payload(row)], retry=False)
        except HaloAPIError as exc:
            permanent = exc.status in PERMANENT_STATUSES or exc.reason in {"invalid_client", "invalid_scope"}
            message = exc.message
            if exc.status in (401, 403):
                message += " Recording payments needs the API application's “edit:invoices” scope (or “all”)."
            _record_failure(row, message=message, permanent=permanent, now=now)
            return "failed"
        _record_posted(row, halo_id=_halo_id(answer), adopted=False, now=now)
    logger.info("written back to HaloPSA", extra={"writeback": row.pk, "halo_payment": row.halo_payment_id})
    return "posted"


def writeback_retry(*, writeback: HaloWriteBack, user, ip: str | None = None) -> bool:
    """Admin: give a failed row a fresh set of attempts; True when it was failed (an audit row each)."""
    with transaction.atomic():
        row = (
            HaloWriteBack.objects.select_for_update()
            .filter(pk=writeback.pk, state=HaloWriteBack.State.FAILED)
            .first()
        )
        if row is None:
            return False
        row.state, row.attempts, row.next_attempt_at, row.last_queued_at = Pending, 0, timezone.now(), None
        row.save(update_fields=["state", "attempts", "next_attempt_at", "last_queued_at", "updated_at"])
        payment_audit(
            portal=row.portal,
            kind="writeback_retry",
            user=user,
            ip=ip,
            card_payment=row.card_payment,
            detail={"writeback": row.pk, "invoice": row.invoice_id, "last_error": row.last_error},
        )
        transaction.on_commit(partial(writeback_safe_enqueue, writeback_id=row.pk))
    return True


def writeback_summary(*, card_payment: CardPayment) -> str:
    """One line for the admin: how this payment's write-back stands."""
    states = [row.state for row in card_payment.writebacks.all()]  # prefetched on the admin's list
    if not states:
        return "No HaloPSA connection: nothing to write back."
    labels = dict(HaloWriteBack.State.choices)
    counts = {s: states.count(s) for s in labels if s in states}
    return ", ".join(f"{n} {labels[s].lower()}" for s, n in counts.items())
