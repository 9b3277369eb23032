"""Saved cards: a SetupIntent for the customer's Stripe Customer, confirmed by Stripe.js (Elements),
recorded when the browser returns (the SetupIntent is read back from Stripe, never trusted from the
browser) and again, idempotently, by ``setup_intent.succeeded``. Removing detaches the card at
Stripe and turns off AutoPay that used it."""

from __future__ import annotations

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from portal import outbound
from portal.models import Customer

from .audit import payment_audit
from .checkout import PaymentRefused
from .models import AutoPay, SavedCard, StripeAccount, StripeCustomer
from .stripe_api import friendly_error, stripe_client

SAVE_CARD_PURPOSE = "save_card"


def stripe_customer_ensure(*, account: StripeAccount, customer: Customer) -> str:
    existing = StripeCustomer.objects.filter(customer=customer).first()
    if existing:
        return existing.stripe_customer_id
    created = stripe_client(account=account).v1.customers.create(
        params={
            "name": customer.name[:200],
            "metadata": {"portal": str(customer.portal_id), "customer": str(customer.pk)},
        },
        options={"idempotency_key": f"portal-{customer.portal_id}-customer-{customer.pk}-stripe-customer"},
    )
    try:
        with transaction.atomic():
            StripeCustomer.objects.create(customer=customer, stripe_customer_id=created.id)
    except IntegrityError:
        return StripeCustomer.objects.get(customer=customer).stripe_customer_id
    return created.id


def saved_card_setup(*, account: StripeAccount, customer: Customer) -> str:
    """A SetupIntent's client secret for saving a card of ``customer`` (off-session use)."""
    if not account.allow_saved_cards:
        raise PaymentRefused("This portal does not save cards.", status=403)
    with outbound.budget(settings.PAYMENTS_INTERACTIVE_SECONDS):  # a person waits for the card form
        return _saved_card_setup(account=account, customer=customer)


def _saved_card_setup(*, account: StripeAccount, customer: Customer) -> str:
    try:
        stripe_customer = stripe_customer_ensure(account=account, customer=customer)
        intent = stripe_client(account=account).v1.setup_intents.create(
            params={
                "customer": stripe_customer,
                "usage": "off_session",
                "metadata": {
                    "portal": str(customer.portal_id),
                    "customer": str(customer.pk),
                    "purpose": SAVE_CARD_PURPOSE,
                },
            }
        )
    except stripe.StripeError as exc:
        raise PaymentRefused(friendly_error(exc), status=502) from None
    return intent.client_secret


def saved_card_record(
    *, account: StripeAccount, customer: Customer, setup_intent_id: str, user=None
) -> SavedCard:
    """Read the SetupIntent back from Stripe; record its card if it succeeded for this very customer."""
    with outbound.budget(settings.PAYMENTS_INTERACTIVE_SECONDS):  # a person waits after "Save card"
        return _saved_card_record(
            account=account, customer=customer, setup_intent_id=setup_intent_id, user=user
        )


def _saved_card_record(
    *, account: StripeAccount, customer: Customer, setup_intent_id: str, user
) -> SavedCard:
    client = stripe_client(account=account)
    try:
        intent = client.v1.setup_intents.retrieve(setup_intent_id).to_dict()
    except stripe.InvalidRequestError:
        raise PaymentRefused("This card was not set up for this customer.", status=400) from None
    except stripe.StripeError as exc:
        raise PaymentRefused(friendly_error(exc), status=502) from None
    metadata = intent.get("metadata") or {}
    if (
        metadata.get("purpose") != SAVE_CARD_PURPOSE
        or metadata.get("customer") != str(customer.pk)
        or metadata.get("portal") != str(customer.portal_id)
    ):
        raise PaymentRefused("This card was not set up for this customer.", status=400)
    if intent.get("status") != "succeeded" or not intent.get("payment_method"):
        raise PaymentRefused("The card was not confirmed; please enter it again.")
    method_id = str(intent["payment_method"])
    existing = SavedCard.objects.filter(payment_method_id=method_id).first()
    if existing:
        return existing
    try:
        card = (client.v1.payment_methods.retrieve(method_id).to_dict().get("card")) or {}
    except stripe.StripeError:
        card = {}
    try:
        with transaction.atomic():
            saved = SavedCard.objects.create(
                customer=customer,
                payment_method_id=method_id,
                brand=str(card.get("brand") or "")[:30],
                last4=str(card.get("last4") or "")[:4],
                exp_month=card.get("exp_month"),
                exp_year=card.get("exp_year"),
                added_by=user,
            )
    except IntegrityError:
        return SavedCard.objects.get(payment_method_id=method_id)
    payment_audit(portal=customer.portal, kind="card_saved", user=user, detail={"card": saved.label})
    return saved


def saved_card_remove(*, account: StripeAccount, card: SavedCard, user=None, ip: str | None = None) -> None:
    try:
        with outbound.budget(settings.PAYMENTS_INTERACTIVE_SECONDS):  # a person waits after "Remove"
            stripe_client(account=account).v1.payment_methods.detach(card.payment_method_id)
    except stripe.InvalidRequestError:
        pass  # already detached at Stripe: removing it here is still right
    except stripe.StripeError as exc:
        raise PaymentRefused(friendly_error(exc), status=502) from None
    now = timezone.now()
    with transaction.atomic():
        SavedCard.objects.filter(pk=card.pk).update(removed_at=now)
        stopped = AutoPay.objects.filter(card=card, disabled_at__isnull=True).update(disabled_at=now)
        payment_audit(
            portal=card.customer.portal, kind="card_removed", user=user, ip=ip,
            detail={"card": card.label, "autopay_stopped": bool(stopped)},
        )  # fmt: skip
