"""Paying when more than one thing happens at once, or Stripe does not answer: never charged twice,
never blocked for good, never kept waiting."""

import socket
import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from payments.models import CardPayment
from payments.settlement import reconcile_pending
from payments.stripe_api import stripe_client
from portal.models import Invoice, Payment
from tests.payments.conftest import wait_for
from tests.stripestub import CARD_3DS, CARD_OK

pytestmark = pytest.mark.django_db(transaction=True)


def started(shop, invoices, amount=None) -> CardPayment:
    response = shop.start(invoices, amount)
    assert response.status_code == 302, response.content[:300]
    return CardPayment.objects.get(public_id=response["Location"].rstrip("/").split("/")[-1])


def card_and_confirm(shop, payment, card):
    base = f"/payments/{payment.public_id}"
    setup = shop.client.post(f"{base}/setup/", content_type="application/json").json()
    seti = shop.localstripe.confirm_card_setup(setup["client_secret"], card, shop.account.publishable_key)
    return shop.client.post(f"{base}/confirm/", {"setup_intent": seti["id"]}, content_type="application/json")


def test_two_tabs_paying_one_invoice_charge_it_once(shop):
    """Tab A waits on 3-D Secure when tab B presses Pay: B is stopped, A completes, 120.00 is paid once."""
    invoice = shop.invoice("120.00")
    tab_a, tab_b = started(shop, [invoice]), started(shop, [invoice])  # both before either confirms
    a = card_and_confirm(shop, tab_a, CARD_3DS).json()
    assert a["status"] == "requires_action"
    b = card_and_confirm(shop, tab_b, CARD_OK).json()
    assert b["status"] == "canceled" and "nothing was charged" in b["message"]
    tab_b.refresh_from_db()
    assert tab_b.payment_intent_id is None
    shop.localstripe.authenticate(a["client_secret"], success=True)
    shop.wait_settled(tab_a)
    assert [p.amount for p in Payment.objects.filter(invoice=invoice)] == [Decimal("120.00")]
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID


def test_an_abandoned_card_check_is_cancelled_and_the_invoice_can_be_paid(shop, settings):
    invoice = shop.invoice("75.00")
    payment = started(shop, [invoice])
    assert card_and_confirm(shop, payment, CARD_3DS).json()["status"] == "requires_action"
    assert shop.start([invoice]).status_code == 409  # still in progress: the invoice waits
    settings.PAYMENTS_RECONCILE_AFTER_SECONDS = 0
    reconcile_pending()  # not abandoned yet: left alone
    payment.refresh_from_db()
    assert payment.status == CardPayment.Status.REQUIRES_ACTION
    an_hour_ago = timezone.now() - timedelta(hours=1)
    CardPayment.objects.filter(pk=payment.pk).update(updated_at=an_hour_ago)
    reconcile_pending()
    payment.refresh_from_db()
    assert payment.status == CardPayment.Status.CANCELED and "nothing was charged" in payment.failure_message
    intent = stripe_client(account=shop.account).v1.payment_intents.retrieve(payment.payment_intent_id)
    assert intent.status == "canceled"  # a check finished now can charge nothing
    assert shop.start([invoice]).status_code == 302


def test_a_card_check_abandoned_long_ago_is_still_found(shop, settings):
    invoice = shop.invoice("75.00")
    payment = started(shop, [invoice])
    card_and_confirm(shop, payment, CARD_3DS)
    long_ago = timezone.now() - timedelta(days=8)  # past the 7 days a processing payment is asked about
    CardPayment.objects.filter(pk=payment.pk).update(created_at=long_ago, updated_at=long_ago)
    settings.PAYMENTS_RECONCILE_AFTER_SECONDS = 0
    reconcile_pending()
    assert shop.start([invoice]).status_code == 302


class Silent:
    """A TCP server that accepts connections and never answers: a hung Stripe."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.conns, self.stop = [], threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            try:
                self.conns.append(self.sock.accept()[0])
            except OSError:
                continue

    @property
    def url(self):
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def close(self):
        self.stop.set()
        self.thread.join(timeout=5)
        for conn in self.conns:
            conn.close()
        self.sock.close()


@pytest.fixture
def hung_stripe(settings):
    settings.PAYMENTS_INTERACTIVE_SECONDS = 1.0  # each Stripe call alone may take STRIPE_TIMEOUT (8 s)
    server = Silent()
    yield server
    server.close()


def test_a_hung_stripe_gets_the_card_form_a_friendly_error_within_the_budget(shop, hung_stripe, settings):
    payment = started(shop, [shop.invoice("50.00")])
    settings.STRIPE_API_BASE = hung_stripe.url
    began = time.monotonic()
    response = shop.client.post(f"/payments/{payment.public_id}/setup/", content_type="application/json")
    assert response.status_code == 502
    assert time.monotonic() - began < settings.STRIPE_TIMEOUT  # not even one call's own timeout


def test_a_hung_stripe_after_pay_answers_within_the_budget_and_pay_again_charges_once(
    shop, hung_stripe, settings
):
    payment = started(shop, [shop.invoice("50.00")])
    base = f"/payments/{payment.public_id}"
    setup = shop.client.post(f"{base}/setup/", content_type="application/json").json()
    seti = shop.localstripe.confirm_card_setup(setup["client_secret"], CARD_OK, shop.account.publishable_key)
    real_base, settings.STRIPE_API_BASE = settings.STRIPE_API_BASE, hung_stripe.url
    began = time.monotonic()
    response = shop.client.post(
        f"{base}/confirm/", {"setup_intent": seti["id"]}, content_type="application/json"
    )
    assert response.status_code == 502
    assert time.monotonic() - began < settings.STRIPE_TIMEOUT
    settings.STRIPE_API_BASE = real_base  # Stripe is back: Pay again
    again = shop.client.post(
        f"{base}/confirm/", {"setup_intent": seti["id"]}, content_type="application/json"
    )
    assert again.json()["status"] == "processing"
    shop.wait_settled(payment)
    assert wait_for(lambda: Payment.objects.filter(invoice__customer=shop.customer).count() == 1)


def test_a_hung_stripe_answers_the_saved_cards_page_and_the_admin_within_the_budget(
    shop, hung_stripe, settings
):
    """Saving a card makes two Stripe calls, the admin's test loops over accounts: each path gets one
    budget in all, not one per call (each call alone waits STRIPE_TIMEOUT, and the library retries)."""
    from django.contrib.auth.models import Permission

    from tests.factories import UserFactory

    shop.account.allow_saved_cards = True
    shop.account.save(update_fields=["allow_saved_cards"])
    settings.STRIPE_API_BASE = hung_stripe.url
    staff = UserFactory(portal=shop.portal, email="it@acme-msp.example", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label="payments"))
    admin = type(shop.client)(HTTP_HOST=shop.portal.host)
    admin.force_login(staff)
    for label, call in (
        ("card setup", lambda: shop.client.post(f"/payments/cards/{shop.customer.pk}/setup/")),
        (
            "card confirm",
            lambda: shop.client.post(
                f"/payments/cards/{shop.customer.pk}/confirm/",
                {"setup_intent": "seti_x"},
                content_type="application/json",
            ),
        ),
        (
            "admin test",
            lambda: admin.post(
                "/admin/payments/stripeaccount/",
                {"action": "test_connection_action", "_selected_action": [shop.account.pk]},
            ),
        ),
    ):
        began = time.monotonic()
        response = call()
        elapsed = time.monotonic() - began
        assert response.status_code in (200, 302, 502), (label, response.status_code)
        assert elapsed < settings.PAYMENTS_INTERACTIVE_SECONDS + 2, (label, elapsed)
