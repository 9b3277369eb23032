"""AutoPay edge cases from an outside audit, against localstripe: a lost create answer charges and
settles once; the portal's currencies and *customers may save cards* are obeyed; a retry follows a
card change; AutoPay turned off stops the charge quietly; a double click on "Turn AutoPay on"."""

import datetime
import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from payments.autopay import autopay_enable, autopay_run, autopay_text_for
from payments.models import AutoPay, AutoPayCharge, CardPayment, PaymentNotice
from portal.models import Invoice, Payment
from tests.payments.test_autopay import _enable, _save_card
from tests.payments.test_lost_answer import Proxy
from tests.payments.test_webhook_events import _post_event
from tests.stripestub import CARD_DECLINED_ON_CHARGE, CARD_OK

pytestmark = pytest.mark.django_db(transaction=True)
DUE = datetime.date(2027, 3, 15)
LOST_ANSWER_MESSAGE = (
    "The payment service did not answer and has no record of this charge; nothing was charged."
)
PORTAL_OFF_MESSAGE = "This portal no longer offers AutoPay."
TURNED_OFF_MESSAGE = "AutoPay was turned off."
CLOSED_PORT = "http://127.0.0.1:9"  # nothing listens: connection refused at once


def _invoice(shop, total="250.00", **kwargs) -> Invoice:
    return shop.invoice(total, issued_on=DUE - datetime.timedelta(days=30), due_on=DUE, **kwargs)


def _day(n: int) -> datetime.date:
    return DUE + datetime.timedelta(days=n)


def _succeeded_intents(shop, charge) -> list[dict]:
    intents = shop.localstripe.payment_intents(shop.account.secret_key, autopay_charge=str(charge.pk))
    return [i for i in intents if i["status"] == "succeeded"]


def _gave_up_notices(invoice) -> int:
    return PaymentNotice.objects.filter(invoice=invoice, kind=PaymentNotice.Kind.AUTOPAY_GAVE_UP).count()


@pytest.fixture
def lossy_api(shop, settings):
    """The portal's Stripe calls through a proxy that can lose a create; webhooks go nowhere (late)."""
    shop.localstripe.register_webhook(CLOSED_PORT + "/", shop.account.webhook_secret)
    proxy = Proxy(shop.localstripe.base_url)
    try:
        settings.STRIPE_API_BASE = proxy.url
        yield proxy
    finally:
        proxy.close()


def test_lost_answer_is_found_next_run_and_settles_once(shop, lossy_api):
    """Stripe charged but its answer was lost: no retry charges again; the next run finds the intent
    by its metadata and settles it; the late webhook of that intent changes nothing."""
    _enable(shop, _save_card(shop))
    invoice = _invoice(shop, "40.00")
    lossy_api.lose = "answer"
    autopay_run(today=DUE)
    lossy_api.heal()
    charge = AutoPayCharge.objects.get(invoice=invoice)
    payment = CardPayment.objects.get(kind=CardPayment.Kind.AUTOPAY)
    assert charge.state == AutoPayCharge.State.CHARGING and charge.attempts == 1
    assert payment.status == CardPayment.Status.PROCESSING and payment.payment_intent_id is None
    [intent] = _succeeded_intents(shop, charge)  # charged at Stripe; we were not told

    autopay_run(today=_day(1))
    charge.refresh_from_db()
    payment.refresh_from_db()
    invoice.refresh_from_db()
    assert charge.state == AutoPayCharge.State.SUCCEEDED and charge.attempts == 1
    assert payment.payment_intent_id == intent["id"] and payment.status == CardPayment.Status.SUCCEEDED
    assert invoice.status == Invoice.Status.PAID and invoice.balance == 0
    for day in (3, 7, 8):
        autopay_run(today=_day(day))
    assert [i["id"] for i in _succeeded_intents(shop, charge)] == [intent["id"]]
    assert CardPayment.objects.count() == 1

    assert _post_event(shop, "payment_intent.succeeded", intent, "evt_autopay_late_1").status_code == 200
    assert [p.amount for p in Payment.objects.filter(invoice=invoice)] == [Decimal("40.00")]


def test_lost_request_fails_after_the_grace_and_is_retried(shop, lossy_api, settings):
    """Nothing reached Stripe: while Stripe cannot be asked, or within the grace, the charge waits;
    then the payment fails (nothing charged) and the next scheduled attempt pays the invoice once."""
    _enable(shop, _save_card(shop))
    invoice = _invoice(shop, "64.10")
    lossy_api.lose = "request"
    autopay_run(today=DUE)
    lossy_api.heal()
    charge = AutoPayCharge.objects.get(invoice=invoice)
    assert charge.state == AutoPayCharge.State.CHARGING
    autopay_run(today=DUE)  # within the grace: not yet given up on
    assert AutoPayCharge.objects.get(pk=charge.pk).state == AutoPayCharge.State.CHARGING

    first = CardPayment.objects.get()
    CardPayment.objects.filter(pk=first.pk).update(created_at=timezone.now() - datetime.timedelta(minutes=11))
    settings.STRIPE_API_BASE = CLOSED_PORT  # the look-up itself unanswered: left for the next run
    autopay_run(today=_day(1))
    first.refresh_from_db()
    assert first.status == CardPayment.Status.PROCESSING
    assert AutoPayCharge.objects.get(pk=charge.pk).state == AutoPayCharge.State.CHARGING

    settings.STRIPE_API_BASE = lossy_api.url
    autopay_run(today=_day(1))
    first.refresh_from_db()
    charge.refresh_from_db()
    assert first.status == CardPayment.Status.FAILED and first.failure_message == LOST_ANSWER_MESSAGE
    assert charge.state == AutoPayCharge.State.SCHEDULED and charge.next_attempt_on == _day(2)
    assert _succeeded_intents(shop, charge) == []

    autopay_run(today=_day(2))
    invoice.refresh_from_db()
    charge.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    assert charge.state == AutoPayCharge.State.SUCCEEDED and charge.attempts == 2
    assert len(_succeeded_intents(shop, charge)) == 1


def test_currency_the_portal_does_not_take_is_not_charged(shop):
    shop.account.currencies = "USD"
    shop.account.save()
    _enable(shop, _save_card(shop))
    invoice = _invoice(shop, "80.00", currency="EUR")
    autopay_run(today=DUE)
    assert not CardPayment.objects.exists()
    charge = AutoPayCharge.objects.get(invoice=invoice)
    assert charge.last_error == "This portal does not take card payments in EUR."
    assert charge.attempts == 1 and charge.state == AutoPayCharge.State.SCHEDULED


def test_saved_cards_off_at_the_portal_stops_autopay(shop):
    """*Customers may save cards (and use AutoPay)* turned off: nothing is scheduled or charged, and a
    charge already scheduled stops without the "could not pay" notice."""
    autopay = _enable(shop, _save_card(shop))
    scheduled = _invoice(shop, "30.00", number="AP-1")
    AutoPayCharge.objects.create(invoice=scheduled, autopay=autopay, next_attempt_on=DUE)
    later = _invoice(shop, "50.00", number="AP-2")
    shop.account.allow_saved_cards = False
    shop.account.save()
    for day in (0, 1, 3, 7, 8):
        autopay_run(today=_day(day))
    assert not CardPayment.objects.exists()
    assert not AutoPayCharge.objects.filter(invoice=later).exists()
    charge = AutoPayCharge.objects.get(invoice=scheduled)
    assert charge.state == AutoPayCharge.State.GAVE_UP and charge.last_error == PORTAL_OFF_MESSAGE
    assert charge.attempts == 0 and _gave_up_notices(scheduled) == 0


def test_retry_after_a_card_change_charges_the_new_card(shop):
    """Card A declines on the due date; the customer removes A, saves B and turns AutoPay on with B:
    the retry charges B under the new AutoPay."""
    _enable(shop, _save_card(shop, CARD_DECLINED_ON_CHARGE))
    old_card = AutoPay.objects.get().card
    invoice = _invoice(shop, "99.00")
    autopay_run(today=DUE)
    assert AutoPayCharge.objects.get(invoice=invoice).attempts == 1
    assert shop.client.post(f"/payments/cards/remove/{old_card.pk}/").status_code == 302
    new = _enable(shop, _save_card(shop, CARD_OK))
    autopay_run(today=_day(1))
    invoice.refresh_from_db()
    charge = AutoPayCharge.objects.get(invoice=invoice)
    assert invoice.status == Invoice.Status.PAID, charge.last_error
    assert charge.state == AutoPayCharge.State.SUCCEEDED and charge.autopay_id == new.pk
    assert charge.attempts == 2 and _gave_up_notices(invoice) == 0
    assert CardPayment.objects.get(status=CardPayment.Status.SUCCEEDED).card_last4 == CARD_OK[-4:]


def test_autopay_turned_off_stops_the_retries_without_could_not_pay(shop):
    _enable(shop, _save_card(shop, CARD_DECLINED_ON_CHARGE))
    invoice = _invoice(shop, "99.00")
    autopay_run(today=DUE)
    assert shop.client.post(f"/payments/autopay/{shop.customer.pk}/off/").status_code == 302
    for day in (1, 3, 7, 8):
        autopay_run(today=_day(day))
    charge = AutoPayCharge.objects.get(invoice=invoice)
    assert charge.state == AutoPayCharge.State.GAVE_UP and charge.next_attempt_on is None
    assert charge.last_error == TURNED_OFF_MESSAGE and charge.attempts == 1
    assert CardPayment.objects.count() == 1 and _gave_up_notices(invoice) == 0


def _click_on(shop, card, text, results):
    client = Client(HTTP_HOST=shop.portal.host, raise_request_exception=False)
    client.force_login(shop.user)
    try:
        response = client.post(
            f"/payments/autopay/{shop.customer.pk}/on/",
            {"card": card.pk, "consent": "yes", "authorisation_text": text},
        )
        results.append(response.status_code)
    finally:
        connection.close()


def test_second_click_while_the_first_is_still_saving_replaces_it(shop):
    """The first click's transaction is still open when the second arrives: the second waits for it,
    then turns it off and takes its place (a redirect, never a 500 on the one-active constraint)."""
    card = _save_card(shop)
    text = autopay_text_for(account=shop.account, customer=shop.customer)
    saved, release, results = threading.Event(), threading.Event(), []

    def first_click():
        from django.db import transaction

        try:
            with transaction.atomic():
                autopay_enable(
                    account=shop.account, customer=shop.customer, card=card, user=shop.user, ip=None,
                    shown_text=text,
                )  # fmt: skip
                saved.set()
                release.wait(timeout=10)
        finally:
            connection.close()

    first = threading.Thread(target=first_click)
    first.start()
    assert saved.wait(timeout=10)
    second = threading.Thread(target=_click_on, args=(shop, card, text, results))
    second.start()
    second.join(timeout=1.5)  # it waits on the first click's lock
    release.set()
    first.join(timeout=20)
    second.join(timeout=20)
    assert not first.is_alive() and not second.is_alive()
    assert results == [302]
    assert AutoPay.objects.count() == 2
    assert AutoPay.objects.filter(disabled_at__isnull=True).count() == 1
