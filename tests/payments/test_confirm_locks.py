"""Pay's confirm waits on Stripe (up to ``PAYMENTS_INTERACTIVE_SECONDS``) with no row locked and no
transaction open: a webhook, a second tab or a double click meanwhile is answered instead of waiting on
the payment's or the invoice's row into the web statement timeout (a 503). Still one charge.

Stripe is localstripe behind the loopback proxy of ``test_lost_answer`` (``hold()`` keeps the portal's
Stripe calls waiting, a slow Stripe); a second database connection probes the rows with a short
``lock_timeout`` (``tests.rowlocks``). Nothing of ours is mocked.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from payments.models import CardPayment
from portal.models import Invoice, Payment
from tests.payments.conftest import wait_for
from tests.payments.test_lost_answer import Proxy
from tests.rowlocks import InThread, row_lockable, transactions_open_elsewhere
from tests.stripestub import CARD_OK

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def slow_stripe(shop, settings):
    """The portal's Stripe API calls through a proxy that can hold them."""
    api = Proxy(shop.localstripe.base_url)
    settings.STRIPE_API_BASE = api.url
    try:
        yield api
    finally:
        api.close()


def _card_entered(shop, invoice):
    """Start a payment and enter the card (Elements, to localstripe): what Pay then confirms."""
    response = shop.start([invoice])
    assert response.status_code == 302, response.content[:300]
    payment = CardPayment.objects.get(public_id=response["Location"].rstrip("/").split("/")[-1])
    setup = shop.client.post(f"/payments/{payment.public_id}/setup/", content_type="application/json").json()
    seti = shop.localstripe.confirm_card_setup(setup["client_secret"], CARD_OK, shop.account.publishable_key)
    assert seti.get("status") == "succeeded", seti
    return payment, seti["id"]


def _confirm(shop, payment, setup_intent_id):
    return shop.client.post(
        f"/payments/{payment.public_id}/confirm/",
        {"setup_intent": setup_intent_id},
        content_type="application/json",
    )


def test_a_slow_stripe_holds_no_row_locked_while_pay_waits_and_charges_once(shop, slow_stripe):
    invoice = shop.invoice("120.00")
    payment, seti = _card_entered(shop, invoice)
    tab_b, seti_b = _card_entered(shop, invoice)  # another tab, same invoice, card entered too
    slow_stripe.hold()
    try:
        first = InThread(lambda: _confirm(shop, payment, seti))
        wait_for(lambda: slow_stripe.in_flight >= 1, timeout=10, what="the confirm calling Stripe")
        assert first.running()
        assert row_lockable(CardPayment, payment.pk), "the payment's row is locked while Stripe answers"
        assert row_lockable(Invoice, invoice.pk), "the invoice's row is locked while Stripe answers"
        assert transactions_open_elsewhere() == 0
        other = _confirm(shop, tab_b, seti_b).json()  # answered now, not after Stripe's answer
        assert other["status"] == "canceled" and "nothing was charged" in other["message"]
        assert first.running()
    finally:
        slow_stripe.release()
    response = first.result()
    assert response.status_code == 200, response.content[:300]
    assert response.json()["status"] == "processing"
    assert len(slow_stripe.creates) == 1
    shop.wait_settled(payment)
    assert [p.amount for p in Payment.objects.filter(invoice=invoice)] == [payment.amount]


def test_a_double_click_while_stripe_is_slow_charges_once_and_both_get_the_answer(shop, slow_stripe):
    invoice = shop.invoice("80.00")
    payment, seti = _card_entered(shop, invoice)
    slow_stripe.hold()
    try:
        first = InThread(lambda: _confirm(shop, payment, seti))
        wait_for(lambda: slow_stripe.in_flight >= 1, timeout=10, what="the confirm calling Stripe")
        second = InThread(lambda: _confirm(shop, payment, seti))
        wait_for(lambda: row_lockable(CardPayment, payment.pk), timeout=5, what="the payment's row free")
        assert first.running() and second.running()
    finally:
        slow_stripe.release()
    answers = [first.result(), second.result()]
    assert [a.status_code for a in answers] == [200, 200], [a.content[:300] for a in answers]
    assert {a.json()["status"] for a in answers} == {"processing"}
    assert len(slow_stripe.creates) == 1  # one PaymentIntent create: one charge
    shop.wait_settled(payment)
    payment.refresh_from_db()
    assert [p.amount for p in Payment.objects.filter(invoice=invoice)] == [Decimal("80.00")]
