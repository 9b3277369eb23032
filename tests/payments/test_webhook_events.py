"""Webhook events localstripe never sends (``charge.refunded``, ``setup_intent.succeeded``), posted
here signed with the portal's secret exactly as Stripe would; the objects they name are real ones
at localstripe."""

import hashlib
import hmac
import json
import time
from decimal import Decimal

import pytest
from django.test import Client

from payments.models import CardRefund, SavedCard
from payments.stripe_api import stripe_client
from tests.stripestub import CARD_OK

pytestmark = pytest.mark.django_db(transaction=True)


def _post_event(shop, event_type: str, obj: dict, event_id: str):
    payload = json.dumps({"id": event_id, "type": event_type, "data": {"object": obj}}).encode()
    ts = int(time.time())
    secret = shop.account.webhook_secret
    sig = hmac.new(secret.encode(), f"{ts}.".encode() + payload, hashlib.sha256).hexdigest()
    return Client(HTTP_HOST=shop.portal.host).post(
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
