"""The dashboard's money figures come from the shared cache until an invoice of those customers changes."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from halo import upserts
from portal import invoice_figures, selectors
from portal.models import Invoice
from tests.cachedown import redis_cache_down
from tests.factories import ContactFactory, CustomerFactory, InvoiceFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)  # real commits: tokens are replaced on commit


@pytest.fixture
def cached(redis_cache, settings):
    settings.DASHBOARD_FIGURES_CACHE_SECONDS = 120  # on, as in production with Redis
    return redis_cache


@pytest.fixture
def unpaid(customer):
    return InvoiceFactory(
        customer=customer, number="INV-1", total=Decimal("100.00"), balance=Decimal("100.00"), status="open"
    )


def due(user) -> dict:
    return selectors.dashboard_summary(user=user).balance_due


def grouped_reads(user) -> int:
    with CaptureQueriesContext(connection) as queries:
        selectors.dashboard_summary(user=user)
    return sum('SUM("portal_invoice"."balance")' in q["sql"] for q in queries.captured_queries)


def test_a_second_dashboard_reads_the_figures_from_the_cache(cached, user, unpaid):
    assert grouped_reads(user) == 1
    assert grouped_reads(user) == 0
    assert due(user) == {"USD": Decimal("100.00")}


def test_saving_or_deleting_an_invoice_shows_new_figures_at_once(cached, user, customer, unpaid):
    assert due(user) == {"USD": Decimal("100.00")}
    unpaid.balance = Decimal("40.00")
    unpaid.save(update_fields=["balance"])  # how payments settle and the admin saves
    assert due(user) == {"USD": Decimal("40.00")}
    InvoiceFactory(customer=customer, number="INV-2", total=Decimal("5.00"), balance=Decimal("5.00"))
    assert due(user) == {"USD": Decimal("45.00")}
    unpaid.delete()
    assert due(user) == {"USD": Decimal("5.00")}


def test_the_halopsa_syncs_bulk_writes_show_new_figures_at_once(cached, user, portal, customer):
    customer.halo_id = 77
    customer.save(update_fields=["halo_id"])
    row = {"id": 9001, "client_id": 77, "invoicenumber": "HALO-1", "total": "250.00", "amountpaid": "0"}
    row.update({"invoice_date": "2026-11-01T00:00:00", "duedate": "2099-12-01T00:00:00"})
    upserts.invoices_upsert(portal=portal, rows=[row], seen_at=timezone.now())  # bulk_create
    assert due(user) == {"USD": Decimal("250.00")}
    upserts.invoices_upsert(portal=portal, rows=[{**row, "amountpaid": "200.00"}], seen_at=timezone.now())
    assert due(user) == {"USD": Decimal("50.00")}  # bulk_update: no signal, the token replaced
    assert upserts.invoice_void(portal=portal, halo_id=9001)
    assert due(user) == {}  # update(): no signal, the token replaced


def test_each_person_gets_the_figures_of_their_own_customers(cached, portal, user, unpaid):
    other = CustomerFactory(portal=portal, name="Globex")
    ContactFactory(customer=other, email="bob@example.com")
    bob = UserFactory(portal=portal, email="bob@example.com")
    InvoiceFactory(
        customer=other, number="G-1", total=Decimal("7.00"), balance=Decimal("7.00"), status="open"
    )
    assert due(user) == {"USD": Decimal("100.00")}
    assert due(bob) == {"USD": Decimal("7.00")}


def test_an_evicted_token_is_made_anew_and_never_brings_back_old_figures(cached, user, customer, unpaid):
    assert due(user) == {"USD": Decimal("100.00")}
    Invoice.objects.filter(pk=unpaid.pk).update(balance=Decimal("1.00"))  # a write that sent no signal
    cached.delete_many(  # Redis evicted the tokens
        [invoice_figures._customer_key(customer.pk), invoice_figures._portal_key(customer.portal_id)]
    )
    assert due(user) == {"USD": Decimal("1.00")}


def test_with_the_cache_down_the_figures_are_computed(cached, user, unpaid):
    with redis_cache_down():
        assert due(user) == {"USD": Decimal("100.00")}
        assert grouped_reads(user) == 1


def test_off_the_figures_are_read_every_time(settings, user, unpaid):
    settings.DASHBOARD_FIGURES_CACHE_SECONDS = 0
    assert grouped_reads(user) == 1
    Invoice.objects.filter(pk=unpaid.pk).update(balance=Decimal("3.00"))
    assert grouped_reads(user) == 1 and due(user) == {"USD": Decimal("3.00")}


def test_the_dashboard_page_shows_the_new_balance_after_a_change(cached, signed_in, unpaid):
    assert "100.00" in signed_in.get("/").content.decode()
    unpaid.balance = Decimal("12.34")
    unpaid.save(update_fields=["balance"])
    assert "12.34" in signed_in.get("/").content.decode()


def counts(client, path="/invoices/") -> tuple[int, str]:
    with CaptureQueriesContext(connection) as queries:
        body = client.get(path).content.decode()
    return sum("COUNT(*)" in q["sql"] for q in queries.captured_queries), body


def test_the_invoice_lists_count_is_cached_per_status_and_new_at_once_after_a_change(
    cached, signed_in, customer, unpaid
):
    InvoiceFactory(
        customer=customer, number="INV-P", total=Decimal("9.00"), balance=Decimal("0"), status="paid"
    )
    got, body = counts(signed_in)
    assert got == 1 and "of 2 invoices" in body
    got, body = counts(signed_in)
    assert got == 0 and "of 2 invoices" in body  # from the cache
    got, body = counts(signed_in, "/invoices/?status=paid")
    assert got == 1 and "of 1 paid invoice." in body  # a count of its own per status filter
    InvoiceFactory(customer=customer, number="INV-3", total=Decimal("1.00"), balance=Decimal("1.00"))
    got, body = counts(signed_in)
    assert got == 1 and "of 3 invoices" in body
