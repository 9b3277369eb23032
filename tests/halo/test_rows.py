"""Rows holding values the portal's columns cannot take: skipped and counted, never the page's end.

A failed page fails the run, and the next run resumes at that page, so one such row would block every
later sync. The portal's copy of a skipped row is kept as it was and not taken as gone.
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from halo import upserts
from halo.models import SyncRun
from halo.sync import halo_sync_run
from portal.models import Contact, Customer, Invoice
from tests.docserver import docserver_fixture  # noqa: F401
from tests.factories import CustomerFactory
from tests.halo.fakehalo import connect, paged

pytestmark = pytest.mark.django_db

ISSUED = (date.today() - timedelta(days=5)).isoformat()


@pytest.fixture
def synced_customer(portal):
    return CustomerFactory(portal=portal, name="Client 1", halo_id=1)


def row(i, **extra):
    return {"id": 1000 + i, "invoicenumber": f"INV-{i}", "client_id": 1, "invoice_date": ISSUED,
            "duedate": "2099-01-01", "total": "100.00", **extra}  # fmt: skip


BAD_INVOICES = [
    pytest.param(row(2, invoice_date="2024-02-30T00:00:00"), id="impossible-date"),
    pytest.param(row(2, total="1e30"), id="total-1e30"),
    pytest.param(row(2, total="123456789012.00"), id="total-12-digits"),
    pytest.param(row(2, amountpaid="99999999999"), id="amountpaid-11-digits"),
    pytest.param(row(2, total="Infinity"), id="total-infinity"),
    pytest.param(row(2, total="a hundred"), id="total-words"),
]


@pytest.mark.parametrize("bad", BAD_INVOICES)
def test_an_invoice_that_cannot_be_stored_is_skipped_and_the_rest_of_the_page_is(
    portal, synced_customer, bad
):
    counts = upserts.invoices_upsert(portal=portal, rows=[row(1), bad, row(3)], seen_at=timezone.now())
    assert (counts.created, counts.skipped) == (2, 1)
    assert set(Invoice.objects.values_list("halo_id", flat=True)) == {1001, 1003}


@pytest.mark.parametrize("bad", BAD_INVOICES)
def test_a_stored_invoice_whose_row_went_bad_keeps_its_amounts(portal, synced_customer, bad):
    upserts.invoices_upsert(portal=portal, rows=[row(2, total="250.00")], seen_at=timezone.now())
    counts = upserts.invoices_upsert(portal=portal, rows=[bad], seen_at=timezone.now())
    assert counts.skipped == 1
    invoice = Invoice.objects.get(halo_id=1002)
    assert (invoice.total, invoice.balance, invoice.status) == (Decimal("250.00"), Decimal("250.00"), "open")


@pytest.mark.parametrize(
    "odd, stored",
    [
        pytest.param(
            {"duedate": "2024-13-01T00:00:00"}, {"due_on": date.fromisoformat(ISSUED)}, id="impossible-due"
        ),
        pytest.param(
            {"last_modified": "2024-06-31T10:00:00Z"}, {"halo_last_modified": None}, id="impossible-modified"
        ),
        pytest.param(
            {"paymentstatus": 10**12}, {"halo_payment_status": None}, id="paymentstatus-beyond-32-bits"
        ),
        pytest.param({"lines": 5}, {"lines": []}, id="lines-a-number"),
        pytest.param({"lines": True}, {"lines": []}, id="lines-true"),
        pytest.param(
            {"lines": [{"item": "x", "tax": {"rate": Decimal("0.2")}}]},
            {"lines": [{"item": "x", "tax": {"rate": "0.2"}}]},
            id="lines-nested-decimal",
        ),
        pytest.param({"invoicenumber": "INV-\x002"}, {"number": "INV-2"}, id="nul-in-number"),
        pytest.param(
            {"lines": [{"item": "Support\x00"}]}, {"lines": [{"item": "Support"}]}, id="nul-in-lines"
        ),
    ],
)
def test_optional_fields_that_cannot_be_read_are_left_out_and_the_invoice_is_stored(
    portal, synced_customer, odd, stored
):
    counts = upserts.invoices_upsert(portal=portal, rows=[row(2, **odd)], seen_at=timezone.now())
    assert counts.created == 1
    invoice = Invoice.objects.get(halo_id=1002)
    assert {name: getattr(invoice, name) for name in stored} == stored


def test_an_id_beyond_32_bits_is_skipped(portal, synced_customer):
    counts = upserts.invoices_upsert(
        portal=portal, rows=[row(1), {**row(2), "id": 10**12}], seen_at=timezone.now()
    )
    assert (counts.created, counts.skipped) == (1, 1)


def test_a_nul_in_a_client_name_is_dropped(portal):
    rows = [{"id": 1, "name": "Good"}, {"id": 2, "name": "Bad\x00Name"}]
    upserts.customers_upsert(portal=portal, rows=rows, seen_at=timezone.now())
    assert set(Customer.objects.values_list("name", flat=True)) == {"Good", "BadName"}


def test_a_client_renamed_to_a_typed_in_customers_name_gets_its_id_added(portal, synced_customer):
    CustomerFactory(portal=portal, name="Globex")  # typed into the admin, never synced
    upserts.customers_upsert(portal=portal, rows=[{"id": 1, "name": "Globex"}], seen_at=timezone.now())
    assert Customer.objects.get(halo_id=1).name == "Globex (#1)"
    assert Customer.objects.get(halo_id__isnull=True).name == "Globex"


def test_a_new_client_with_a_typed_in_customers_name_still_adopts_it(portal):
    typed = CustomerFactory(portal=portal, name="Globex")
    upserts.customers_upsert(portal=portal, rows=[{"id": 7, "name": "Globex"}], seen_at=timezone.now())
    typed.refresh_from_db()
    assert (typed.halo_id, typed.name) == (7, "Globex")


def test_an_email_changed_to_one_another_contact_has_ends_access_at_the_old_one(portal, synced_customer):
    """HaloPSA lets two users of one client share an email; the portal keeps one contact per email."""
    users = [
        {"id": 101, "name": "A", "emailaddress": "a@example.com", "client_id": 1, "canaccessinvoices": True},
        {"id": 102, "name": "B", "emailaddress": "b@example.com", "client_id": 1, "canaccessinvoices": True},
    ]
    upserts.contacts_upsert(portal=portal, rows=users, seen_at=timezone.now())
    counts = upserts.contacts_upsert(
        portal=portal, rows=[{**users[1], "emailaddress": "a@example.com"}], seen_at=timezone.now()
    )
    assert counts.skipped == 1 and counts.revoked_emails == {"b@example.com"}
    contacts = dict(Contact.objects.values_list("halo_id", "inactive"))
    assert contacts == {101: False, 102: True}


def test_one_bad_row_no_longer_blocks_the_syncs_after_it(portal, docserver, settings):
    settings.HALO_PAGE_SIZE = 2
    conn = connect(portal, docserver)
    rows = [row(1, invoice_date="2024-02-30T00:00:00"), *[row(i) for i in range(2, 7)]]
    docserver.routes["/api/Client"] = paged([{"id": 1, "name": "Client 1"}], "clients")
    docserver.routes["/api/Users"] = paged([], "users")
    docserver.routes["/api/Invoice"] = paged(rows, "invoices")
    docserver.routes["/api/InvoicePayment"] = paged([], "payments")
    run = halo_sync_run(connection=conn, full=True)
    assert run.status == SyncRun.Status.OK, run.error
    assert run.counts["invoices"]["skipped"] == 1
    assert Invoice.objects.filter(customer__portal=portal).count() == 5


def test_a_stored_invoice_whose_row_went_bad_is_not_voided_by_a_full_sync(portal, docserver, settings):
    settings.HALO_PAGE_SIZE = 2
    conn = connect(portal, docserver)
    docserver.routes["/api/Client"] = paged([{"id": 1, "name": "Client 1"}], "clients")
    docserver.routes["/api/Users"] = paged([], "users")
    docserver.routes["/api/Invoice"] = paged([row(1), row(2)], "invoices")
    docserver.routes["/api/InvoicePayment"] = paged([], "payments")
    assert halo_sync_run(connection=conn).status == SyncRun.Status.OK
    docserver.routes["/api/Invoice"] = paged([row(1), row(2, total="1e30")], "invoices")
    assert halo_sync_run(connection=conn, full=True).status == SyncRun.Status.OK
    assert Invoice.objects.get(halo_id=1002).status == Invoice.Status.OPEN


def two_users(**second):
    return [
        {"id": 101, "name": "A", "emailaddress": "a@example.com", "client_id": 1, "canaccessinvoices": True},
        {"id": 102, "name": "B", "emailaddress": "b@example.com", "client_id": 1, "canaccessinvoices": True,
         **second},
    ]  # fmt: skip


def test_a_new_user_with_an_email_a_contact_of_the_page_has_is_skipped(portal, synced_customer):
    """HaloPSA lists a new user 100 before user 101, both a@: 101's contact keeps the email."""
    upserts.contacts_upsert(portal=portal, rows=two_users()[:1], seen_at=timezone.now())
    newcomer = {**two_users()[0], "id": 100}
    counts = upserts.contacts_upsert(portal=portal, rows=[newcomer, two_users()[0]], seen_at=timezone.now())
    assert counts.skipped == 1
    assert list(Contact.objects.values_list("halo_id", "email", "inactive")) == [
        (101, "a@example.com", False)
    ]


def test_two_users_swapping_emails_are_stored_swapped_with_the_rest_of_the_page(portal, synced_customer):
    """Each update clashes with the other's old email; both go through (halo.unique_moves)."""
    upserts.contacts_upsert(portal=portal, rows=two_users(), seen_at=timezone.now())
    swapped = [
        {**two_users()[0], "emailaddress": "b@example.com"},
        {**two_users()[1], "emailaddress": "a@example.com"},
    ]
    third = {"id": 103, "name": "C", "emailaddress": "c@example.com", "client_id": 1}
    counts = upserts.contacts_upsert(portal=portal, rows=[*swapped, third], seen_at=timezone.now())
    assert (counts.skipped, counts.created, counts.updated) == (0, 1, 2)
    emails = dict(Contact.objects.values_list("halo_id", "email"))
    assert emails == {101: "b@example.com", 102: "a@example.com", 103: "c@example.com"}


def test_two_clients_swapping_names_are_stored_swapped_with_the_rest_of_the_page(portal):
    upserts.customers_upsert(
        portal=portal, rows=[{"id": 1, "name": "A"}, {"id": 2, "name": "B"}], seen_at=timezone.now()
    )
    counts = upserts.customers_upsert(
        portal=portal, rows=[{"id": 1, "name": "B"}, {"id": 2, "name": "A"}, {"id": 3, "name": "C"}],
        seen_at=timezone.now(),
    )  # fmt: skip
    assert (counts.skipped, counts.created, counts.updated) == (0, 1, 2)
    assert dict(Customer.objects.values_list("halo_id", "name")) == {1: "B", 2: "A", 3: "C"}
