"""Query counts of the customer pages stay constant however many invoices a customer has.

An N+1 (a query per invoice, per customer or per row on the page) or a page that starts reading
every invoice fails here; timings are for ``make bench`` (bench/scale.py), not for tests.
"""

import datetime
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portal.models import Invoice
from tests.factories import ContactFactory, CustomerFactory, InvoiceFactory, PaymentFactory

PAGES = ("/", "/invoices/", "/invoices/?page=99", "/invoices/?sort=-due", "invoice")


def _invoices(customer, count: int, *, start: int = 0) -> list[Invoice]:
    statuses = [Invoice.Status.OPEN, Invoice.Status.PAID, Invoice.Status.OVERDUE, Invoice.Status.VOID]
    made = []
    for n in range(start, start + count):
        invoice = InvoiceFactory(
            customer=customer,
            number=f"INV-{n}",
            issued_on=datetime.date(2026, 1, 1) + datetime.timedelta(days=n % 300),
            currency="EUR" if n % 5 == 0 else "USD",
            status=statuses[n % 4],
        )
        PaymentFactory(invoice=invoice)
        made.append(invoice)
    return made


def _queries(client, path: str, *, invoice) -> int:
    if path == "invoice":
        path = f"/invoices/{invoice.pk}/"
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200, path
    return len(captured)


@pytest.mark.parametrize("path", PAGES)
def test_pages_query_count_does_not_grow_with_invoices(signed_in, customer, path):
    few = _invoices(customer, 3)
    small = _queries(signed_in, path, invoice=few[0])
    _invoices(customer, 60, start=3)  # more than two pages, several currencies and statuses
    large = _queries(signed_in, path, invoice=few[0])
    assert large == small


@pytest.mark.parametrize(
    ("path", "most"),
    # Invoice pages: +1 for the portal's Stripe account (the Pay buttons, payments.templatetags).
    [("/", 6), ("/invoices/", 8), ("/invoices/?page=99", 8), ("invoice", 7)],
)
def test_pages_stay_within_their_query_budget(
    signed_in, customer, portal, path, most, django_assert_max_num_queries
):
    """Session, user and portal, then the page's own reads: a second customer of the same person
    (another contact row) adds no query either."""
    other = CustomerFactory(portal=portal, name="Acme Subsidiary")
    ContactFactory(customer=other, email="alice@example.com")
    invoices = _invoices(customer, 30) + _invoices(other, 30, start=30)
    if path == "invoice":
        path = f"/invoices/{invoices[-1].pk}/"
    with django_assert_max_num_queries(most):
        response = signed_in.get(path)
    assert response.status_code == 200
    if path == "/invoices/?page=99":
        # The last of three pages holds the oldest ten invoices, from both customers.
        assert len(response.context["invoices"]) == 10
        assert re.search(r"Page 3 of 3", response.content.decode())


def test_login_page_query_count_does_not_grow_with_portals(client, portal):
    from tests.factories import PortalFactory, SSOConfigFactory

    SSOConfigFactory(portal=portal)
    with CaptureQueriesContext(connection) as before:
        assert client.get("/login/").status_code == 200
    for _ in range(20):
        SSOConfigFactory(portal=PortalFactory())
    with CaptureQueriesContext(connection) as after:
        assert client.get("/login/").status_code == 200
    assert len(after) == len(before) <= 3
