"""Saved cards and AutoPay against localstripe: consent recorded, due-date charges off-session
exactly once per invoice, retries +1/+3/+7 days then give up and tell the customer and the MSP.

The clock is frozen by handing ``autopay_run`` its ``today`` (what the daily beat task passes)."""

import datetime
from decimal import Decimal

import pytest
from django.core import mail
from django.db import IntegrityError, transaction
from django.utils.html import escape

from payments.autopay import autopay_run
from payments.models import AutoPay, AutoPayCharge, CardPayment, PaymentAudit, SavedCard
from payments.stripe_api import stripe_client
from portal.models import Invoice
from tests.payments.conftest import wait_for
from tests.stripestub import CARD_3DS, CARD_DECLINED_ON_CHARGE, CARD_OK

pytestmark = pytest.mark.django_db(transaction=True)
DUE = datetime.date(2027, 3, 15)


def _save_card(shop, number=CARD_OK) -> SavedCard:
    shop.account.allow_saved_cards = True
    shop.account.save()
    base = f"/payments/cards/{shop.customer.pk}"
    setup = shop.client.post(f"{base}/setup/", content_type="application/json").json()
    seti = shop.localstripe.confirm_card_setup(setup["client_secret"], number, shop.account.publishable_key)
    saved = shop.client.post(
        f"{base}/confirm/", {"setup_intent": seti["id"]}, content_type="application/json"
    )
    assert saved.status_code == 200, saved.content
    return SavedCard.objects.get(customer=shop.customer, last4=number[-4:], removed_at__isnull=True)


def _enable(shop, card) -> AutoPay:
    page = shop.client.get("/payments/cards/")
    text = page.context["rows"][0]["autopay_text"]
    assert escape(text).encode() in page.content
    response = shop.client.post(
        f"/payments/autopay/{shop.customer.pk}/on/",
        {"card": card.pk, "consent": "yes", "authorisation_text": text},
        REMOTE_ADDR="203.0.113.7",
    )
    assert response.status_code == 302
    autopay = AutoPay.objects.get(customer=shop.customer, disabled_at__isnull=True)
    # AutoPay covers invoices falling due after consent; consent is backdated to before DUE here.
    AutoPay.objects.filter(pk=autopay.pk).update(
        authorised_at=autopay.authorised_at.replace(year=2027, month=1)
    )
    return autopay


def _mails(subject_part):
    return [m for m in mail.outbox if subject_part in m.subject]


def test_save_card_and_autopay_consent_is_recorded(shop):
    card = _save_card(shop)
    assert card.brand == "visa" and card.last4 == "4242" and card.added_by == shop.user
    autopay = _enable(shop, card)
    assert autopay.authorised_by == shop.user and autopay.authorised_email == "alice@example.com"
    assert autopay.authorised_ip == "203.0.113.7"
    assert "Acme Managed IT" in autopay.authorisation_text and "Acme Ltd" in autopay.authorisation_text
    assert PaymentAudit.objects.filter(kind="autopay_enabled", user=shop.user, ip="203.0.113.7").exists()


def test_consent_needs_the_box_and_the_text_as_shown(shop):
    card = _save_card(shop)
    shop.client.post(
        f"/payments/autopay/{shop.customer.pk}/on/", {"card": card.pk, "authorisation_text": "x"}
    )
    shop.client.post(
        f"/payments/autopay/{shop.customer.pk}/on/",
        {"card": card.pk, "consent": "yes", "authorisation_text": "other"},
    )
    assert not AutoPay.objects.exists()


def test_autopay_charges_on_the_due_date_exactly_once(shop):
    card = _save_card(shop)
    _enable(shop, card)
    invoice = shop.invoice("250.00", issued_on=DUE - datetime.timedelta(days=30), due_on=DUE)
    autopay_run(today=DUE - datetime.timedelta(days=3))
    wait_for(lambda: _mails("AutoPay will charge"), what="the upcoming-charge notice")
    autopay_run(today=DUE - datetime.timedelta(days=2))
    assert len(_mails("AutoPay will charge")) == 1  # one notice per invoice
    autopay_run(today=DUE - datetime.timedelta(days=1))
    assert not CardPayment.objects.exists()

    autopay_run(today=DUE)
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID and invoice.balance == 0
    charge = AutoPayCharge.objects.get(invoice=invoice)
    assert charge.state == AutoPayCharge.State.SUCCEEDED and charge.attempts == 1
    payment = CardPayment.objects.get()
    assert payment.kind == CardPayment.Kind.AUTOPAY and payment.amount == Decimal("250.00")
    intent = stripe_client(account=shop.account).v1.payment_intents.retrieve(payment.payment_intent_id)
    assert intent.status == "succeeded" and intent.amount == 25000

    autopay_run(today=DUE)
    autopay_run(today=DUE + datetime.timedelta(days=1))
    assert CardPayment.objects.count() == 1
    with pytest.raises(IntegrityError), transaction.atomic():
        AutoPayCharge.objects.create(invoice=invoice, autopay=charge.autopay)
    wait_for(lambda: _mails("Receipt"), what="the receipt")


def test_autopay_failure_retries_then_gives_up_and_tells_both(shop):
    card = _save_card(shop, CARD_DECLINED_ON_CHARGE)
    _enable(shop, card)
    invoice = shop.invoice("99.00", issued_on=DUE - datetime.timedelta(days=30), due_on=DUE)
    expected_next = [DUE + datetime.timedelta(days=d) for d in (1, 3, 7)]
    autopay_run(today=DUE)
    charge = AutoPayCharge.objects.get(invoice=invoice)
    assert charge.attempts == 1 and charge.next_attempt_on == expected_next[0]
    autopay_run(today=DUE)  # same day again: no second attempt
    assert AutoPayCharge.objects.get(pk=charge.pk).attempts == 1
    for attempt, day in enumerate(expected_next, start=2):
        autopay_run(today=day - datetime.timedelta(days=1) if attempt > 2 else day)
        if attempt > 2:
            assert AutoPayCharge.objects.get(pk=charge.pk).attempts == attempt - 1  # not yet
            autopay_run(today=day)
        charge.refresh_from_db()
        assert charge.attempts == attempt
    assert charge.state == AutoPayCharge.State.GAVE_UP and charge.next_attempt_on is None
    autopay_run(today=DUE + datetime.timedelta(days=30))
    assert CardPayment.objects.filter(kind=CardPayment.Kind.AUTOPAY).count() == 4
    assert CardPayment.objects.filter(status=CardPayment.Status.FAILED).count() == 4
    invoice.refresh_from_db()
    assert invoice.balance == Decimal("99.00")
    gave_up = wait_for(lambda: len(_mails("AutoPay could not pay")) == 2 and _mails("AutoPay could not pay"))
    assert sorted(m.to[0] for m in gave_up) == ["alice@example.com", "billing@acme-msp.example"]
    assert len(_mails("did not go through")) == 4


def test_remove_card_detaches_it_and_stops_autopay(shop):
    card = _save_card(shop)
    _enable(shop, card)
    assert shop.client.post(f"/payments/cards/remove/{card.pk}/").status_code == 302
    card.refresh_from_db()
    assert card.removed_at is not None
    assert not AutoPay.objects.filter(disabled_at__isnull=True).exists()
    method = stripe_client(account=shop.account).v1.payment_methods.retrieve(card.payment_method_id)
    assert method.customer is None


def test_cards_of_customers_you_cannot_see_are_404(shop):
    from tests.factories import CustomerFactory

    shop.account.allow_saved_cards = True
    shop.account.save()
    stranger = CustomerFactory(portal=shop.portal)
    assert shop.client.post(f"/payments/cards/{stranger.pk}/setup/").status_code == 404
    assert shop.client.post(f"/payments/autopay/{stranger.pk}/on/", {"consent": "yes"}).status_code == 404


def test_autopay_waits_while_the_customer_is_paying_the_invoice_by_card(shop):
    """The customer is in a 3-D Secure check for the invoice on its due date: AutoPay charges nothing
    then, and charges it on a later run once that payment has ended without paying it."""
    card = _save_card(shop)
    _enable(shop, card)
    invoice = shop.invoice("250.00", issued_on=DUE - datetime.timedelta(days=30), due_on=DUE)
    response = shop.start([invoice])
    manual = CardPayment.objects.get(public_id=response["Location"].rstrip("/").split("/")[-1])
    setup = shop.client.post(f"/payments/{manual.public_id}/setup/", content_type="application/json").json()
    seti = shop.localstripe.confirm_card_setup(setup["client_secret"], CARD_3DS, shop.account.publishable_key)
    confirm = shop.client.post(
        f"/payments/{manual.public_id}/confirm/",
        {"setup_intent": seti["id"]},
        content_type="application/json",
    )
    assert confirm.json()["status"] == "requires_action"  # the check is open in the customer's browser
    autopay_run(today=DUE)
    assert list(CardPayment.objects.values_list("kind", flat=True)) == [CardPayment.Kind.ONE_OFF]
    assert AutoPayCharge.objects.get(invoice=invoice).attempts == 0
    CardPayment.objects.filter(pk=manual.pk).update(status=CardPayment.Status.CANCELED)
    autopay_run(today=DUE + datetime.timedelta(days=1))
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
