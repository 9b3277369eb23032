"""AutoPay: consent, and the daily charge of due invoices off-session with retries.

Exactly once per invoice is the database's job: ``AutoPayCharge.invoice`` is unique, so two beat
runs (or two workers) racing on the same invoice create one charge row; the row is locked while it
is charged and each attempt has its own idempotency key. The first attempt is on the due date,
retries ``AutoPayCharge.RETRY_DAYS`` days after it; after the last failure the charge gives up and
the customer's contacts and the MSP (the portal's support address) are told.

Each attempt charges the customer's AutoPay as it is at that moment (a charge row is rebound to a
newer AutoPay after a card change). AutoPay turned off, by the customer or by the portal (*customers
may save cards* off), stops the charge quietly: nothing charged, no retry, no "could not pay" mail.
A create whose answer was lost (``APIConnectionError``) may have charged: the charge stays CHARGING
and the next run finds the intent by its metadata before anything is tried again.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

import stripe
from django.db import IntegrityError, transaction
from django.utils import timezone

from portal.models import Customer, Invoice

from .audit import payment_audit
from .checkout import PaymentRefused, intent_already_created
from .models import (
    AutoPay,
    AutoPayCharge,
    CardPayment,
    CardPaymentInvoice,
    SavedCard,
    StripeAccount,
    StripeCustomer,
)
from .money import payable_exactly, to_minor
from .notices import invoice_notice_queue
from .selectors import pending_payment_for_invoices
from .settlement import card_payment_apply_intent, card_payment_mark_failed
from .stripe_api import friendly_error, stripe_client

logger = logging.getLogger("payments.autopay")

#: The upcoming-charge notice goes this many days before the due date.
UPCOMING_NOTICE_DAYS = 3
#: A create that got no answer and left no intent at Stripe this long after is taken as not made.
LOST_ANSWER_GRACE = timedelta(minutes=10)
LOST_ANSWER_MESSAGE = (
    "The payment service did not answer and has no record of this charge; nothing was charged."
)
TURNED_OFF_MESSAGE = "AutoPay was turned off."
PORTAL_OFF_MESSAGE = "This portal no longer offers AutoPay."


def autopay_text_for(*, account: StripeAccount, customer: Customer) -> str:
    return account.autopay_text.replace("{portal}", customer.portal.name).replace("{customer}", customer.name)


@transaction.atomic
def autopay_enable(
    *, account: StripeAccount, customer: Customer, card: SavedCard, user, ip: str | None, shown_text: str
) -> AutoPay:
    """Turn AutoPay on with the authorisation text exactly as shown; refuse if it changed meanwhile.

    The customer row is locked first, so a double click is serialised: the second turns the first
    off and takes its place (one active AutoPay per customer) instead of failing on the constraint.
    """
    Customer.objects.select_for_update(no_key=True).filter(pk=customer.pk).first()
    if not account.allow_saved_cards:
        raise PaymentRefused("This portal does not offer AutoPay.", status=403)
    expected = autopay_text_for(account=account, customer=customer)
    if shown_text.strip() != expected.strip():
        raise PaymentRefused("The authorisation text changed; read it again and confirm.", status=409)
    if card.customer_id != customer.pk or card.removed_at is not None:
        raise PaymentRefused("Choose one of this customer's saved cards.")
    now = timezone.now()
    AutoPay.objects.select_for_update().filter(customer=customer, disabled_at__isnull=True).update(
        disabled_at=now
    )
    try:
        with transaction.atomic():
            autopay = AutoPay.objects.create(
                customer=customer, card=card, authorised_by=user, authorised_email=user.email,
                authorised_at=now, authorised_ip=ip, authorisation_text=expected,
            )  # fmt: skip
    except IntegrityError:  # turned on at the same moment by a writer that did not lock the customer
        raise PaymentRefused(
            "AutoPay was just turned on for this customer; look again.", status=409
        ) from None
    payment_audit(
        portal=customer.portal, kind="autopay_enabled", user=user, ip=ip,
        detail={"customer": customer.pk, "card": card.label},
    )  # fmt: skip
    return autopay


@transaction.atomic
def autopay_disable(*, customer: Customer, user, ip: str | None) -> bool:
    stopped = AutoPay.objects.filter(customer=customer, disabled_at__isnull=True).update(
        disabled_at=timezone.now()
    )
    if stopped:
        payment_audit(
            portal=customer.portal,
            kind="autopay_disabled",
            user=user,
            ip=ip,
            detail={"customer": customer.pk},
        )
    return bool(stopped)


def _unpaid(qs):
    return qs.filter(status__in=[Invoice.Status.OPEN, Invoice.Status.OVERDUE], balance__gt=0)


def _active_autopays():
    """AutoPays that are on, of portals that still offer AutoPay (*customers may save cards*)."""
    return AutoPay.objects.filter(
        disabled_at__isnull=True, customer__portal__stripe_account__allow_saved_cards=True
    ).select_related("customer")


def autopay_schedule_due(*, today: date) -> int:
    """Create the one charge row for each unpaid invoice of an AutoPay customer that is due by today."""
    created = 0
    for autopay in _active_autopays():
        # Invoices falling due since AutoPay was turned on; older ones were never part of the consent.
        due = _unpaid(
            Invoice.objects.filter(
                customer=autopay.customer,
                due_on__lte=today,
                due_on__gte=timezone.localdate(autopay.authorised_at),
                autopay_charge__isnull=True,
            )
        )
        for invoice in due:
            try:
                with transaction.atomic():
                    AutoPayCharge.objects.create(invoice=invoice, autopay=autopay, next_attempt_on=today)
                    created += 1
            except IntegrityError:
                continue  # another run made it first: exactly one per invoice
    return created


def autopay_notify_upcoming(*, today: date) -> int:
    soon = today + timedelta(days=UPCOMING_NOTICE_DAYS)
    queued = 0
    for autopay in _active_autopays():
        emails = list(autopay.customer.contacts.values_list("email", flat=True))
        for invoice in _unpaid(
            Invoice.objects.filter(customer=autopay.customer, due_on__gt=today, due_on__lte=soon)
        ):
            with transaction.atomic():
                queued += len(invoice_notice_queue(invoice=invoice, kind="autopay_upcoming", emails=emails))
    return queued


def _next_attempt(charge: AutoPayCharge) -> date | None:
    """After ``charge.attempts`` failures: the date of the next try, or None to give up."""
    retries = AutoPayCharge.RETRY_DAYS
    if charge.attempts > len(retries):
        return None
    return charge.invoice.due_on + timedelta(days=retries[charge.attempts - 1])


def _record_failure(charge: AutoPayCharge, message: str, today: date) -> None:
    charge.last_error = message[:500]
    nxt = _next_attempt(charge)
    if nxt is None:
        charge.state = AutoPayCharge.State.GAVE_UP
        charge.next_attempt_on = None
        portal = charge.invoice.customer.portal
        emails = [*charge.invoice.customer.contacts.values_list("email", flat=True), portal.support_email]
        invoice_notice_queue(invoice=charge.invoice, kind="autopay_gave_up", emails=emails)
    else:
        charge.state = AutoPayCharge.State.SCHEDULED
        charge.next_attempt_on = max(nxt, today + timedelta(days=1))


def _attempt_refusal(account: StripeAccount | None, invoice: Invoice) -> str:
    """Why this attempt cannot charge (counted as a failed attempt: retried), or ""."""
    if account is None or not account.usable:
        return "Card payments are not available on this portal."
    if not account.currency_allowed(invoice.currency):
        return f"This portal does not take card payments in {invoice.currency.upper()}."
    if not payable_exactly(invoice.balance, invoice.currency):  # never charge more or less than due
        return f"The balance has a fraction {invoice.currency} cannot be charged."
    return ""


def _current_autopay(charge: AutoPayCharge, account: StripeAccount | None) -> AutoPay | None:
    """The customer's AutoPay now (a charge follows a card change), or None: AutoPay is off.

    Off is the customer's (or the portal's) choice, not a failure, so the caller stops the charge
    without retrying and without the "could not pay" notice (state GAVE_UP, ``last_error`` says why).
    """
    if account is not None and not account.allow_saved_cards:
        charge.last_error = PORTAL_OFF_MESSAGE
        return None
    autopay = (
        AutoPay.objects.select_related("card")
        .filter(
            customer_id=charge.invoice.customer_id, disabled_at__isnull=True, card__removed_at__isnull=True
        )
        .first()
    )
    if autopay is None:
        charge.last_error = TURNED_OFF_MESSAGE
    elif autopay.pk != charge.autopay_id:
        logger.info("autopay charge rebound", extra={"charge": charge.pk, "autopay": autopay.pk})
        charge.autopay = autopay
    return autopay


def autopay_charge_attempt(*, charge_id: int, today: date) -> str:
    """One off-session attempt for one charge row (locked: a parallel run skips it)."""
    with transaction.atomic():
        charge = (
            AutoPayCharge.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related(
                "invoice", "invoice__customer", "invoice__customer__portal", "autopay", "autopay__card"
            )
            .filter(pk=charge_id, state=AutoPayCharge.State.SCHEDULED, next_attempt_on__lte=today)
            .first()
        )
        if charge is None:
            return "skipped"
        invoice = Invoice.objects.select_for_update().get(pk=charge.invoice_id)
        if invoice.balance <= 0 or invoice.status not in (Invoice.Status.OPEN, Invoice.Status.OVERDUE):
            charge.state = (
                AutoPayCharge.State.SUCCEEDED if invoice.status == Invoice.Status.PAID else charge.state
            )
            charge.next_attempt_on = None
            charge.save(update_fields=["state", "next_attempt_on", "updated_at"])
            return "nothing due"
        if pending_payment_for_invoices(invoice_ids=[invoice.pk]) is not None:
            return "skipped"  # someone is paying it by card right now: the next run looks again
        account = StripeAccount.objects.filter(portal_id=invoice.customer.portal_id).first()
        autopay = _current_autopay(charge, account)
        if autopay is None:
            charge.state, charge.next_attempt_on = AutoPayCharge.State.GAVE_UP, None
            charge.save(update_fields=["state", "next_attempt_on", "last_error", "updated_at"])
            return charge.state
        card = autopay.card
        charge.attempts += 1
        refusal = _attempt_refusal(account, invoice)
        if refusal:
            _record_failure(charge, refusal, today)
            charge.save(
                update_fields=["autopay", "attempts", "state", "next_attempt_on", "last_error", "updated_at"]
            )
            return charge.state
        payment = CardPayment.objects.create(
            portal_id=invoice.customer.portal_id, customer=invoice.customer, kind=CardPayment.Kind.AUTOPAY,
            amount=invoice.balance, currency=invoice.currency, payment_method_id=card.payment_method_id,
            card_brand=card.brand, card_last4=card.last4, status=CardPayment.Status.PROCESSING,
        )  # fmt: skip
        CardPaymentInvoice.objects.create(card_payment=payment, invoice=invoice, amount=invoice.balance)
        charge.card_payment = payment
        charge.state = AutoPayCharge.State.CHARGING
        charge.save(update_fields=["autopay", "attempts", "card_payment", "state", "updated_at"])
    stripe_customer = (
        StripeCustomer.objects.filter(customer=invoice.customer)
        .values_list("stripe_customer_id", flat=True)
        .first()
    )
    try:
        intent = stripe_client(account=account).v1.payment_intents.create(
            params={
                "amount": to_minor(payment.amount, payment.currency),
                "currency": payment.currency.lower(),
                "customer": stripe_customer,
                "payment_method": card.payment_method_id,
                "payment_method_types": ["card"],
                "confirm": True,
                "off_session": True,
                "metadata": {
                    "portal": str(payment.portal_id),
                    "card_payment": str(payment.public_id),
                    "autopay_charge": str(charge.pk),
                },
            },
            options={
                "idempotency_key": f"portal-{payment.portal_id}-autopay-{charge.pk}-attempt-{charge.attempts}"
            },
        )
    except stripe.APIConnectionError:
        # Sent, but the answer was lost: the card may have been charged. Not failed, not retried:
        # autopay_charge_sync looks the intent up by its metadata on the next run.
        logger.warning("autopay create unanswered", extra={"charge": charge.pk, "card_payment": payment.pk})
        return AutoPayCharge.State.CHARGING
    except stripe.StripeError as exc:
        message = friendly_error(exc)
        card_payment_mark_failed(
            card_payment_id=payment.pk, code=getattr(exc, "code", "") or "error", message=message
        )
        with transaction.atomic():
            charge = AutoPayCharge.objects.select_for_update().select_related("invoice").get(pk=charge.pk)
            _record_failure(charge, message, today)
            charge.save(update_fields=["state", "next_attempt_on", "last_error", "updated_at"])
        return charge.state
    _bind_intent(payment, intent)
    return autopay_charge_sync(charge_id=charge.pk, today=today)


def _bind_intent(payment: CardPayment, intent) -> None:
    """Record the charge's intent on its card payment (unless one is recorded) and apply its status."""
    CardPayment.objects.filter(pk=payment.pk, payment_intent_id__isnull=True).update(
        payment_intent_id=intent.id
    )
    payment.refresh_from_db()
    card_payment_apply_intent(card_payment=payment, intent=intent.to_dict())


def _find_unanswered_intent(charge_id: int) -> None:
    """A charge whose create went unanswered (PROCESSING, no intent id): find the intent by metadata.

    Found: bound and applied (it settles once, whatever the webhook does). Not found once
    ``LOST_ANSWER_GRACE`` has passed: the payment failed (nothing was charged) and the charge retries
    per schedule. Stripe not answering the look-up either: left for the next run.
    """
    charge = AutoPayCharge.objects.select_related("card_payment").filter(pk=charge_id).first()
    payment = charge.card_payment if charge and charge.state == AutoPayCharge.State.CHARGING else None
    if payment is None or payment.status != CardPayment.Status.PROCESSING or payment.payment_intent_id:
        return
    account = StripeAccount.objects.filter(portal_id=payment.portal_id).first()
    if account is None:
        return
    try:
        intent = intent_already_created(stripe_client(account=account), payment)
    except stripe.StripeError as exc:
        logger.warning(
            "autopay intent look-up failed", extra={"charge": charge_id, "error": type(exc).__name__}
        )
        return
    if intent is not None:
        _bind_intent(payment, intent)
    elif payment.created_at < timezone.now() - LOST_ANSWER_GRACE:
        card_payment_mark_failed(card_payment_id=payment.pk, code="no_answer", message=LOST_ANSWER_MESSAGE)


def autopay_charge_sync(*, charge_id: int, today: date) -> str:
    """A charging row follows its card payment: paid -> succeeded; failed -> retry or give up."""
    _find_unanswered_intent(charge_id)
    with transaction.atomic():
        charge = (
            AutoPayCharge.objects.select_for_update(of=("self",))
            .select_related("invoice", "card_payment")
            .get(pk=charge_id)
        )
        if charge.state != AutoPayCharge.State.CHARGING or charge.card_payment is None:
            return charge.state
        status = charge.card_payment.status
        if status == CardPayment.Status.SUCCEEDED:
            charge.state = AutoPayCharge.State.SUCCEEDED
            charge.next_attempt_on = None
        elif status in (
            CardPayment.Status.FAILED,
            CardPayment.Status.CANCELED,
            CardPayment.Status.REQUIRES_ACTION,
        ):
            # Off-session, authentication cannot happen: treat it as a failed attempt.
            _record_failure(
                charge, charge.card_payment.failure_message or "The card needs authentication.", today
            )
        else:
            return charge.state
        charge.save(update_fields=["state", "next_attempt_on", "last_error", "updated_at"])
        return charge.state


def autopay_run(*, today: date | None = None) -> dict:
    """Beat task (daily): schedule due invoices, charge what is due, follow pending ones, notify upcoming."""
    today = today or timezone.localdate()
    scheduled = autopay_schedule_due(today=today)
    for charge_id in AutoPayCharge.objects.filter(state=AutoPayCharge.State.CHARGING).values_list(
        "pk", flat=True
    ):
        autopay_charge_sync(charge_id=charge_id, today=today)
    attempted = 0
    due = AutoPayCharge.objects.filter(state=AutoPayCharge.State.SCHEDULED, next_attempt_on__lte=today)
    for charge_id in list(due.order_by("next_attempt_on", "pk").values_list("pk", flat=True)[:500]):
        if autopay_charge_attempt(charge_id=charge_id, today=today) != "skipped":
            attempted += 1
    upcoming = autopay_notify_upcoming(today=today)
    logger.info("autopay run", extra={"scheduled": scheduled, "attempted": attempted, "upcoming": upcoming})
    return {"scheduled": scheduled, "attempted": attempted, "upcoming": upcoming}
