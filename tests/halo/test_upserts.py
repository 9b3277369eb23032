"""A page of HaloPSA invoices stored while the portal takes or records a payment for one of them."""

import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection as db_connection
from django.db import connections, transaction
from django.utils import timezone

from halo import upserts
from portal.models import Invoice, Payment
from tests.factories import InvoiceFactory
from tests.halo.conftest import invoices

WAIT = 10.0  # seconds any step below may take before the test fails


def halo_row(**extra) -> dict:
    """HaloPSA's invoice 1001 of customer 1: 100.00, nothing paid (unless ``extra`` says otherwise)."""
    return {**invoices(1)[0], **extra}


@pytest.fixture
def synced(customer):
    customer.halo_id = 1
    customer.save(update_fields=["halo_id"])
    return InvoiceFactory(
        customer=customer, halo_id=1001, number="INV-1", total=Decimal("100.00"), balance=Decimal("100.00")
    )


def settle(invoice: Invoice, *, reference: str = "pi_test", amount: str = "100.00") -> None:
    """What the card settlement does to the invoice (payments.settlement), locked the same way."""
    locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
    locked.balance = max(locked.balance - Decimal(amount), Decimal("0.00"))
    locked.status = Invoice.Status.PAID if locked.balance == 0 else locked.status
    locked.save(update_fields=["balance", "status"])
    Payment.objects.create(
        invoice=locked, amount=Decimal(amount), paid_on=timezone.localdate(), reference=reference
    )


def waiting_for_a_lock() -> bool:
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.django_db(transaction=True)
def test_a_page_stored_while_a_payment_settles_keeps_the_invoice_paid(portal, synced):
    """The settlement holds the invoice when the page (read before the payment: 100.00 due) is stored:
    the upsert waits for it and counts the payment, instead of writing the old amount over it."""
    if db_connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's")
    settled, release, errors = threading.Event(), threading.Event(), []

    def settlement():
        try:
            with transaction.atomic():
                settle(synced)
                settled.set()
                assert release.wait(WAIT)
        except Exception as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    def sync_page():
        try:
            upserts.invoices_upsert(portal=portal, rows=[halo_row()], seen_at=timezone.now())
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    payer = threading.Thread(target=settlement, daemon=True)
    payer.start()
    assert settled.wait(WAIT)
    syncer = threading.Thread(target=sync_page, daemon=True)
    syncer.start()
    give_up = time.monotonic() + WAIT
    while not waiting_for_a_lock():
        assert time.monotonic() < give_up, "the page never waited for the settling invoice"
        time.sleep(0.02)
    release.set()
    payer.join(WAIT)
    syncer.join(WAIT)
    assert not errors and not payer.is_alive() and not syncer.is_alive()
    synced.refresh_from_db()
    assert synced.balance == 0 and synced.status == Invoice.Status.PAID


@pytest.mark.django_db
def test_a_page_read_before_a_write_back_was_recorded_keeps_the_portals_amounts(portal, synced):
    asked_at = timezone.now()
    with transaction.atomic():
        settle(synced)
    Payment.objects.filter(reference="pi_test").update(
        halo_id=7, halo_recorded_at=asked_at + timedelta(seconds=1)
    )
    counts = upserts.invoices_upsert(portal=portal, rows=[halo_row(invoicenumber="INV-1b")], seen_at=asked_at)
    synced.refresh_from_db()
    assert counts.held == {1001}
    assert synced.balance == 0 and synced.status == Invoice.Status.PAID and synced.amount_paid == 0
    assert synced.number == "INV-1b"  # what is not money is stored as HaloPSA has it


@pytest.mark.django_db
def test_a_page_that_already_counts_the_write_back_is_stored_as_it_is(portal, synced):
    """A partial payment of 40.00 recorded while the page was asked for; the page counts it already."""
    asked_at = timezone.now()
    with transaction.atomic():
        settle(synced, amount="40.00")
    Payment.objects.filter(reference="pi_test").update(
        halo_id=7, halo_recorded_at=asked_at + timedelta(seconds=1)
    )
    row = halo_row(amountpaid="40.00", amountdue="60.00")
    counts = upserts.invoices_upsert(portal=portal, rows=[row], seen_at=asked_at)
    synced.refresh_from_db()
    assert counts.held == set()
    assert synced.balance == Decimal("60.00") and synced.amount_paid == Decimal("40.00")  # not 20.00


@pytest.mark.django_db
def test_a_write_back_recorded_before_the_page_was_asked_for_is_not_held(portal, synced):
    """HaloPSA's own change (here: it says the invoice is paid in full) is taken once the page is newer."""
    with transaction.atomic():
        settle(synced, amount="40.00")
    Payment.objects.filter(reference="pi_test").update(halo_id=7, halo_recorded_at=timezone.now())
    counts = upserts.invoices_upsert(
        portal=portal, rows=[halo_row(amountpaid="100.00", amountdue="0")], seen_at=timezone.now()
    )
    synced.refresh_from_db()
    assert counts.held == set() and synced.balance == 0 and synced.status == Invoice.Status.PAID
