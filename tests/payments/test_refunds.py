"""Refunds by portal administrators through the admin, full or partial, via localstripe."""

import threading
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client

from payments.models import CardPayment, CardRefund, PaymentAudit
from payments.stripe_api import stripe_client
from portal.money import AMOUNT_MESSAGE
from portal.permissions import portal_admin_group_ensure, portal_staff_user_ensure
from tests.factories import PortalFactory, UserFactory
from tests.payments.conftest import NOT_TYPED_AMOUNTS

pytestmark = pytest.mark.django_db(transaction=True)


def _admin_client(portal, email="admin@acme-msp.example"):
    portal_admin_group_ensure()
    staff, _created = portal_staff_user_ensure(portal=portal, email=email, password="staff-password-123")
    client = Client(HTTP_HOST=portal.host)
    client.force_login(staff)
    return client, staff


def _refund_page(shop, total: str):
    """A settled card payment of ``total``, and a portal admin with the URL of its refund page."""
    payment, _ = shop.pay([shop.invoice(total)])
    shop.wait_settled(payment)
    admin, staff = _admin_client(shop.portal)
    return payment, admin, staff, f"/admin/payments/cardpayment/{payment.pk}/refund/"


def test_partial_then_full_refund_with_audit_rows(shop):
    payment, admin, staff, url = _refund_page(shop, "100.00")
    assert admin.get(url).status_code == 200
    too_much = admin.post(url, {"amount": "100.01"})
    assert too_much.status_code == 200 and b"between 0.01 and 100.00" in too_much.content
    assert admin.post(url, {"amount": "30.00"}).status_code == 302
    payment.refresh_from_db()
    assert payment.amount_refunded == Decimal("30.00")
    assert admin.post(url, {"amount": ""}).status_code == 302  # the rest
    payment.refresh_from_db()
    assert payment.amount_refunded == Decimal("100.00")
    assert admin.post(url, {"amount": "1.00"}).status_code == 200  # nothing left
    refunds = stripe_client(account=shop.account).v1.refunds.list(
        params={"payment_intent": payment.payment_intent_id}
    )
    assert sorted(r.amount for r in refunds.data) == [3000, 7000]
    assert set(CardRefund.objects.values_list("stripe_refund_id", flat=True)) == {r.id for r in refunds.data}
    audits = PaymentAudit.objects.filter(kind="refund", card_payment=payment)
    assert audits.count() == 2 and all(a.user == staff for a in audits)


def test_a_refund_amount_is_ascii_digits_or_a_form_error(shop):
    payment, admin, _staff, url = _refund_page(shop, "100.00")
    for amount in NOT_TYPED_AMOUNTS:
        response = admin.post(url, {"amount": amount})
        assert response.status_code == 200, amount
        assert response.context["form"].errors["amount"] == [AMOUNT_MESSAGE], amount
    payment.refresh_from_db()
    assert payment.amount_refunded == Decimal("0")
    assert not CardRefund.objects.filter(card_payment=payment).exists()
    assert admin.post(url, {"amount": "10.5"}).status_code == 302  # one decimal is fine
    payment.refresh_from_db()
    assert payment.amount_refunded == Decimal("10.50")


def test_other_portals_admin_cannot_refund(shop):
    invoice = shop.invoice("10.00")
    payment, _ = shop.pay([invoice])
    shop.wait_settled(payment)
    other = PortalFactory(name="Globex", url="http://globex.localhost")
    admin, _ = _admin_client(other, email="admin@globex.example")
    assert admin.post(f"/admin/payments/cardpayment/{payment.pk}/refund/", {"amount": "5"}).status_code == 404
    assert admin.get(f"/admin/payments/cardpayment/{payment.pk}/change/").status_code == 404
    assert CardPayment.objects.get(pk=payment.pk).amount_refunded == 0


def test_view_only_staff_cannot_refund(shop):
    """Refunding needs change permission on card payments: view permission only shows them."""
    invoice = shop.invoice("40.00")
    payment, _ = shop.pay([invoice])
    shop.wait_settled(payment)
    viewer = UserFactory(portal=shop.portal, email="viewer@acme-msp.example", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_cardpayment"))
    admin = Client(HTTP_HOST=shop.portal.host)
    admin.force_login(viewer)
    admin.raise_request_exception = False
    url = f"/admin/payments/cardpayment/{payment.pk}/refund/"
    assert admin.get(f"/admin/payments/cardpayment/{payment.pk}/change/").status_code == 200
    assert admin.get(url).status_code == 403
    assert admin.post(url, {"amount": "10.00"}).status_code == 403
    payment.refresh_from_db()
    assert payment.amount_refunded == Decimal("0")
    assert not CardRefund.objects.filter(card_payment=payment).exists()
    assert not PaymentAudit.objects.filter(kind="refund", card_payment=payment).exists()


def test_a_refund_recorded_before_the_payment_settled_is_applied_at_settlement(shop, localstripe):
    """Stripe's events come in any order: ``charge.refunded`` before ``payment_intent.succeeded``
    must still give the money back on the invoice once the payment settles."""
    from payments.money import to_minor
    from payments.refunds import card_refund_record
    from payments.settlement import card_payment_settle_success
    from portal.models import Invoice, Payment

    localstripe.register_webhook("http://127.0.0.1:9/lost", "whsec_elsewhere")  # settle by hand below
    invoice = shop.invoice("100.00")
    payment, _ = shop.pay([invoice])
    payment.refresh_from_db()
    assert payment.settled_at is None
    card_refund_record(card_payment=payment, stripe_refund_id="re_early", amount=Decimal("40.00"),
                       status="succeeded")  # fmt: skip

    assert card_payment_settle_success(
        card_payment_id=payment.pk, amount_minor=to_minor(payment.amount, payment.currency),
        currency=payment.currency,
    )  # fmt: skip

    invoice.refresh_from_db()
    assert invoice.balance == Decimal("40.00") and invoice.status != Invoice.Status.PAID
    amounts = sorted(Payment.objects.filter(invoice=invoice).values_list("amount", flat=True))
    assert amounts == [Decimal("-40.00"), Decimal("100.00")]


def test_a_failed_refund_changes_no_balance(shop):
    from payments.refunds import card_refund_record
    from portal.models import Invoice, Payment

    invoice = shop.invoice("100.00")
    payment, _ = shop.pay([invoice])
    shop.wait_settled(payment)

    card_refund_record(card_payment=payment, stripe_refund_id="re_failed", amount=Decimal("100.00"),
                       status="failed")  # fmt: skip

    invoice.refresh_from_db()
    payment.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID and invoice.balance == Decimal("0.00")
    assert payment.amount_refunded == Decimal("0")
    assert Payment.objects.filter(invoice=invoice, amount__lt=0).count() == 0
    assert CardRefund.objects.filter(stripe_refund_id="re_failed").exists()  # recorded for the admin


def test_a_refund_of_one_cent_is_possible(shop):
    """The form's minimum was the float 0.01, which Decimal("0.01") compares below."""
    invoice = shop.invoice("10.00")
    payment, _ = shop.pay([invoice])
    shop.wait_settled(payment)
    admin, _ = _admin_client(shop.portal)
    assert (
        admin.post(f"/admin/payments/cardpayment/{payment.pk}/refund/", {"amount": "0.01"}).status_code == 302
    )
    payment.refresh_from_db()
    assert payment.amount_refunded == Decimal("0.01")


def test_two_admins_refunding_at_once_never_give_back_more_than_was_paid(shop):
    """What is left is read under the payment's lock: the second admin waits, then is refused."""
    invoice = shop.invoice("100.00")
    payment, _ = shop.pay([invoice])
    shop.wait_settled(payment)
    url = f"/admin/payments/cardpayment/{payment.pk}/refund/"
    admins = [
        _admin_client(shop.portal, email)[0] for email in ("a1@acme-msp.example", "a2@acme-msp.example")
    ]
    barrier, answers = threading.Barrier(2), []

    def refund(admin):
        try:
            barrier.wait(timeout=10)
            answers.append(admin.post(url, {"amount": "60.00"}).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=refund, args=(admin,)) for admin in admins]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(answers) == [200, 302]  # one refunded, the other shown the form: 40.00 is left
    payment.refresh_from_db()
    assert payment.amount_refunded == Decimal("60.00")
    assert CardRefund.objects.filter(card_payment=payment).count() == 1
