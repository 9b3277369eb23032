"""A portal served by pytest-django's ``live_server`` (so localstripe can deliver signed webhooks to
it), connected to the session's localstripe, with one signed-in customer contact."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.test import Client

from payments.connection import stripe_account_connect
from payments.models import CardPayment, StripeAccount
from portal.models import Customer, Invoice, Portal
from tests.factories import ContactFactory, CustomerFactory, InvoiceFactory, PortalFactory, UserFactory
from tests.stripestub import CARD_OK, LocalStripe

WAIT_SECONDS = 15.0

#: Amounts Python's Decimal reads as numbers but a person did not type as one: Arabic-Indic, Persian and
#: full-width 10 (Decimal reads each as 10), an exponent, signs, a decimal comma, NaN, three decimals.
NOT_TYPED_AMOUNTS = [
    "\u0661\u0660",
    "\u06f1\u06f0",
    "\uff11\uff10",
    "1e1",
    "+10",
    "-10",
    "1,50",
    "NaN",
    "10.001",
]


def wait_for(predicate, timeout: float = WAIT_SECONDS, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@dataclass
class Shop:
    portal: Portal
    customer: Customer
    account: StripeAccount
    client: Client
    localstripe: LocalStripe
    user: object

    def invoice(self, total="120.00", **kwargs) -> Invoice:
        return InvoiceFactory(customer=kwargs.pop("customer", self.customer), total=Decimal(total), **kwargs)

    def start(self, invoices, amount: str | None = None):
        data = {"invoice": [i.pk for i in invoices]}
        if amount is not None:
            data["amount"] = amount
        return self.client.post("/payments/pay/", data)

    def pay(self, invoices, *, card: str = CARD_OK, amount: str | None = None, authenticate: bool = True):
        """The whole browser side: start, Elements card entry (localstripe), confirm, 3-D Secure."""
        response = self.start(invoices, amount)
        assert response.status_code == 302, response.content[:500]
        payment = CardPayment.objects.get(public_id=response["Location"].rstrip("/").split("/")[-1])
        base = f"/payments/{payment.public_id}"
        assert self.client.get(f"{base}/").status_code == 200
        setup = self.client.post(f"{base}/setup/", content_type="application/json").json()
        seti = self.localstripe.confirm_card_setup(setup["client_secret"], card, self.account.publishable_key)
        if "error" in seti:
            return payment, {"setup_error": seti["error"]}
        outcome = self.client.post(
            f"{base}/confirm/", {"setup_intent": seti["id"]}, content_type="application/json"
        ).json()
        if outcome.get("status") == "requires_action":
            self.localstripe.authenticate(outcome["client_secret"], success=authenticate)
        payment.refresh_from_db()
        return payment, outcome

    def wait_settled(self, payment: CardPayment) -> CardPayment:
        return wait_for(
            lambda: CardPayment.objects.filter(pk=payment.pk, settled_at__isnull=False).first(),
            what="the payment_intent.succeeded webhook",
        )


@pytest.fixture
def stripe_settings(settings, localstripe):
    settings.STRIPE_API_BASE = localstripe.base_url
    settings.STRIPE_JS_URL = localstripe.js_url
    return settings


def connect(portal: Portal, localstripe: LocalStripe, *, register: bool = True, **kwargs) -> StripeAccount:
    secret = f"whsec_{secrets.token_hex(12)}"
    account = stripe_account_connect(
        portal=portal,
        secret_key=f"sk_test_{secrets.token_hex(8)}",
        publishable_key=f"pk_test_{secrets.token_hex(8)}",
        webhook_secret=secret,
        **kwargs,
    )
    if register:
        localstripe.register_webhook(account.webhook_url, secret)
    return account


@pytest.fixture
def shop(live_server, stripe_settings, localstripe, transactional_db) -> Shop:
    portal = PortalFactory(
        name="Acme Managed IT", url=live_server.url, support_email="billing@acme-msp.example"
    )
    customer = CustomerFactory(portal=portal, name="Acme Ltd")
    ContactFactory(customer=customer, email="alice@example.com", name="Alice")
    user = UserFactory(portal=portal, email="alice@example.com")
    account = connect(portal, localstripe, allow_partial=True)
    client = Client(HTTP_HOST=portal.host)
    client.force_login(user)
    return Shop(
        portal=portal, customer=customer, account=account, client=client, localstripe=localstripe, user=user
    )
