"""Refunds by portal administrators through the admin, full or partial, via localstripe."""

from decimal import Decimal

import pytest
from django.test import Client

from payments.models import CardPayment, CardRefund, PaymentAudit
from payments.stripe_api import stripe_client
from portal.permissions import portal_admin_group_ensure, portal_staff_user_ensure
from tests.factories import PortalFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _admin_client(portal, email="admin@acme-msp.example"):
    portal_admin_group_ensure()
    staff, _created = portal_staff_user_ensure(portal=portal, email=email, password="staff-password-123")
    client = Client(HTTP_HOST=portal.host)
    client.force_login(staff)
    return client, staff


def test_partial_then_full_refund_with_audit_rows(shop):
    invoice = shop.invoice("100.00")
    payment, _ = shop.pay([invoice])
    shop.wait_settled(payment)
    admin, staff = _admin_client(shop.portal)
    url = f"/admin/payments/cardpayment/{payment.pk}/refund/"
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


def test_other_portals_admin_cannot_refund(shop):
    invoice = shop.invoice("10.00")
    payment, _ = shop.pay([invoice])
    shop.wait_settled(payment)
    other = PortalFactory(name="Globex", url="http://globex.localhost")
    admin, _ = _admin_client(other, email="admin@globex.example")
    assert admin.post(f"/admin/payments/cardpayment/{payment.pk}/refund/", {"amount": "5"}).status_code == 404
    assert admin.get(f"/admin/payments/cardpayment/{payment.pk}/change/").status_code == 404
    assert CardPayment.objects.get(pk=payment.pk).amount_refunded == 0
