"""Webhook events localstripe never sends (``charge.refunded``, ``setup_intent.succeeded``), posted
here signed with the portal's secret exactly as Stripe would; the objects they name are real ones
at localstripe."""

import hashlib
import hmac
import json
import time
from decimal import Decimal

import psycopg2
import pytest
from django.db import connection
from django.test import Client

from payments.models import CardPayment, CardRefund, SavedCard, StripeEvent
from payments.stripe_api import stripe_client
from tests.stripestub import CARD_OK

pytestmark = pytest.mark.django_db(transaction=True)


def _post_event(shop, event_type: str, obj: dict, event_id: str):
    payload = json.dumps({"id": event_id, "type": event_type, "data": {"object": obj}}).encode()
    ts = int(time.time())
    secret = shop.account.webhook_secret
    sig = hmac.new(secret.encode(), f"{ts}.".encode() + payload, hashlib.sha256).hexdigest()
    return Client(HTTP_HOST=shop.portal.host, raise_request_exception=False).post(
        f"/payments/webhook/{shop.account.webhook_key}/",
        payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=f"t={ts},v1={sig}",
    )


def test_charge_refunded_records_refunds_made_in_the_stripe_dashboard(shop):
    invoice = shop.invoice("50.00")
    payment, _ = shop.pay([invoice])
    shop.wait_settled(payment)
    client = stripe_client(account=shop.account)
    refund = client.v1.refunds.create(params={"payment_intent": payment.payment_intent_id, "amount": 1250})
    intent = client.v1.payment_intents.retrieve(payment.payment_intent_id)
    charge = {
        "id": str(intent.latest_charge),
        "payment_intent": payment.payment_intent_id,
        "refunds": {"data": [{"id": refund.id, "amount": 1250, "status": "succeeded"}]},
    }
    assert _post_event(shop, "charge.refunded", charge, "evt_refund_1").status_code == 200
    assert _post_event(shop, "charge.refunded", charge, "evt_refund_2").status_code == 200  # redelivered
    payment.refresh_from_db()
    assert payment.amount_refunded == Decimal("12.50")
    assert CardRefund.objects.filter(stripe_refund_id=refund.id).count() == 1


def test_setup_intent_succeeded_saves_the_card_if_the_browser_never_returned(shop):
    shop.account.allow_saved_cards = True
    shop.account.save()
    setup = shop.client.post(
        f"/payments/cards/{shop.customer.pk}/setup/", content_type="application/json"
    ).json()
    seti = shop.localstripe.confirm_card_setup(setup["client_secret"], CARD_OK, shop.account.publishable_key)
    intent = stripe_client(account=shop.account).v1.setup_intents.retrieve(seti["id"]).to_dict()
    assert _post_event(shop, "setup_intent.succeeded", intent, "evt_seti_1").status_code == 200
    card = SavedCard.objects.get(customer=shop.customer)
    assert card.last4 == "4242"
    forged = {**intent, "metadata": {**intent["metadata"], "portal": "999999"}}
    assert _post_event(shop, "setup_intent.succeeded", forged, "evt_seti_2").status_code == 200
    assert SavedCard.objects.count() == 1


def test_an_event_that_failed_half_way_is_applied_when_stripe_sends_it_again(shop, localstripe):
    """The first delivery waits on a payment row another transaction holds until the statement
    timeout cuts it (a 5xx, so Stripe redelivers); the redelivery settles the payment."""
    # localstripe's deliveries go elsewhere: the portal hears of the payment only from this test.
    localstripe.register_webhook("http://127.0.0.1:9/elsewhere", "whsec_elsewhere")
    response = shop.start([shop.invoice("33.00")])
    payment = CardPayment.objects.get(public_id=response["Location"].rstrip("/").split("/")[-1])
    base = f"/payments/{payment.public_id}"
    setup = shop.client.post(f"{base}/setup/", content_type="application/json").json()
    seti = localstripe.confirm_card_setup(setup["client_secret"], CARD_OK, shop.account.publishable_key)
    assert shop.client.post(f"{base}/confirm/", {"setup_intent": seti["id"]}, content_type="application/json")
    payment.refresh_from_db()
    intent = (
        stripe_client(account=shop.account).v1.payment_intents.retrieve(payment.payment_intent_id).to_dict()
    )
    holder = _other_connection()
    try:
        holder.cursor().execute("SELECT id FROM payments_cardpayment WHERE id = %s FOR UPDATE", [payment.pk])
        with connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = 1000")
        first = _post_event(shop, "payment_intent.succeeded", intent, "evt_half_way")
        with connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = 0")
    finally:
        holder.rollback()
        holder.close()
    assert first.status_code >= 500
    assert not StripeEvent.objects.filter(event_id="evt_half_way").exists()
    assert _post_event(shop, "payment_intent.succeeded", intent, "evt_half_way").status_code == 200
    payment.refresh_from_db()
    assert payment.settled_at is not None
    assert (
        _post_event(shop, "payment_intent.succeeded", intent, "evt_half_way").status_code == 200
    )  # a duplicate


def _other_connection():
    settings = connection.settings_dict
    return psycopg2.connect(
        host=settings["HOST"] or "127.0.0.1", port=settings["PORT"] or 5432, user=settings["USER"],
        dbname=settings["NAME"],
    )  # fmt: skip
