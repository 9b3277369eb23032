"""The payments admin's lists read a page of rows in a fixed number of queries, however many rows."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from payments.models import CardPayment, HaloWriteBack
from tests.factories import CustomerFactory, InvoiceFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, portal):
    user = UserFactory(portal=portal, email="staff@example.com", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="payments"))
    client.force_login(user, backend="accounts.backends.PortalPasswordBackend")
    return client


def add_payments(portal, n: int) -> None:
    for i in range(n):
        customer = CustomerFactory(portal=portal)
        invoice = InvoiceFactory(customer=customer, total=Decimal("10.00"))
        payment = CardPayment.objects.create(
            portal=portal, customer=customer, amount=Decimal("10.00"), currency="USD",
            status=CardPayment.Status.SUCCEEDED, payment_intent_id=f"pi_{portal.pk}_{i}_{customer.pk}",
        )  # fmt: skip
        HaloWriteBack.objects.create(
            portal=portal, card_payment=payment, invoice=invoice, amount=Decimal("10.00"),
            thirdpartyid=payment.payment_intent_id, state=HaloWriteBack.State.POSTED,
        )  # fmt: skip


@pytest.mark.parametrize("model", ["cardpayment", "halowriteback"])
def test_a_changelist_costs_the_same_queries_for_2_rows_and_for_12(staff_client, portal, model):
    url = reverse(f"admin:payments_{model}_changelist")

    def queries_for_page() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = staff_client.get(url)
        assert response.status_code == 200
        return len(queries)

    add_payments(portal, 2)
    few = queries_for_page()
    add_payments(portal, 10)
    many = queries_for_page()

    assert many == few


def test_the_write_back_column_still_says_how_each_payment_stands(staff_client, portal):
    add_payments(portal, 2)
    page = staff_client.get(reverse("admin:payments_cardpayment_changelist")).content.decode()
    assert page.count("1 posted") == 2
