"""Pay now against localstripe on loopback: real HTTP, the official library, signed webhooks."""

import hashlib
import hmac
import json
import time
from decimal import Decimal

import pytest
from django.core import mail
from django.test import Client

from payments.models import CardPayment, PaymentAudit, StripeEvent
from payments.settlement import reconcile_pending
from portal.models import Invoice, Payment
from portal.money import AMOUNT_MESSAGE
from tests.docserver import docserver_fixture  # noqa: F401
from tests.factories import CustomerFactory, InvoiceFactory
from tests.payments.conftest import NOT_TYPED_AMOUNTS, connect, wait_for
from tests.stripestub import CARD_3DS, CARD_DECLINED_ON_CHARGE, CARD_DECLINED_ON_SETUP, CARD_OK

pytestmark = pytest.mark.django_db(transaction=True)


def _receipts(to="alice@example.com"):
    return [m for m in mail.outbox if to in m.to and m.subject.startswith("Receipt")]


def test_pay_one_invoice(shop):
    invoice = shop.invoice("120.00")
    page = shop.client.get(f"/invoices/{invoice.pk}/")
    assert b'id="pay-now"' in page.content
    payment, outcome = shop.pay([invoice])
    assert outcome["status"] == "processing"
    # The browser's return shows "processing" until the webhook says otherwise.
    invoice.refresh_from_db()
    assert invoice.balance in (Decimal("120.00"), Decimal("0.00"))
    shop.wait_settled(payment)
    invoice.refresh_from_db()
    assert invoice.balance == Decimal("0.00") and invoice.status == Invoice.Status.PAID
    assert Payment.objects.get(invoice=invoice).amount == Decimal("120.00")
    result = shop.client.get(f"/payments/{payment.public_id}/result/")
    assert b"Payment received" in result.content
    wait_for(lambda: _receipts(), what="the receipt")
    receipt = _receipts()[0]
    assert "$120.00" in receipt.body and invoice.number in receipt.body and "4242" in receipt.body
    assert "billing@acme-msp.example" in receipt.body


def test_pay_several_invoices_in_one_payment(shop):
    first, second = shop.invoice("100.00"), shop.invoice("50.25")
    listing = shop.client.get("/invoices/")
    assert b'id="pay-selected"' in listing.content
    payment, _ = shop.pay([first, second])
    assert payment.amount == Decimal("150.25")
    shop.wait_settled(payment)
    for invoice in (first, second):
        invoice.refresh_from_db()
        assert invoice.balance == 0 and invoice.status == Invoice.Status.PAID
    assert payment.allocations.count() == 2


def test_partial_amount_where_allowed_never_above_balance(shop):
    invoice = shop.invoice("200.00")
    too_much = shop.start([invoice], amount="200.01")
    assert too_much.status_code == 400 and b"more than the balance" in too_much.content
    garbage = shop.start([invoice], amount="1e9999")
    assert garbage.status_code == 400
    payment, _ = shop.pay([invoice], amount="75.50")
    shop.wait_settled(payment)
    invoice.refresh_from_db()
    assert invoice.balance == Decimal("124.50") and invoice.status == Invoice.Status.OPEN


def test_a_partial_amount_is_ascii_digits_or_a_clear_refusal(shop):
    """Arabic-Indic 10 (U+0661 U+0660) and "1,50" (1.50 written with a decimal comma) were charged as 10 and 150."""
    invoice = shop.invoice("200.00")
    for amount in NOT_TYPED_AMOUNTS:
        response = shop.start([invoice], amount=amount)
        assert response.status_code == 400, amount
        assert AMOUNT_MESSAGE in response.content.decode(), amount
    assert not CardPayment.objects.exists()


def test_partial_amount_refused_where_not_allowed(shop):
    shop.account.allow_partial = False
    shop.account.save()
    invoice = shop.invoice("200.00")
    # The amount field is not even read: the full balance is charged.
    response = shop.start([invoice], amount="1.00")
    payment = CardPayment.objects.get(public_id=response["Location"].rstrip("/").split("/")[-1])
    assert payment.amount == Decimal("200.00")


def test_declined_card_fails_and_mails(shop):
    invoice = shop.invoice("80.00")
    payment, outcome = shop.pay([invoice], card=CARD_DECLINED_ON_CHARGE)
    assert outcome["status"] == "failed"
    assert b"Payment failed" in shop.client.get(f"/payments/{payment.public_id}/result/").content
    invoice.refresh_from_db()
    assert invoice.balance == Decimal("80.00")
    wait_for(lambda: [m for m in mail.outbox if "did not go through" in m.subject], what="the failure mail")
    # The later payment_failed webhook changes nothing more: one mail.
    time.sleep(1.5)
    assert len([m for m in mail.outbox if "did not go through" in m.subject]) == 1


def test_card_declined_at_entry_changes_nothing(shop):
    invoice = shop.invoice("80.00")
    payment, outcome = shop.pay([invoice], card=CARD_DECLINED_ON_SETUP)
    assert outcome["setup_error"]["message"] == "Your card was declined."
    payment.refresh_from_db()
    assert payment.status == CardPayment.Status.CREATED and payment.payment_intent_id is None


def test_a_reload_after_the_card_was_entered_gets_a_fresh_card_form(shop):
    """Stripe.js will not confirm a SetupIntent that already holds a card: Pay again needs a new one."""
    invoice = shop.invoice("42.00")
    response = shop.start([invoice])
    payment = CardPayment.objects.get(public_id=response["Location"].rstrip("/").split("/")[-1])
    setup_url = f"/payments/{payment.public_id}/setup/"
    first = shop.client.post(setup_url, content_type="application/json").json()["client_secret"]
    assert shop.client.post(setup_url, content_type="application/json").json()["client_secret"] == first
    shop.localstripe.confirm_card_setup(first, CARD_OK, shop.account.publishable_key)  # then the page reloads
    again = shop.client.post(setup_url, content_type="application/json").json()["client_secret"]
    assert again != first
    seti = shop.localstripe.confirm_card_setup(again, CARD_OK, shop.account.publishable_key)
    outcome = shop.client.post(
        f"/payments/{payment.public_id}/confirm/",
        {"setup_intent": seti["id"]},
        content_type="application/json",
    ).json()
    assert outcome["status"] == "processing"
    assert shop.wait_settled(payment).amount == Decimal("42.00")


def test_three_d_secure(shop):
    invoice = shop.invoice("60.00")
    payment, outcome = shop.pay([invoice], card=CARD_3DS)
    assert outcome["status"] == "requires_action" and outcome["client_secret"].startswith("pi_")
    shop.wait_settled(payment)
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID


def test_three_d_secure_failed_is_not_paid(shop):
    invoice = shop.invoice("60.00")
    payment, _ = shop.pay([invoice], card=CARD_3DS, authenticate=False)
    shop.account.refresh_from_db()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("django.conf.settings.PAYMENTS_RECONCILE_AFTER_SECONDS", -60)
        reconcile_pending()
    payment.refresh_from_db()
    assert payment.status == CardPayment.Status.FAILED and payment.settled_at is None
    invoice.refresh_from_db()
    assert invoice.balance == Decimal("60.00")


def test_duplicate_submit_charges_once(shop):
    invoice = shop.invoice("99.00")
    payment, _ = shop.pay([invoice])
    again = shop.client.post(
        f"/payments/{payment.public_id}/confirm/",
        {"setup_intent": payment.setup_intent_id},
        content_type="application/json",
    ).json()
    assert again["status"] in ("processing", "succeeded")
    shop.wait_settled(payment)
    # A second pay for the same (now paid) invoice is refused, and a redelivered event is a no-op.
    assert shop.start([invoice]).status_code == 404
    assert CardPayment.objects.filter(payment_intent_id__isnull=False).count() == 1
    assert Payment.objects.filter(invoice=invoice).count() == 1


def test_second_payment_while_one_is_processing_is_refused(shop):
    invoice = shop.invoice("99.00")
    payment, _ = shop.pay([invoice], card=CARD_3DS, authenticate=False)
    payment.refresh_from_db()
    assert payment.status == CardPayment.Status.REQUIRES_ACTION
    response = shop.start([invoice])
    assert response.status_code == 409


def test_lost_webhook_is_reconciled_exactly_once(shop, localstripe, settings):
    # The webhook goes nowhere: Stripe took the money, we never heard.
    localstripe.register_webhook("http://127.0.0.1:9/lost", "whsec_elsewhere")
    invoice = shop.invoice("42.00")
    payment, outcome = shop.pay([invoice])
    assert outcome["status"] == "processing"
    time.sleep(1.5)
    payment.refresh_from_db()
    assert payment.settled_at is None
    settings.PAYMENTS_RECONCILE_AFTER_SECONDS = 0
    assert reconcile_pending() == 1
    assert reconcile_pending() == 0  # settled: no longer pending
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID and Payment.objects.filter(invoice=invoice).count() == 1
    assert len(_receipts()) <= 1
    wait_for(lambda: len(_receipts()) == 1, what="one receipt")


def _signed(payload: bytes, secret: str) -> str:
    ts = int(time.time())
    sig = hmac.new(secret.encode(), f"{ts}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={ts},v1={sig}"


def test_forged_webhook_is_refused_and_changes_nothing(shop):
    invoice = shop.invoice("42.00")
    payment, _ = shop.pay([invoice], card=CARD_3DS, authenticate=False)
    event = {
        "id": "evt_forged",
        "type": "payment_intent.succeeded",
        "data": {
            "object": {
                "id": payment.payment_intent_id,
                "status": "succeeded",
                "amount": 4200,
                "currency": "usd",
            }
        },
    }
    payload = json.dumps(event).encode()
    url = f"/payments/webhook/{shop.account.webhook_key}/"
    anon = Client(HTTP_HOST=shop.portal.host)
    # A non-ASCII signature was a 500 (the library's compare_digest raises TypeError).
    for signature in ("", "t=1,v1=deadbeef", _signed(payload, "whsec_wrong"), f"t={int(time.time())},v1=é"):
        response = anon.post(url, payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature)
        assert response.status_code == 400
    payment.refresh_from_db()
    invoice.refresh_from_db()
    assert payment.settled_at is None and invoice.balance == Decimal("42.00")
    assert not StripeEvent.objects.filter(event_id="evt_forged").exists()
    assert PaymentAudit.objects.filter(portal=shop.portal, kind="webhook_refused").count() == 4
    # The same event correctly signed is accepted (and the amount is Stripe's, matching ours).
    good = anon.post(
        url,
        payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=_signed(payload, shop.account.webhook_secret),
    )
    assert good.status_code == 200
    assert (
        anon.post(
            url,
            payload,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=_signed(payload, shop.account.webhook_secret),
        ).status_code
        == 200
    )
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID and Payment.objects.filter(invoice=invoice).count() == 1


def test_only_invoices_you_may_see(shop):
    stranger = CustomerFactory(portal=shop.portal, name="Someone Else Ltd")
    theirs = InvoiceFactory(customer=stranger)
    assert shop.start([theirs]).status_code == 404
    other = connect(CustomerFactory().portal, shop.localstripe, register=False)
    foreign = InvoiceFactory(customer=CustomerFactory(portal=other.portal))
    assert shop.start([foreign]).status_code == 404
    assert shop.client.post("/payments/pay/", {"invoice": ["nope"]}).status_code == 404
    assert shop.client.post("/payments/pay/", {}).status_code == 404
    mine = shop.invoice("10.00")
    assert shop.start([mine, theirs]).status_code == 404
    assert not CardPayment.objects.exists()


def test_someone_elses_payment_page_is_404(shop):
    invoice = shop.invoice("10.00")
    response = shop.start([invoice])
    url = response["Location"]
    other = Client(HTTP_HOST=shop.portal.host)
    from tests.factories import UserFactory

    other.force_login(UserFactory(portal=shop.portal, email="bob@example.com"))
    assert other.get(url).status_code == 404
    assert other.post(url + "setup/").status_code == 404


def test_csrf_is_enforced(shop):
    invoice = shop.invoice("10.00")
    strict = Client(HTTP_HOST=shop.portal.host, enforce_csrf_checks=True)
    strict.force_login(shop.user)
    assert strict.post("/payments/pay/", {"invoice": [invoice.pk]}).status_code == 403
    response = shop.start([invoice])
    assert strict.post(response["Location"] + "setup/").status_code == 403


def test_only_the_publishable_key_reaches_the_page(shop):
    invoice = shop.invoice("10.00")
    page = shop.client.get(shop.start([invoice])["Location"])
    body = page.content.decode()
    assert shop.account.publishable_key in body
    assert shop.account.secret_key not in body and shop.account.webhook_secret not in body
    assert shop.localstripe.js_url in body


def test_no_pay_button_without_stripe(client, user, customer):
    invoice = InvoiceFactory(customer=customer)
    client.force_login(user)
    assert b"pay-now" not in client.get(f"/invoices/{invoice.pk}/").content
    assert client.get(f"/payments/pay/?invoice={invoice.pk}").status_code == 404


def test_an_answer_that_is_not_utf8_is_a_friendly_502(shop, settings, docserver):
    """A gateway in front of Stripe answering with a binary page made the Stripe library raise a
    UnicodeDecodeError (while logging it) and every Stripe-backed page a 500."""
    invoice = shop.invoice("30.00")
    payment = CardPayment.objects.get(public_id=shop.start([invoice])["Location"].rstrip("/").split("/")[-1])
    docserver.set(
        "/v1/setup_intents", status=200, headers={"Content-Type": "application/json"}, body=b"\x00\xff\xfe"
    )
    settings.STRIPE_API_BASE = docserver.url("")
    response = shop.client.post(f"/payments/{payment.public_id}/setup/", content_type="application/json")
    assert response.status_code == 502
    assert "could not be reached" in response.json()["error"]
    payment.refresh_from_db()
    assert payment.status == CardPayment.Status.CREATED  # nothing recorded as charged or failed
