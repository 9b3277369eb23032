"""Stripe's webhook: the source of truth for what happened to a payment.

The signature (``Stripe-Signature``, HMAC-SHA256 with the portal's signing secret, timestamp within
five minutes) is checked by Stripe's official library before anything is parsed; a bad one is a
400 and changes nothing (one audit row). Each event id is processed once per account. Events for
intents that are not this portal's are acknowledged and ignored (localstripe, like a shared Stripe
account, may send every portal's events to every endpoint).
"""

from __future__ import annotations

import json
import logging

import stripe
from django.db import IntegrityError, transaction

from .audit import payment_audit
from .models import CardPayment, CardRefund, StripeAccount, StripeEvent
from .money import from_minor
from .settlement import card_payment_apply_intent, card_payment_mark_failed

logger = logging.getLogger("payments.webhooks")

SIGNATURE_TOLERANCE_SECONDS = 300
HANDLED = {
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "charge.refunded",
    "charge.refund.updated",
    "setup_intent.succeeded",
}


class WebhookRefused(Exception):
    pass


def _verify(*, account: StripeAccount, payload: bytes, signature: str) -> dict:
    if not account.webhook_secret:
        raise WebhookRefused("no signing secret configured")
    try:
        stripe.WebhookSignature.verify_header(
            payload.decode("utf-8"), signature, account.webhook_secret, SIGNATURE_TOLERANCE_SECONDS
        )
        event = json.loads(payload)
    except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError, TypeError) as exc:
        # TypeError: a signature header with non-ASCII characters (the library's compare_digest).
        raise WebhookRefused(type(exc).__name__) from None
    if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
        raise WebhookRefused("not an event")
    obj = event["data"].get("object")
    if (
        not isinstance(obj, dict)
        or not isinstance(event.get("id"), str)
        or not isinstance(event.get("type"), str)
    ):
        raise WebhookRefused("not an event")
    return event


def stripe_webhook_handle(
    *, account: StripeAccount, payload: bytes, signature: str, ip: str | None = None
) -> str:
    """Verify and apply one event; returns what was done (for the log). ``WebhookRefused`` -> 400."""
    try:
        event = _verify(account=account, payload=payload, signature=signature)
    except WebhookRefused as exc:
        payment_audit(portal=account.portal, kind="webhook_refused", ip=ip, detail={"reason": str(exc)})
        raise
    if event["type"] not in HANDLED:
        return "ignored"
    handler = {
        "payment_intent.succeeded": _intent_event,
        "payment_intent.payment_failed": _intent_event,
        "charge.refunded": _charge_refunded,
        "charge.refund.updated": _refund_updated,
        "setup_intent.succeeded": _setup_succeeded,
    }[event["type"]]
    # The "seen" row commits with what the event did, or not at all: a delivery that fails half way
    # (a lock wait cut short, a database restart) answers 5xx, and Stripe's redelivery is handled
    # afresh instead of being taken for a duplicate of work that never landed. A second delivery
    # arriving meanwhile waits on the row's unique key, then sees the first one's commit.
    with transaction.atomic():
        try:
            with transaction.atomic():
                StripeEvent.objects.create(
                    account=account, event_id=event["id"][:255], type=event["type"][:100]
                )
        except IntegrityError:
            return "duplicate"
        return handler(account=account, obj=event["data"]["object"], event_type=event["type"])


def _card_payment_for_intent(*, account: StripeAccount, intent_id) -> CardPayment | None:
    if not isinstance(intent_id, str) or not intent_id:
        return None
    return CardPayment.objects.filter(portal_id=account.portal_id, payment_intent_id=intent_id).first()


def _intent_event(*, account: StripeAccount, obj: dict, event_type: str) -> str:
    payment = _card_payment_for_intent(account=account, intent_id=obj.get("id"))
    if payment is None:
        # A decline raised while the intent was being created: we know the payment by its metadata.
        metadata = obj.get("metadata") or {}
        if str(metadata.get("portal")) == str(account.portal_id) and metadata.get("card_payment"):
            payment = CardPayment.objects.filter(
                portal_id=account.portal_id,
                public_id=str(metadata["card_payment"]),
                payment_intent_id__isnull=True,
            ).first()
            if payment is not None:
                CardPayment.objects.filter(pk=payment.pk, payment_intent_id__isnull=True).update(
                    payment_intent_id=obj["id"]
                )
    if payment is None:
        return "not ours"
    if event_type == "payment_intent.payment_failed" and obj.get("status") != "succeeded":
        error = obj.get("last_payment_error") or {}
        card_payment_mark_failed(
            card_payment_id=payment.pk,
            code=str(error.get("code") or "card_declined"),
            message=str(error.get("message") or "The card was declined."),
        )
        return "failed"
    return card_payment_apply_intent(card_payment=payment, intent=obj)


def _charge_refunded(*, account: StripeAccount, obj: dict, event_type: str) -> str:
    payment = _card_payment_for_intent(account=account, intent_id=obj.get("payment_intent"))
    if payment is None:
        return "not ours"
    refunds = (obj.get("refunds") or {}).get("data") or []
    for refund in refunds:
        if isinstance(refund, dict):
            _refund_seen(payment, refund)
    return "refunds recorded"


def _refund_updated(*, account: StripeAccount, obj: dict, event_type: str) -> str:
    """A refund's status moved on (Stripe sends this when one fails, e.g. the card was closed)."""
    payment = _card_payment_for_intent(account=account, intent_id=obj.get("payment_intent"))
    if payment is None:
        return "not ours"
    _refund_seen(payment, obj)
    return f"refund {str(obj.get('status') or '')[:30]}"


def _refund_seen(payment: CardPayment, refund: dict) -> None:
    from .refunds import card_refund_status_update

    if not isinstance(refund.get("id"), str) or not refund["id"]:
        return
    try:
        minor = int(refund.get("amount") or 0)
    except (TypeError, ValueError, OverflowError):
        return
    card_refund_status_update(
        card_payment=payment,
        stripe_refund_id=refund["id"][:255],
        amount=from_minor(minor, payment.currency),
        status=str(refund.get("status") or "")[:30],
    )


def _setup_succeeded(*, account: StripeAccount, obj: dict, event_type: str) -> str:
    """The safety net for saved cards: recorded when the browser returns, or here if it never did."""
    from portal.models import Customer

    from .cards import SAVE_CARD_PURPOSE, saved_card_record
    from .checkout import PaymentRefused

    metadata = obj.get("metadata") or {}
    if metadata.get("purpose") != SAVE_CARD_PURPOSE or str(metadata.get("portal")) != str(account.portal_id):
        return "not ours"
    customer = Customer.objects.filter(
        portal_id=account.portal_id, pk=str(metadata.get("customer") or "0")
    ).first()
    if customer is None or not isinstance(obj.get("id"), str):
        return "not ours"
    try:
        saved_card_record(account=account, customer=customer, setup_intent_id=obj["id"])
    except PaymentRefused:
        return "not saved"
    return "card saved"


__all__ = ["CardRefund", "WebhookRefused", "stripe_webhook_handle"]
