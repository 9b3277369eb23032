"""Every page of the invoice list holds the rows a plain forward read gives, however it is read."""

import datetime
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portal import selectors
from portal.models import Invoice
from portal.pagination import NearestEndPaginator
from tests.factories import InvoiceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def many_invoices(customer):
    """53 invoices with many ties in every sort key, so only the ``id`` tiebreak orders them."""
    day = datetime.date(2026, 1, 1)
    return [
        InvoiceFactory(
            customer=customer,
            number=f"INV-{n % 7:02d}-{n:03d}",
            issued_on=day + datetime.timedelta(days=n % 4),
            due_on=day + datetime.timedelta(days=30 + n % 3),
            total=Decimal("10.00") * (n % 5 + 1),
            balance=Decimal("0.00") if n % 2 else Decimal("10.00") * (n % 5 + 1),
        )
        for n in range(53)
    ]


@pytest.mark.parametrize("order", sorted(selectors.INVOICE_ORDERINGS))
@pytest.mark.parametrize("per_page", [5, 25])
def test_each_page_has_the_forward_reads_rows_in_every_order(user, many_invoices, order, per_page):
    invoices = selectors.invoices_for_user(user=user, order=order)
    forward = list(invoices.values_list("pk", flat=True))
    pages = -(-len(forward) // per_page)
    seen = []
    for number in range(1, pages + 1):
        page = selectors.invoice_page(invoices=invoices, number=number, per_page=per_page)
        expected = forward[(number - 1) * per_page : number * per_page]
        assert [invoice.pk for invoice in page.object_list] == expected, f"page {number}"
        seen.extend(expected)
    assert seen == forward and len(set(seen)) == 53  # every invoice once, none twice


def test_the_last_page_is_read_from_the_end_without_walking_the_rest(user, many_invoices):
    invoices = selectors.invoices_for_user(user=user)
    with CaptureQueriesContext(connection) as queries:
        page = selectors.invoice_page(invoices=invoices, number=11, per_page=5)
    assert page.number == 11 and len(page.object_list) == 3
    ids_query = [
        q["sql"] for q in queries.captured_queries if re.search(r"LIMIT \d+( OFFSET \d+)?$", q["sql"])
    ]
    assert len(ids_query) == 1 and "OFFSET" not in ids_query[0]  # 50 skipped rows not walked
    assert '"portal_invoice"."issued_on" ASC' in ids_query[0]  # the order reversed instead


def test_out_of_range_and_malformed_page_numbers_still_give_a_page(user, many_invoices):
    invoices = selectors.invoices_for_user(user=user)
    assert selectors.invoice_page(invoices=invoices, number="999", per_page=25).number == 3
    assert selectors.invoice_page(invoices=invoices, number="x", per_page=25).number == 1
    assert selectors.invoice_page(invoices=Invoice.objects.none(), number="2", per_page=25).object_list == []


def test_an_unordered_queryset_is_refused():
    with pytest.raises(ValueError, match="ordered"):
        NearestEndPaginator(Invoice.objects.order_by(), per_page=25)
