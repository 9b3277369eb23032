"""A full sync against list answers HaloPSA (or a proxy in front of it) should never give.

Whatever the answer, the sync ends (bounded) and never marks rows gone on the strength of it: an
answer read as shorter than it is would otherwise void invoices and end customers' access.
"""

from datetime import date, timedelta

import pytest

from halo.models import SyncRun
from halo.sync import halo_sync_run
from portal.models import Contact, Customer, Invoice
from tests.docserver import docserver_fixture  # noqa: F401
from tests.halo.fakehalo import answer, connect, paged

pytestmark = pytest.mark.django_db

ISSUED = (date.today() - timedelta(days=5)).isoformat()
CLIENTS = [{"id": 1, "name": "Client 1"}]
USERS = [{"id": 101, "name": "U", "emailaddress": "u@example.com", "client_id": 1, "canaccessinvoices": True}]
INVOICES = [
    {"id": 1000 + i, "invoicenumber": f"INV-{i}", "client_id": 1, "invoice_date": ISSUED,
     "duedate": "2099-01-01", "total": "100.00"}
    for i in range(1, 6)
]  # fmt: skip


def serve(docserver, *, invoices=None, **invoice_kw):
    docserver.routes["/api/Client"] = paged(CLIENTS, "clients")
    docserver.routes["/api/Users"] = paged(USERS, "users")
    docserver.routes["/api/Invoice"] = paged(
        INVOICES if invoices is None else invoices, "invoices", **invoice_kw
    )
    docserver.routes["/api/InvoicePayment"] = paged([], "payments")


@pytest.fixture
def synced(portal, docserver, settings):
    """A portal whose first full sync stored 1 customer, 1 contact and 5 open invoices (3 pages of 2)."""
    settings.HALO_PAGE_SIZE = 2
    settings.HALO_REQUESTS_PER_MINUTE = 0
    conn = connect(portal, docserver)
    serve(docserver)
    run = halo_sync_run(connection=conn)
    assert run.status == SyncRun.Status.OK, run.error
    assert Invoice.objects.filter(status=Invoice.Status.OPEN).count() == 5
    return conn


def voided() -> int:
    return Invoice.objects.filter(status=Invoice.Status.VOID).count()


def test_an_invoice_answer_without_its_list_fails_the_run_and_voids_nothing(synced, docserver):
    serve(docserver, drop_key=True)  # {"record_count": 5} and no "invoices"
    run = halo_sync_run(connection=synced, full=True)
    assert run.status == SyncRun.Status.FAILED
    assert "did not answer with a list under “invoices”" in run.error
    assert voided() == 0


def test_a_users_answer_without_its_list_deactivates_no_one(synced, docserver):
    docserver.routes["/api/Users"] = paged(USERS, "users", drop_key=True)
    run = halo_sync_run(connection=synced, full=True)
    assert run.status == SyncRun.Status.FAILED
    assert not Contact.objects.get(halo_id=101).inactive
    assert not Customer.objects.get(halo_id=1).inactive


def test_without_record_count_every_full_page_is_followed(synced, docserver):
    serve(docserver, record_count=None)
    run = halo_sync_run(connection=synced, full=True)
    assert run.status == SyncRun.Status.OK, run.error
    assert voided() == 0
    pages = docserver.requests_to("/api/Invoice")
    assert len(pages) == 3 + 3  # the first run's 3, and 3 again: pages 1, 2 and the short page 3


def test_fewer_rows_than_counted_keeps_the_rows_not_listed(synced, docserver):
    """HaloPSA counts 5 invoices but the pages hold 3: the 2 missing ones are not taken as deleted."""
    serve(docserver, invoices=INVOICES[:3], record_count=5)
    run = halo_sync_run(connection=synced, full=True)
    assert run.status == SyncRun.Status.OK, run.error
    assert voided() == 0
    assert run.counts["incomplete"] == ["invoices"]
    assert "fewer invoices than it counted" in run.error
    serve(docserver, invoices=INVOICES[:3])  # an honest answer: 2 invoices really are gone
    assert halo_sync_run(connection=synced, full=True).status == SyncRun.Status.OK
    assert voided() == 2


def test_a_list_entry_that_is_not_an_object_makes_the_pass_incomplete(synced, docserver):
    serve(docserver, invoices=[*INVOICES[:4], "garbage"])
    run = halo_sync_run(connection=synced, full=True)
    assert run.status == SyncRun.Status.OK, run.error
    assert voided() == 0  # INV-5 was not read, so it is not taken as gone
    assert run.counts["incomplete"] == ["invoices"]


def test_a_short_contacts_pass_still_voids_invoices_that_are_gone(synced, docserver):
    """Each list on its own pass: an incomplete users list holds back only contacts."""
    serve(docserver, invoices=INVOICES[:4])
    docserver.routes["/api/Users"] = paged([], "users", record_count=1)
    run = halo_sync_run(connection=synced, full=True)
    assert run.counts["incomplete"] == ["contacts"]
    assert not Contact.objects.get(halo_id=101).inactive
    assert voided() == 1


def test_page_no_ignored_ends_the_run_at_the_second_page(portal, docserver, settings):
    """HaloPSA (or a proxy) answers the same page whatever page_no says, counting 10**9 rows."""
    settings.HALO_PAGE_SIZE = 2
    settings.HALO_REQUESTS_PER_MINUTE = 0
    conn = connect(portal, docserver)
    serve(docserver)
    docserver.routes["/api/Client"] = lambda query: answer({"record_count": 10**9, "clients": CLIENTS})
    run = halo_sync_run(connection=conn)
    assert run.status == SyncRun.Status.FAILED
    assert "is page_no ignored?" in run.error
    assert len(docserver.requests_to("/api/Client")) == 2


def test_a_list_that_never_ends_stops_at_the_page_bound(portal, docserver, settings):
    settings.HALO_PAGE_SIZE = 1
    settings.HALO_MAX_PAGES = 20
    settings.HALO_REQUESTS_PER_MINUTE = 0
    conn = connect(portal, docserver)
    serve(docserver)
    served = {"n": 0}

    def endless(query):
        served["n"] += 1
        return answer({"record_count": 10**9, "clients": [{"id": served["n"], "name": f"C{served['n']}"}]})

    docserver.routes["/api/Client"] = endless
    run = halo_sync_run(connection=conn)
    assert run.status == SyncRun.Status.FAILED
    assert "more than 20 pages" in run.error
    assert served["n"] == 20
