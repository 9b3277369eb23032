"""Pay now: one card payment for one or several invoices, from the server's own numbers.

The flow, built around what both Stripe and localstripe's Stripe.js stand-in do:

1. ``card_payment_start``: the person picked invoices (and, where the portal allows it, a partial
   amount for one invoice). The amount and currency come from the invoices' balances, never from
   the browser; a partial amount is only accepted between 0.01 and the balance.
2. ``card_payment_setup``: a SetupIntent whose client secret lets Stripe.js (Elements) collect the
   card straight into Stripe (``confirmCardSetup``): no card number reaches us.
3. ``card_payment_confirm``: the server creates and confirms the PaymentIntent for the recorded
   amount with the card the SetupIntent holds, with an idempotency key derived from the payment,
   after claiming the payment under a row lock (``confirming_since``, committed: nothing stays locked
   while Stripe answers): a double click or a retried request gets the same intent, never a second one.
   When the create's answer was lost, the person is told we are unsure (``UNSURE_MESSAGE``) and the
   next Pay looks the intent up by its metadata before creating one (``intent_already_created``).
   ``requires_action`` (3-D Secure) goes back to the browser (``confirmCardPayment``).
4. The signed webhook (``payments.webhooks``) settles the payment; the browser's return only shows
   "processing" until then, and ``payments.settlement.reconcile_pending`` covers a lost webhook.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import stripe
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from portal import outbound
from portal.models import Invoice, Portal
from portal.money import typed_amount

from .ledger import invoices_lock
from .models import CardPayment, CardPaymentInvoice, StripeAccount
from .money import CENT, payable_exactly, to_minor
from .selectors import confirm_claims_live_since, pending_payment_for_invoices
from .settlement import card_payment_mark_failed
from .stripe_api import friendly_error, stripe_client

UNSURE_MESSAGE = (
    "We could not hear back from the payment service. If your card was charged, the invoice will show "
    "as paid within a few minutes; otherwise press Pay again (you will not be charged twice)."
)


class PaymentRefused(Exception):
    """A payment request we will not make, with a message for the person (a 4xx page)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


def parse_amount(raw: str | None) -> Decimal | None:
    """A typed partial amount as Decimal (two places), None when empty; ``PaymentRefused`` unless it is
    written as every money input is (``portal.money.typed_amount``)."""
    text = (raw or "").strip()
    if not text:
        return None
    try:
        value = typed_amount(text)
    except ValidationError as exc:
        raise PaymentRefused(exc.messages[0]) from None
    if value >= Decimal("1e10"):  # more digits than an amount column holds
        raise PaymentRefused("Enter the amount with at most ten digits before the “.”.")
    return value.quantize(CENT)


@transaction.atomic
def card_payment_start(
    *, user, portal: Portal, account: StripeAccount, invoices: list[Invoice], amount: Decimal | None = None
) -> CardPayment:
    """Record what will be charged; the invoices were chosen through ``payable_invoices``."""
    locked = list(Invoice.objects.select_for_update().filter(pk__in=[i.pk for i in invoices]).order_by("pk"))
    if len({i.currency for i in locked}) != 1:
        raise PaymentRefused("Invoices in different currencies cannot be paid together; pay them one by one.")
    if len({i.customer_id for i in locked}) != 1:
        raise PaymentRefused("Invoices of different customers cannot be paid together; pay them one by one.")
    currency = locked[0].currency
    if not account.currency_allowed(currency):
        raise PaymentRefused(f"This portal does not take card payments in {currency}.")
    if any(i.balance <= 0 or i.status not in (Invoice.Status.OPEN, Invoice.Status.OVERDUE) for i in locked):
        raise PaymentRefused("One of these invoices has no balance left to pay.", status=409)
    if pending_payment_for_invoices(invoice_ids=[i.pk for i in locked]) is not None:
        raise PaymentRefused(
            "A card payment for one of these invoices is already being processed. "
            "Wait a minute and reload the invoice.",
            status=409,
        )
    balance = sum((i.balance for i in locked), Decimal("0"))
    if amount is not None and amount != balance:
        if not account.allow_partial:
            raise PaymentRefused("This portal takes only the full balance.")
        if len(locked) != 1:
            raise PaymentRefused("A partial amount can be paid on one invoice at a time.")
        if amount < CENT:
            raise PaymentRefused("The amount must be at least 0.01.")
        if amount > balance:
            raise PaymentRefused("The amount cannot be more than the balance due.")
    total = amount if amount is not None else balance
    if not payable_exactly(total, currency):
        raise PaymentRefused(
            f"{total} {currency} cannot be paid by card exactly ({currency} has no such fraction). "
            "Please ask your provider to correct the invoice."
        )
    payment = CardPayment.objects.create(
        portal=portal, customer_id=locked[0].customer_id, user=user, amount=total, currency=currency
    )
    remaining = total
    for invoice in sorted(locked, key=lambda i: (i.due_on, i.pk)):
        part = min(invoice.balance, remaining)
        if part > 0:
            CardPaymentInvoice.objects.create(card_payment=payment, invoice=invoice, amount=part)
            remaining -= part
    return payment


def card_payment_setup(*, card_payment: CardPayment, account: StripeAccount) -> str:
    """The SetupIntent client secret for Elements (created once per payment, reused until it holds a card)."""
    if card_payment.status != CardPayment.Status.CREATED:
        raise PaymentRefused("This payment has already been submitted.", status=409)
    with outbound.budget(settings.PAYMENTS_INTERACTIVE_SECONDS):  # a person waits for the card form
        return _setup_intent(card_payment, stripe_client(account=account))


def _setup_intent(card_payment: CardPayment, client: stripe.StripeClient) -> str:
    try:
        if card_payment.setup_intent_id:
            intent = client.v1.setup_intents.retrieve(card_payment.setup_intent_id)
            # A succeeded one already holds a card (a Pay whose confirm got no answer, a reload after
            # the card was entered): Stripe.js refuses to confirm it again, so Pay once more needs a
            # fresh one; the confirm then looks for the first attempt's intent before creating one.
            if intent.status not in ("canceled", "succeeded"):
                return intent.client_secret
        # No idempotency key: a SetupIntent moves no money, and after a declined card a fresh one is
        # needed (localstripe cancels the old one).
        intent = client.v1.setup_intents.create(
            params={"usage": "on_session", "metadata": _metadata(card_payment)}
        )
    except stripe.StripeError as exc:
        raise PaymentRefused(friendly_error(exc), status=502) from None
    CardPayment.objects.filter(pk=card_payment.pk).update(setup_intent_id=intent.id)
    return intent.client_secret


def _metadata(card_payment: CardPayment) -> dict:
    return {"portal": str(card_payment.portal_id), "card_payment": str(card_payment.public_id)}


@dataclass(frozen=True)
class ConfirmOutcome:
    status: str
    client_secret: str = ""
    message: str = ""


def _outcome(payment: CardPayment, client_secret: str = "") -> ConfirmOutcome:
    if payment.status == CardPayment.Status.REQUIRES_ACTION:
        return ConfirmOutcome(status=payment.status, client_secret=client_secret)
    return ConfirmOutcome(status=payment.status, message=payment.failure_message)


def card_payment_confirm(
    *, card_payment: CardPayment, account: StripeAccount, setup_intent_id: str
) -> ConfirmOutcome:
    """Create and confirm the PaymentIntent, exactly once per card payment, and never beside another
    payment still charging one of its invoices.

    Two tabs (or two colleagues) may each start a payment of one invoice; only the first to confirm is
    charged. Its invoices are locked while it claims the payment (after the payment's own row, the
    order the settlement locks them in), so the second waits a moment, then sees the first charging
    and is cancelled with nothing charged.
    """
    with outbound.budget(settings.PAYMENTS_INTERACTIVE_SECONDS):  # a person waits after Pay
        return _confirm(card_payment, stripe_client(account=account), setup_intent_id)


#: What ``_claim`` answers while another Pay of the payment waits on Stripe.
IN_FLIGHT = object()
IN_FLIGHT_MESSAGE = "This payment is still being submitted. Wait a moment, then reload the page."
#: How often a second Pay looks whether the first has its answer.
IN_FLIGHT_POLL_SECONDS = 0.1


@dataclass(frozen=True)
class _Claim:
    """This Pay's claim on its payment: ``since`` is the ``confirming_since`` it committed."""

    payment: CardPayment
    since: datetime
    #: An earlier create may have reached Stripe (its answer was lost, or its request died): the
    #: intent is looked for before another create is sent.
    look_first: bool
    #: The claim this one replaced (a dead request's): put back when nothing was sent, so it still says
    #: that a create may exist.
    previous: datetime | None = None


def _confirm(card_payment: CardPayment, client: stripe.StripeClient, setup_intent_id: str) -> ConfirmOutcome:
    """Claim the payment (committed), call Stripe with nothing locked, then record the answer.

    Why not under the row locks: Stripe may take seconds (``PAYMENTS_INTERACTIVE_SECONDS``) and web
    requests' statements give up after ``DATABASE_WEB_STATEMENT_TIMEOUT``: a webhook, a second tab or a
    double click waiting on those locks got a 503. The committed claim keeps what the locks gave: a
    second Pay of this payment waits (bounded) for the first one's answer instead of creating another
    intent, and a payment of the same invoices is cancelled as one already being charged.
    """
    deadline = time.monotonic() + settings.PAYMENTS_INTERACTIVE_SECONDS
    while (claim := _claim(card_payment.pk, setup_intent_id)) is IN_FLIGHT:
        if time.monotonic() >= deadline:
            raise PaymentRefused(IN_FLIGHT_MESSAGE, status=409)
        time.sleep(IN_FLIGHT_POLL_SECONDS)
    if isinstance(claim, ConfirmOutcome):
        return claim
    if isinstance(claim, CardPayment):  # already submitted: the same answer again
        return _answer_again(client, claim)
    sent = False
    try:
        if claim.look_first:
            try:
                intent = intent_already_created(client, claim.payment)
            except stripe.StripeError:
                raise PaymentRefused(UNSURE_MESSAGE, status=502) from None
            if intent is not None:
                return _intent_recorded(claim, intent)
            checked = _claim_checked(claim, setup_intent_id)
            if checked is not None:
                return checked if isinstance(checked, ConfirmOutcome) else _answer_again(client, checked)
        _card_from_setup(client, claim.payment, setup_intent_id)
        sent = True  # from here on, a create may reach Stripe: the claim stays until its answer
        return _create(client, claim)
    finally:
        if not sent:  # nothing was sent: the payment is free for the next Pay
            CardPayment.objects.filter(pk=claim.payment.pk, confirming_since=claim.since).update(
                confirming_since=claim.previous
            )


def _claim(pk: int, setup_intent_id: str):
    """Under the payment's row lock: the payment itself when it was already submitted, ``IN_FLIGHT``
    while another Pay holds a live claim, the cancelled outcome, or this Pay's committed ``_Claim``."""
    with transaction.atomic():
        payment = CardPayment.objects.select_for_update().get(pk=pk)
        if payment.payment_intent_id or payment.status != CardPayment.Status.CREATED:
            return payment
        now = timezone.now()
        if payment.confirming_since is not None and payment.confirming_since > confirm_claims_live_since(now):
            return IN_FLIGHT
        previous = payment.confirming_since
        look_first = bool(payment.payment_method_id) or previous is not None
        if not look_first and (canceled := _checks_locked(payment, setup_intent_id)) is not None:
            return canceled
        payment.confirming_since = now
        payment.save(update_fields=["confirming_since", "updated_at"])
    return _Claim(payment=payment, since=now, look_first=look_first, previous=previous)


def _claim_checked(claim: _Claim, setup_intent_id: str):
    """After a look that found no intent: the checks ``_claim`` skipped, with the rows locked again.

    None when the create may go ahead; the payment when something else settled it meanwhile (a
    webhook); the cancelled outcome otherwise.
    """
    with transaction.atomic():
        payment = CardPayment.objects.select_for_update().get(pk=claim.payment.pk)
        if payment.payment_intent_id or payment.status != CardPayment.Status.CREATED:
            return payment
        return _checks_locked(payment, setup_intent_id)


def _checks_locked(payment: CardPayment, setup_intent_id: str) -> ConfirmOutcome | None:
    """The card form, the balances and other payments of the invoices, checked on the locked payment
    with its invoices locked (the caller's transaction); a problem cancels the payment."""
    if not setup_intent_id or setup_intent_id != payment.setup_intent_id:
        raise PaymentRefused("The card form does not belong to this payment; reload the page.")
    invoice_ids = sorted(payment.allocations.values_list("invoice_id", flat=True))
    invoices_lock(ids=invoice_ids)
    problem = _balance_problem(payment)
    if pending_payment_for_invoices(invoice_ids=invoice_ids, exclude_pk=payment.pk) is not None:
        problem = (
            "Another card payment for this invoice is already being processed, so this one was "
            "stopped and nothing was charged. Reload the invoice in a minute."
        )
    if not problem:
        return None
    payment.status = CardPayment.Status.CANCELED
    payment.failure_message = problem
    payment.confirming_since = None
    payment.save(update_fields=["status", "failure_message", "confirming_since", "updated_at"])
    return _outcome(payment)


def _answer_again(client: stripe.StripeClient, payment: CardPayment) -> ConfirmOutcome:
    """A second submit (double click, back button, retried request): the same intent's answer."""
    if not payment.payment_intent_id:
        return _outcome(payment)
    try:
        intent = client.v1.payment_intents.retrieve(payment.payment_intent_id)
    except stripe.StripeError:
        return _outcome(payment)
    return _outcome(payment, intent.client_secret if intent.status == "requires_action" else "")


def _card_from_setup(client: stripe.StripeClient, payment: CardPayment, setup_intent_id: str) -> None:
    """The card the SetupIntent holds, on ``payment`` (not saved: ``_record`` writes it with the answer)."""
    try:
        setup = client.v1.setup_intents.retrieve(setup_intent_id)
    except stripe.StripeError as exc:
        raise PaymentRefused(friendly_error(exc), status=502) from None
    if setup.status != "succeeded" or not setup.payment_method:
        raise PaymentRefused("The card was not accepted; please enter it again.")
    payment.payment_method_id = str(setup.payment_method)
    _record_card(client, payment)


def _create(client: stripe.StripeClient, claim: _Claim) -> ConfirmOutcome:
    """The intent create (confirmed), with the payment's idempotency key; its answer recorded."""
    payment = claim.payment
    try:
        intent = client.v1.payment_intents.create(
            params={
                "amount": to_minor(payment.amount, payment.currency),
                "currency": payment.currency.lower(),
                "payment_method": payment.payment_method_id,
                "payment_method_types": ["card"],
                "confirm": True,
                "metadata": _metadata(payment),
            },
            options={"idempotency_key": payment.idempotency_key},
        )
    except stripe.CardError as exc:
        intent_id = getattr(getattr(exc, "error", None), "payment_intent", None)
        _record(claim, intent_id=(getattr(intent_id, "id", None) or str(intent_id)) if intent_id else None)
        card_payment_mark_failed(
            card_payment_id=payment.pk, code=exc.code or "card_declined", message=friendly_error(exc)
        )
        payment.refresh_from_db()
        return _outcome(payment)
    except stripe.StripeError as exc:
        # The intent may exist at Stripe (the answer was lost, or an error came after the charge).
        # The payment method is recorded: it tells the next Pay to look for that intent before
        # creating one. The webhook settles it meanwhile if it was charged (it knows the payment by
        # the intent's metadata).
        _record(claim)
        lost = isinstance(exc, stripe.APIConnectionError)
        raise PaymentRefused(UNSURE_MESSAGE if lost else friendly_error(exc), status=502) from None
    return _intent_recorded(claim, intent)


def _intent_recorded(claim: _Claim, intent) -> ConfirmOutcome:
    """The payment's intent (just created, or found after a lost answer) on its row."""
    status = (
        CardPayment.Status.REQUIRES_ACTION
        if intent.status == "requires_action"
        else CardPayment.Status.PROCESSING
    )
    payment = _record(claim, intent_id=intent.id, status=status)
    return _outcome(
        payment, intent.client_secret if payment.status == CardPayment.Status.REQUIRES_ACTION else ""
    )


def _record(claim: _Claim, *, intent_id: str | None = None, status: str = "") -> CardPayment:
    """What Stripe said, written on the payment's row locked again, ending this Pay's claim.

    The webhook may have come first while nothing was locked (it finds the payment by the intent's
    metadata and records the intent itself): a status it set (paid, failed) stands.
    """
    with transaction.atomic():
        payment = CardPayment.objects.select_for_update().get(pk=claim.payment.pk)
        payment.payment_method_id = claim.payment.payment_method_id
        payment.card_brand, payment.card_last4 = claim.payment.card_brand, claim.payment.card_last4
        if intent_id and not payment.payment_intent_id:
            payment.payment_intent_id = intent_id
        if status and payment.status == CardPayment.Status.CREATED:
            payment.status = status
        if payment.confirming_since == claim.since:
            payment.confirming_since = None
        payment.save(
            update_fields=[
                "payment_method_id",
                "card_brand",
                "card_last4",
                "payment_intent_id",
                "status",
                "confirming_since",
                "updated_at",
            ]
        )
    return payment


#: How many intents a Pay after a lost answer looks through for its own (see below).
INTENT_LOOKUP_LIMIT = 1000
#: Leeway between our clock and Stripe's when telling an intent older than its payment.
CLOCK_LEEWAY_SECONDS = 300


def intent_already_created(client: stripe.StripeClient, payment: CardPayment):
    """The intent an earlier create for this payment made although we heard no answer, or None.

    Why not only the idempotency key: Stripe answers a create retried with the same key with the
    first intent, but only for 24 h and only with the same parameters, and localstripe (the demo's
    and the tests' Stripe) ignores the key altogether, so a second create there is a second
    charge (tests/payments/test_lost_answer.py). Every intent of ours carries the payment in its
    metadata, so it is looked for by that. Stripe's list has no metadata filter and its search
    lags writes (localstripe has neither search nor a ``created`` filter), so the account's
    intents are read, at most ``INTENT_LOOKUP_LIMIT`` of them, stopping once Stripe's newest-first
    order reaches intents older than the payment. Not found: the create is sent again, with the
    same key. Only a Pay after an unanswered create pays for this look.
    """
    wanted = _metadata(payment)
    oldest = int(payment.created_at.timestamp()) - CLOCK_LEEWAY_SECONDS
    previous, newest_first = None, False
    listing = client.v1.payment_intents.list(params={"limit": 100})
    for seen, intent in enumerate(listing.auto_paging_iter()):
        found = intent.to_dict()
        metadata = found.get("metadata") or {}
        if all(metadata.get(key) == value for key, value in wanted.items()):
            return intent
        created = int(found.get("created") or 0)
        newest_first = newest_first or (previous is not None and created < previous)
        previous = created
        if seen + 1 >= INTENT_LOOKUP_LIMIT or (newest_first and created < oldest):
            return None
    return None


def _balance_problem(payment: CardPayment) -> str:
    """Between the pay page and the submit a balance may have dropped (paid elsewhere): refuse."""
    for allocation in payment.allocations.select_related("invoice"):
        invoice = allocation.invoice
        if invoice.balance < allocation.amount or invoice.status not in (
            Invoice.Status.OPEN,
            Invoice.Status.OVERDUE,
        ):
            return "An invoice's balance changed since this payment was started; start it again."
    return ""


def _record_card(client: stripe.StripeClient, payment: CardPayment) -> None:
    """Brand and last four for the receipt (never the number: Stripe never gives it to us)."""
    try:
        method = client.v1.payment_methods.retrieve(payment.payment_method_id)
    except stripe.StripeError:
        return
    card = method.to_dict().get("card") or {}
    payment.card_brand = str(card.get("brand") or "")[:30]
    payment.card_last4 = str(card.get("last4") or "")[:4]
