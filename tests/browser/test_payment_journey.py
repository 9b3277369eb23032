"""Paying an invoice in Chromium: SSO sign-in at the HaloPSA stand-in, card details typed into
Elements (localstripe's Stripe.js stand-in), the signed webhook settles it, the receipt is in the dev
mailbox, the invoice shows as paid, and the payment is written back to HaloPSA (the stand-in has it)."""

import re

import pytest
from playwright.sync_api import expect

from halo.models import HaloConnection
from halo.sync import halo_sync_run
from payments.models import CardPayment, HaloWriteBack
from portal.devmail import devmail_messages
from tests.browser.conftest import returning_person, shot, sign_in_at_standin
from tests.halo.conftest import invoices
from tests.payments.conftest import connect, wait_for
from tests.stripestub import CARD_OK

pytestmark = pytest.mark.browser


@pytest.fixture
def dev_mailbox(settings, tmp_path):
    settings.DEBUG = True
    settings.EMAIL_BACKEND = "portal.devmail.DevMailboxBackend"
    settings.DEVMAIL_DIR = str(tmp_path / "devmail")
    return tmp_path / "devmail"


def test_pay_an_invoice_with_a_test_card(browser, world, localstripe, settings, dev_mailbox):
    settings.STRIPE_API_BASE = localstripe.base_url
    settings.STRIPE_JS_URL = localstripe.js_url
    # What portal.settings derives from STRIPE_JS_URL/STRIPE_API_BASE when they come from the environment.
    settings.CONTENT_SECURITY_POLICY = {
        directive: [*sources, localstripe.base_url]
        if directive in ("script-src", "connect-src", "frame-src")
        else sources
        for directive, sources in settings.CONTENT_SECURITY_POLICY.items()
    }
    connect(world.portal, localstripe)
    invoice = world.acme_invoices[0]
    # The portal's HaloPSA connection: the invoice is HaloPSA's (adopted by the sync by customer and number).
    standin = world.standin
    standin.add_api_client("portal-pay-browser", "pay-secret")
    standin.seed_api(
        reset=True,
        clients=[{"id": 1, "name": "Acme Ltd"}],
        invoices=[
            {**invoices(1)[0], "id": 7101, "invoicenumber": invoice.number, "total": str(invoice.total)}
        ],
    )
    connection = HaloConnection.objects.create(
        portal=world.portal, api_url=standin.api_url, auth_url=standin.issuer, client_id="portal-pay-browser",
        client_secret="pay-secret", tenant=standin.tenant,
    )  # fmt: skip
    assert halo_sync_run(connection=connection, full=True).status == "ok"
    invoice.refresh_from_db()
    assert invoice.halo_id == 7101
    returning_person(world, world.alice)

    page = browser.new_page()
    page.goto(world.at(f"/invoices/{invoice.pk}/"))
    page.get_by_role("link", name=re.compile("HaloPSA")).click()
    sign_in_at_standin(page, world, world.alice)
    expect(page).to_have_url(world.at(f"/invoices/{invoice.pk}/"))

    page.get_by_role("button", name=re.compile(r"^Pay ")).click()
    expect(page.get_by_role("heading", name="Pay 1 invoice")).to_be_visible()
    page.get_by_role("button", name="Continue to card details").click()
    # localstripe's Element: plain inputs named by placeholder (Stripe's own are in an iframe).
    page.get_by_placeholder("number").fill(CARD_OK)
    page.get_by_placeholder("exp_month").fill("12")
    page.get_by_placeholder("exp_year").fill("30")
    page.get_by_placeholder("cvc").fill("123")
    page.get_by_placeholder("postal_code").fill("10001")
    shot(page, "payment-card-form")
    page.get_by_role("button", name=re.compile(r"^Pay \$")).click()

    expect(page).to_have_url(re.compile(r"/payments/[0-9a-f-]+/result/$"))
    # "processing" until the signed webhook arrives (localstripe sends it after ~1 s); the page refreshes.
    expect(page.get_by_role("heading", name="Payment received")).to_be_visible(timeout=15_000)
    shot(page, "payment-received")
    payment = CardPayment.objects.get()
    assert payment.status == CardPayment.Status.SUCCEEDED and payment.card_last4 == "4242"
    # Written back to HaloPSA, once, with the Stripe intent as thirdpartyid.
    wait_for(
        lambda: HaloWriteBack.objects.filter(card_payment=payment, state="posted").exists(),
        what="the HaloPSA write-back",
    )
    at_halo = [p for p in standin.posted_payments() if p["thirdpartyid"] == payment.payment_intent_id]
    assert len(at_halo) == 1 and at_halo[0]["invoice_id"] == 7101
    assert at_halo[0]["intent_id"] == payment.payment_intent_id

    page.goto(world.at(f"/invoices/{invoice.pk}/"))
    expect(page.locator(".badge.paid").first).to_be_visible()
    expect(page.get_by_text("Visa •••• 4242 (Stripe)")).to_be_visible()

    receipts = [m for m in devmail_messages() if m.subject.startswith("Receipt")]
    assert receipts and invoice.number in receipts[0].text and "4242" in receipts[0].text
    page.goto(world.at("/dev/mailbox/"))
    expect(page.get_by_text(re.compile("Receipt for your payment"))).to_be_visible()
