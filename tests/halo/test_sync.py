"""Syncing a portal from HaloPSA, against the stand-in's real HTTP API on loopback."""

import threading
from decimal import Decimal

import pytest
from django.db import connection as db_connection

from halo.models import HaloConnection, SyncRun
from halo.sync import halo_sync_run
from portal.models import Contact, Customer, Invoice, Payment
from portal.selectors import customers_for_email
from tests.halo.conftest import clients, invoices, users

pytestmark = pytest.mark.django_db


def seed_small(halo):
    halo.seed_api(clients=clients(2), users=users(2), invoices=invoices(5))


def test_first_full_sync_stores_customers_contacts_and_invoices(connection, halo):
    seed_small(halo)
    run = halo_sync_run(connection=connection)
    assert run.status == SyncRun.Status.OK, run.error
    assert run.mode == SyncRun.Mode.FULL
    assert run.counts["customers"]["created"] == 2
    assert run.counts["contacts"]["created"] == 2
    assert run.counts["invoices"]["created"] == 5
    invoice = Invoice.objects.get(halo_id=1001)
    assert invoice.customer.name == "Client 1" and invoice.customer.portal == connection.portal
    assert (invoice.total, invoice.balance, invoice.tax_total) == (Decimal("100.00"),) * 2 + (
        Decimal("16.67"),
    )
    assert invoice.status == Invoice.Status.OPEN and invoice.lines[0]["item_shortdescription"] == "Support"
    assert Contact.objects.get(halo_id=101).email == "user1@example.com"
    # Paging at 2 rows stops at record_count: 5 invoices are 3 pages, not 4.
    assert halo.count("/api/Invoice") == 3
    connection.refresh_from_db()
    assert connection.watermark == run.started_at and connection.last_full_at == run.started_at


def test_sync_is_idempotent_and_incremental_reads_only_changes(connection, halo, settings):
    settings.HALO_SYNC_OVERLAP_SECONDS = 0
    seed_small(halo)
    halo_sync_run(connection=connection)
    halo.change("invoice", 1003, notify=False, amountpaid="100.00")
    halo.reset_stats()
    run = halo_sync_run(connection=connection)
    assert run.status == SyncRun.Status.OK and run.mode == SyncRun.Mode.INCREMENTAL
    assert run.counts["invoices"] == {"created": 0, "updated": 1, "unchanged": 0, "skipped": 0}
    assert Invoice.objects.get(halo_id=1003).status == Invoice.Status.PAID
    assert Invoice.objects.filter(halo_id__isnull=False).count() == 5  # upserts, no duplicates
    # Newest first: one invoice page shows the rest is older than the watermark.
    assert halo.count("/api/Invoice") == 1


def test_renamed_and_deleted_invoice_upstream(connection, halo):
    seed_small(halo)
    halo_sync_run(connection=connection)
    halo.change("invoice", 1002, notify=False, invoicenumber="INV-2-RENAMED")
    halo.delete("invoice", 1004)
    halo_sync_run(connection=connection)
    assert Invoice.objects.get(halo_id=1002).number == "INV-2-RENAMED"
    assert Invoice.objects.get(halo_id=1004).status == Invoice.Status.OPEN  # incremental cannot see deletions
    run = halo_sync_run(connection=connection, full=True)
    assert run.status == SyncRun.Status.OK
    gone = Invoice.objects.get(halo_id=1004)
    assert gone.status == Invoice.Status.VOID and gone.balance == 0  # kept, never deleted


def test_429_storm_is_ridden_out_with_retry_after(connection, halo):
    seed_small(halo)
    halo.knobs(throttle={"count": 4, "retry_after": "0"})
    run = halo_sync_run(connection=connection)
    assert run.status == SyncRun.Status.OK, run.error
    assert Invoice.objects.filter(halo_id__isnull=False).count() == 5


def test_429_without_end_fails_the_run_after_bounded_retries(connection, halo, settings):
    seed_small(halo)
    settings.HALO_MAX_RETRIES = 2
    halo.knobs(throttle={"count": 1000, "retry_after": "0"})
    run = halo_sync_run(connection=connection)
    assert run.status == SyncRun.Status.FAILED and "429" in run.error
    halo.knobs(reset=True)


def test_500_on_page_3_of_5_keeps_pages_and_the_next_run_completes(connection, halo):
    halo.seed_api(clients=clients(1), users=users(1), invoices=invoices(10))  # 5 invoice pages
    halo.knobs(fail={"path": "/api/Invoice", "page_no": 3, "count": 10})
    run = halo_sync_run(connection=connection)
    assert run.status == SyncRun.Status.FAILED and "500" in run.error
    assert run.cursor == {"kind": "invoices", "page": 3}
    assert Invoice.objects.filter(halo_id__isnull=False).count() == 4  # pages 1-2 kept
    halo.knobs(reset=True)
    halo.reset_stats()
    second = halo_sync_run(connection=connection)
    assert second.status == SyncRun.Status.OK, second.error
    assert second.mode == SyncRun.Mode.FULL  # no successful run yet, so no watermark
    assert Invoice.objects.filter(halo_id__isnull=False).count() == 10
    assert halo.count("/api/Client") == 0  # resumed at the invoices' page 3
    assert halo.count("/api/Invoice") == 3
    assert not Invoice.objects.filter(status=Invoice.Status.VOID).exists()


def test_payments_are_synced_for_invoices(connection, halo):
    seed_small(halo)
    halo_sync_run(connection=connection)
    access = halo.http.post(
        f"{halo.base_url}/auth/token?tenant=demo",
        data={"grant_type": "client_credentials", "client_id": "portal-sync", "client_secret": "sync-secret",
              "scope": "all"},
        timeout=10,
    ).json()["access_token"]  # fmt: skip
    halo.http.post(
        f"{halo.api_url}/InvoicePayment",
        json=[{"invoice_id": 1001, "amount": 40, "method": "card"}],
        headers={"Authorization": f"Bearer {access}"},
        timeout=10,
    ).raise_for_status()
    run = halo_sync_run(connection=connection)
    assert run.counts["payments"]["created"] == 1
    payment = Payment.objects.get()
    assert payment.invoice.halo_id == 1001 and payment.amount == Decimal("40.00")
    assert Invoice.objects.get(halo_id=1001).balance == Decimal("60.00")


def test_client_gone_upstream_is_marked_inactive_not_deleted(connection, halo):
    seed_small(halo)
    halo_sync_run(connection=connection)
    halo.delete("client", 2)
    halo_sync_run(connection=connection, full=True)
    assert Customer.objects.get(halo_id=2).inactive is True


def test_portal_without_connection_keeps_manual_data(portal, customer):
    assert not HaloConnection.objects.filter(portal=portal).exists()
    assert Customer.objects.get(pk=customer.pk).halo_id is None


@pytest.mark.django_db(transaction=True)
def test_two_syncs_at_once_only_one_runs(portal, halo):
    conn = HaloConnection.objects.create(
        portal=portal, api_url=halo.api_url, auth_url=f"{halo.base_url}/auth", client_id="portal-sync",
        client_secret="sync-secret", tenant="demo",
    )  # fmt: skip
    seed_small(halo)
    halo.knobs(slow=0.3)
    results, barrier = [], threading.Barrier(2)

    def worker():
        try:
            barrier.wait(timeout=10)
            results.append(halo_sync_run(connection=HaloConnection.objects.get(pk=conn.pk)).status)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    halo.knobs(reset=True)
    assert sorted(results) == [SyncRun.Status.OK, SyncRun.Status.SKIPPED]
    assert Invoice.objects.filter(halo_id__isnull=False).count() == 5


def test_a_crashed_workers_lock_expires(connection, halo):
    from django.utils import timezone

    seed_small(halo)
    HaloConnection.objects.filter(pk=connection.pk).update(
        lock_token="dead", lock_until=timezone.now() - timezone.timedelta(seconds=1)
    )
    assert halo_sync_run(connection=connection).status == SyncRun.Status.OK


def test_a_user_whose_email_halopsa_keeps_in_punycode_is_the_same_mailbox(connection, halo, portal):
    """HaloPSA may hold ``anna@xn--bcher-kva.example``; the sign-ins look it up as ``anna@bücher.example``."""
    halo.seed_api(clients=clients(1), users=users(1, emailaddress="Anna@XN--BCHER-KVA.example"))
    assert halo_sync_run(connection=connection).status == SyncRun.Status.OK
    assert Contact.objects.get().email == "anna@bücher.example"
    assert customers_for_email(portal=portal, email="anna@xn--bcher-kva.example").count() == 1
