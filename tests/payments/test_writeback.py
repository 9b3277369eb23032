"""Card payments and refunds written back to HaloPSA, exactly once, against the real stand-in.

Each test: a portal served by the live server and paid through localstripe (``shop``), connected to a
HaloPSA stand-in of its own whose clients and invoices the portal imported with a real sync; the card
payment settles by localstripe's signed webhook and the write-back task runs inline after the commit.
"""

import hashlib
import hmac
import json
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from halo import upserts
from halo.client import HaloClient
from halo.models import HaloConnection
from halo.refresh import halo_object_refresh_run
from halo.sync import halo_sync_run
from payments import writeback
from payments.models import HaloWriteBack, PaymentAudit
from payments.refunds import card_refund_create
from payments.tasks import post_writeback
from payments.writeback import writeback_post, writeback_requeue
from portal.models import Invoice, Payment
from portal.permissions import portal_admin_group_ensure, portal_staff_user_ensure
from tests.celery_worker import broker_url_from_env, celery_worker, count_finished_tasks, on_real_broker
from tests.factories import PortalFactory
from tests.halo.conftest import API_CLIENT_ID, API_SECRET, halo, halo_server, invoices  # noqa: F401
from tests.payments.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

State = HaloWriteBack.State


@pytest.fixture
def connected(shop, halo):  # noqa: F811
    """The shop's portal connected to the stand-in, with HaloPSA's client "Acme Ltd" and three invoices
    (ids 1001-1003, 100.00 each) imported by a full sync (the portal's Acme Ltd is adopted by name)."""
    halo.seed_api(clients=[{"id": 1, "name": "Acme Ltd"}], invoices=invoices(3, client_id=1))
    connection = HaloConnection.objects.create(
        portal=shop.portal,
        api_url=halo.api_url,
        auth_url=f"{halo.base_url}/auth",
        client_id=API_CLIENT_ID,
        client_secret=API_SECRET,
        tenant="demo",
    )
    assert halo_sync_run(connection=connection, full=True).status == "ok"
    shop.customer.refresh_from_db()
    assert shop.customer.halo_id == 1
    return connection


def halo_invoice(halo_id: int) -> Invoice:
    return Invoice.objects.get(halo_id=halo_id)


def wait_state(payment, state=State.POSTED, count: int = 1):
    return wait_for(
        lambda: HaloWriteBack.objects.filter(card_payment=payment, state=state).count() == count,
        what=f"{count} write-back row(s) {state}",
    )


def pay(shop, invoices_, amount=None):
    payment, _ = shop.pay(invoices_, amount=amount)
    return shop.wait_settled(payment)


def at_halo(halo, **match):  # noqa: F811
    return [p for p in halo.posted_payments() if all(p.get(k) == v for k, v in match.items())]


def test_a_payment_is_posted_once_with_the_intent_id(shop, halo, connected):  # noqa: F811
    payment = pay(shop, [halo_invoice(1001)])
    wait_state(payment)
    posted = halo.posted_payments()
    assert len(posted) == 1
    assert posted[0]["invoice_id"] == 1001 and posted[0]["client_id"] == 1
    assert Decimal(str(posted[0]["amount"])) == Decimal("100.00")
    assert posted[0]["intent_id"] == payment.payment_intent_id == posted[0]["thirdpartyid"]
    row = HaloWriteBack.objects.get(card_payment=payment)
    assert row.attempts == 1 and row.halo_payment_id and not row.adopted and row.last_error == ""
    # The portal's own ledger row now carries HaloPSA's id.
    assert Payment.objects.get(invoice__halo_id=1001).halo_id == row.halo_payment_id
    # A duplicate task, a beat requeue and a settle replay change nothing.
    assert writeback_post(writeback_id=row.pk) == "skipped"
    assert writeback_requeue(now=timezone.now() + timedelta(hours=2)) == 0
    assert len(halo.posted_payments()) == 1


def test_one_row_per_invoice_for_a_multi_invoice_payment(shop, halo, connected):  # noqa: F811
    payment = pay(shop, [halo_invoice(1001), halo_invoice(1002)])
    wait_state(payment, count=2)
    posted = sorted(halo.posted_payments(), key=lambda p: p["invoice_id"])
    assert [(p["invoice_id"], Decimal(str(p["amount"]))) for p in posted] == [
        (1001, Decimal("100.00")),
        (1002, Decimal("100.00")),
    ]
    assert {p["thirdpartyid"] for p in posted} == {payment.payment_intent_id}


def test_retry_after_a_halopsa_5xx_posts_once(shop, halo, connected):  # noqa: F811
    halo.knobs(fail={"path": "/api/InvoicePayment", "count": 1, "status": 500})
    payment = pay(shop, [halo_invoice(1001)])
    row = wait_for(
        # attempts is counted when an attempt starts; a failed one is one whose error is recorded
        lambda: HaloWriteBack.objects.filter(card_payment=payment, attempts=1).exclude(last_error="").first(),
        what="a failed attempt",
    )
    assert row.state == State.PENDING and "HTTP 500" in row.last_error
    assert row.next_attempt_at > timezone.now()
    assert halo.posted_payments() == []
    assert writeback_requeue() == 0  # backing off: not due yet
    assert writeback_requeue(now=row.next_attempt_at + timedelta(seconds=1)) == 1
    row.refresh_from_db()
    assert row.state == State.POSTED and row.attempts == 2 and row.last_error == ""
    assert len(halo.posted_payments()) == 1


def test_the_write_back_post_is_never_repeated_within_one_attempt(shop, halo, connected):  # noqa: F811
    """A 503 may come from a proxy after HaloPSA stored the payment, so the write-back's POST is not
    retried by the client (it would post a second row); the row's next attempt lists HaloPSA first."""
    from halo.client import HaloAPIError, HaloClient

    client = HaloClient(connected)
    row = {"invoice_id": 1001, "client_id": 1, "amount": 1.0, "thirdpartyid": "pi_test_once"}
    halo.knobs(fail={"path": "/api/InvoicePayment", "count": 2, "status": 503})
    halo.reset_stats()

    with pytest.raises(HaloAPIError):
        client.post("InvoicePayment", [row], retry=False)

    assert halo.count("/api/InvoicePayment") == 1  # one POST, no retries
    assert halo.posted_payments() == []


def test_an_attempt_that_crashes_still_counts_and_the_row_ends_up_failed(shop, halo, connected, monkeypatch):  # noqa: F811
    import payments.writeback

    def crash(*args, **kwargs):
        raise RuntimeError("a bug in the write-back")

    payment = pay(shop, [halo_invoice(1001)])
    row = wait_for(
        lambda: HaloWriteBack.objects.filter(card_payment=payment, state=State.POSTED).first(),
        what="the first write-back",
    )
    row.state, row.attempts, row.halo_payment_id = State.PENDING, 0, None
    row.save(update_fields=["state", "attempts", "halo_payment_id"])
    monkeypatch.setattr(payments.writeback, "_already_in_halo", crash)

    for _ in range(payments.writeback.MAX_ATTEMPTS):
        with pytest.raises(RuntimeError):
            payments.writeback.writeback_post(writeback_id=row.pk)
    row.refresh_from_db()
    assert row.attempts == payments.writeback.MAX_ATTEMPTS and row.state == State.PENDING
    assert payments.writeback.writeback_post(writeback_id=row.pk) == "failed"
    row.refresh_from_db()
    assert row.state == State.FAILED  # the admin sees it and can retry; beat stops calling HaloPSA


class WorkerDied(RuntimeError):
    """Stands for the worker's death between HaloPSA's answer and our commit (the transaction rolls back)."""


def paid_with_a_failed_write_back(shop, halo) -> tuple[Invoice, HaloWriteBack]:  # noqa: F811
    """Invoice 1001 paid in the portal; HaloPSA answered its write-back 502, so it still says 100.00 due."""
    halo.knobs(fail={"path": "/api/InvoicePayment", "count": 1, "status": 502})
    invoice = halo_invoice(1001)
    payment = pay(shop, [invoice])
    row = wait_for(
        # attempts is counted when an attempt starts; a failed one is one whose error is recorded
        lambda: HaloWriteBack.objects.filter(card_payment=payment, attempts=1).exclude(last_error="").first(),
        what="a failed attempt",
    )
    assert row.state == State.PENDING
    return invoice, row


def test_a_sync_while_the_write_back_is_pending_keeps_the_invoice_paid(shop, halo, connected):  # noqa: F811
    invoice, row = paid_with_a_failed_write_back(shop, halo)
    # HaloPSA still says 100.00 due; the portal knows the customer paid it: the invoice stays paid.
    assert halo_sync_run(connection=connected, full=True).status == "ok"
    invoice.refresh_from_db()
    assert invoice.balance == 0 and invoice.status == Invoice.Status.PAID and invoice.payments.count() == 1
    assert writeback_requeue(now=row.next_attempt_at + timedelta(seconds=1)) == 1
    assert halo_sync_run(connection=connected, full=True).status == "ok"
    invoice.refresh_from_db()
    assert invoice.balance == 0 and invoice.status == Invoice.Status.PAID
    assert [p.halo_id for p in invoice.payments.all()] == [
        HaloWriteBack.objects.get(pk=row.pk).halo_payment_id
    ]
    assert len(halo.posted_payments()) == 1


def test_a_payment_halopsa_kept_without_our_thirdpartyid_is_adopted_by_its_intent(shop, halo, connected):  # noqa: F811
    """HaloPSA stored the first attempt but answered 502 and dropped ``thirdpartyid``; the retry finds the
    row by its ``intent_id`` (as the sync links it) instead of posting the payment a second time."""
    invoice, row = paid_with_a_failed_write_back(shop, halo)
    intent = row.card_payment.payment_intent_id
    HaloClient(connected).post(
        "InvoicePayment",
        [{"invoice_id": 1001, "client_id": 1, "amount": 100.0, "intent_id": intent, "date": "2026-12-01"}],
    )
    assert writeback_post(writeback_id=row.pk) == "adopted"
    row.refresh_from_db()
    assert row.state == State.POSTED and row.adopted and len(halo.posted_payments()) == 1
    assert halo_sync_run(connection=connected, full=True).status == "ok"
    assert [(p.halo_id, p.reference) for p in invoice.payments.all()] == [(row.halo_payment_id, intent)]


def write_back_lands_before_the_next_page_is_stored(shop, halo, monkeypatch) -> tuple[Invoice, HaloWriteBack]:  # noqa: F811
    """A failed write-back (``paid_with_a_failed_write_back``); the next page of invoices stored is read
    from HaloPSA first, then the write-back lands, then the page is stored."""
    invoice, row = paid_with_a_failed_write_back(shop, halo)
    store, landed = upserts.invoices_upsert, []

    def land_then_store(**kwargs):
        if not landed:
            landed.append(writeback_post(writeback_id=row.pk))
            assert landed == ["posted"]
        return store(**kwargs)

    monkeypatch.setattr(upserts, "invoices_upsert", land_then_store)
    halo.reset_stats()
    return invoice, row


@pytest.mark.parametrize("reader", ["sync", "webhook refresh"])
def test_a_write_back_recorded_while_halopsa_is_read_keeps_the_invoice_paid(
    shop,
    halo,  # noqa: F811
    connected,
    monkeypatch,
    reader,
):
    """The page (100.00 due) must not re-open the invoice; the reader asks HaloPSA once more, which agrees."""
    invoice, row = write_back_lands_before_the_next_page_is_stored(shop, halo, monkeypatch)
    if reader == "sync":
        assert halo_sync_run(connection=connected, full=True).status == "ok"
    else:
        assert halo_object_refresh_run(connection=connected, kind="invoice", object_id=1001) == "stored"
    invoice.refresh_from_db()
    assert invoice.balance == 0 and invoice.status == Invoice.Status.PAID
    assert [p.halo_id for p in invoice.payments.all()] == [
        HaloWriteBack.objects.get(pk=row.pk).halo_payment_id
    ]
    assert invoice.amount_paid == Decimal("100.00")  # HaloPSA's figure, from the second read
    assert len(halo.posted_payments()) == 1
    # The sync's page, then one more read of 1001 alone; the refresh's read, then one more.
    assert halo.count("/api/Invoice/1001") == (1 if reader == "sync" else 2)


def test_a_held_invoice_halopsa_will_not_answer_for_stays_paid_and_the_sync_completes(
    shop,
    halo,  # noqa: F811
    connected,
    monkeypatch,
):
    invoice, _row = write_back_lands_before_the_next_page_is_stored(shop, halo, monkeypatch)
    halo.knobs(fail={"path": "/api/Invoice/1001", "count": 1, "status": 500})
    assert halo_sync_run(connection=connected, full=True).status == "ok"
    invoice.refresh_from_db()
    assert invoice.balance == 0 and invoice.status == Invoice.Status.PAID  # the next run reads it again
    assert halo.count("/api/Invoice/1001") == 1


def test_crash_after_the_post_then_retry_is_exactly_once_and_sync_links_it(
    shop,
    halo,  # noqa: F811
    connected,
    monkeypatch,
):
    real = writeback._record_posted

    def die(*args, **kwargs):
        raise WorkerDied("killed after HaloPSA answered")

    monkeypatch.setattr(writeback, "_record_posted", die)
    payment = pay(shop, [halo_invoice(1001)])
    wait_for(lambda: len(halo.posted_payments()) == 1, what="the POST that HaloPSA stored")
    row = HaloWriteBack.objects.get(card_payment=payment)
    assert row.state == State.PENDING and row.halo_payment_id is None  # our commit never happened
    # A sync reading HaloPSA now sees the payment: it links our row instead of importing another.
    assert halo_sync_run(connection=connected, full=True).status == "ok"
    assert Payment.objects.filter(invoice__halo_id=1001).count() == 1
    at_halo_row = at_halo(halo, invoice_id=1001)[0]
    linked = Payment.objects.get(invoice__halo_id=1001)
    assert linked.halo_id is not None and linked.reference == payment.payment_intent_id

    monkeypatch.setattr(writeback, "_record_posted", real)
    later = timezone.now() + writeback.REQUEUE_AFTER + timedelta(seconds=1)
    assert writeback_requeue(now=later) == 1  # the lost task is re-published by beat
    row.refresh_from_db()
    assert row.state == State.POSTED and row.adopted and row.halo_payment_id == linked.halo_id
    assert len(halo.posted_payments()) == 1 and at_halo_row["thirdpartyid"] == payment.payment_intent_id


def test_a_refund_is_posted_as_a_negative_payment_and_reopens_the_balance(shop, halo, connected):  # noqa: F811
    invoice = halo_invoice(1001)
    payment = pay(shop, [invoice])
    wait_state(payment)
    invoice.refresh_from_db()
    assert invoice.balance == 0 and invoice.status == Invoice.Status.PAID
    refund = card_refund_create(card_payment=payment, amount=Decimal("30.00"), user=None)
    wait_for(
        lambda: HaloWriteBack.objects.filter(refund=refund, state=State.POSTED).exists(),
        what="the refund written back",
    )
    rows = at_halo(halo, invoice_id=1001)
    assert sorted(Decimal(str(p["amount"])) for p in rows) == [Decimal("-30.00"), Decimal("100.00")]
    refund_row = next(p for p in rows if Decimal(str(p["amount"])) < 0)
    assert refund_row["thirdpartyid"] == refund.stripe_refund_id
    assert refund_row["intent_id"] == payment.payment_intent_id
    invoice.refresh_from_db()
    assert invoice.balance == Decimal("30.00") and invoice.status == Invoice.Status.OPEN
    assert sorted(p.amount for p in invoice.payments.all()) == [Decimal("-30.00"), Decimal("100.00")]
    # HaloPSA agrees: a sync leaves the re-opened balance where it is, with no extra payment rows.
    assert halo_sync_run(connection=connected, full=True).status == "ok"
    invoice.refresh_from_db()
    assert invoice.balance == Decimal("30.00") and invoice.payments.count() == 2


def test_sync_after_write_back_keeps_one_payment_and_the_balance(shop, halo, connected):  # noqa: F811
    payment = pay(shop, [halo_invoice(1001)], amount="40.00")
    wait_state(payment)
    run = halo_sync_run(connection=connected, full=True)
    assert run.status == "ok"
    invoice = halo_invoice(1001)
    assert [(p.amount, p.halo_id) for p in invoice.payments.all()] == [
        (Decimal("40.00"), HaloWriteBack.objects.get(card_payment=payment).halo_payment_id)
    ]
    assert invoice.balance == Decimal("60.00") and invoice.status == Invoice.Status.OPEN


def _admin(portal, email):
    portal_admin_group_ensure()
    staff, _ = portal_staff_user_ensure(portal=portal, email=email, password="staff-password-123")
    client = Client(HTTP_HOST=portal.host)
    client.force_login(staff)
    return client, staff


def test_admin_retries_a_failed_write_back_with_an_audit_row(shop, halo, connected):  # noqa: F811
    halo.knobs(fail={"path": "/api/InvoicePayment", "count": 1, "status": 403})
    payment = pay(shop, [halo_invoice(1001)])
    wait_state(payment, state=State.FAILED)
    row = HaloWriteBack.objects.get(card_payment=payment)
    assert "HTTP 403" in row.last_error and "edit:invoices" in row.last_error  # needs attention at once
    admin, staff = _admin(shop.portal, "admin@acme-msp.example")
    listing = admin.get("/admin/payments/halowriteback/")
    assert listing.status_code == 200 and b"Failed: needs attention" in listing.content
    detail = admin.get(f"/admin/payments/cardpayment/{payment.pk}/change/")
    assert b"1 failed: needs attention" in detail.content
    response = admin.post(
        "/admin/payments/halowriteback/",
        {"action": "retry_writeback_action", "_selected_action": [row.pk]},
    )
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.state == State.POSTED and len(halo.posted_payments()) == 1
    audit = PaymentAudit.objects.get(kind="writeback_retry")
    assert audit.user == staff and audit.card_payment == payment and audit.portal == shop.portal


def test_another_portals_staff_can_neither_see_nor_retry(shop, halo, connected):  # noqa: F811
    halo.knobs(fail={"path": "/api/InvoicePayment", "count": 1, "status": 403})
    payment = pay(shop, [halo_invoice(1001)])
    wait_state(payment, state=State.FAILED)
    row = HaloWriteBack.objects.get(card_payment=payment)
    other = PortalFactory(name="Globex", url="http://globex.localhost")
    admin, _ = _admin(other, "admin@globex.example")
    listing = admin.get("/admin/payments/halowriteback/")
    assert listing.status_code == 200 and row.thirdpartyid.encode() not in listing.content
    assert admin.get(f"/admin/payments/halowriteback/{row.pk}/change/").status_code == 404
    admin.post(
        "/admin/payments/halowriteback/", {"action": "retry_writeback_action", "_selected_action": [row.pk]}
    )
    row.refresh_from_db()
    assert row.state == State.FAILED and not PaymentAudit.objects.filter(kind="writeback_retry").exists()
    assert halo.posted_payments() == []


def test_no_connection_no_rows_and_a_manual_invoice_is_not_applicable(shop, halo):  # noqa: F811
    payment = pay(shop, [shop.invoice("25.00")])
    assert not HaloWriteBack.objects.filter(card_payment=payment).exists()
    HaloConnection.objects.create(
        portal=shop.portal, api_url=halo.api_url, auth_url=f"{halo.base_url}/auth",
        client_id=API_CLIENT_ID, client_secret=API_SECRET, tenant="demo",
    )  # fmt: skip
    second = pay(shop, [shop.invoice("15.00")])
    row = HaloWriteBack.objects.get(card_payment=second)
    assert row.state == State.NOT_APPLICABLE and "not imported from HaloPSA" in row.last_error
    assert halo.posted_payments() == []


def test_a_refund_of_a_multi_invoice_payment_is_spread_in_payment_order(shop, halo, connected):  # noqa: F811
    first, second = halo_invoice(1001), halo_invoice(1002)
    payment = pay(shop, [first, second])
    wait_state(payment, count=2)
    refund = card_refund_create(card_payment=payment, amount=Decimal("150.00"), user=None)
    wait_for(
        lambda: HaloWriteBack.objects.filter(refund=refund, state=State.POSTED).count() == 2,
        what="both refund rows written back",
    )
    negative = sorted(
        (p["invoice_id"], Decimal(str(p["amount"])))
        for p in at_halo(halo, thirdpartyid=refund.stripe_refund_id)
    )
    assert negative == [(1001, Decimal("-100.00")), (1002, Decimal("-50.00"))]
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.balance, second.balance) == (Decimal("100.00"), Decimal("50.00"))


def test_after_the_last_attempt_the_row_needs_attention(shop, halo, connected, monkeypatch):  # noqa: F811
    monkeypatch.setattr(writeback, "MAX_ATTEMPTS", 2)
    halo.knobs(fail={"path": "/api/InvoicePayment", "count": 2, "status": 500})
    payment = pay(shop, [halo_invoice(1001)])
    row = wait_for(
        # attempts is counted when an attempt starts; a failed one is one whose error is recorded
        lambda: HaloWriteBack.objects.filter(card_payment=payment, attempts=1).exclude(last_error="").first(),
        what="a failed attempt",
    )
    assert writeback_requeue(now=row.next_attempt_at + timedelta(seconds=1)) == 1
    row.refresh_from_db()
    assert row.state == State.FAILED and row.attempts == 2 and "HTTP 500" in row.last_error
    assert writeback_requeue(now=timezone.now() + timedelta(days=1)) == 0  # beat leaves it to the admin
    assert halo.posted_payments() == []


@pytest.mark.broker
def test_with_a_real_worker_a_crash_then_beat_and_duplicate_tasks_post_once(
    shop,
    halo,  # noqa: F811
    connected,
    monkeypatch,
):
    """The task runs in a Celery worker fed by Redis: it dies after HaloPSA stored the payment, then beat's
    requeue and two duplicate publishes reach the worker; HaloPSA ends up with exactly one row."""
    url = broker_url_from_env()
    if not url:
        pytest.skip("TEST_BROKER_URL is not set")
    real = writeback._record_posted

    def die(*args, **kwargs):
        raise WorkerDied("killed after HaloPSA answered")

    with on_real_broker(url), celery_worker(), count_finished_tasks() as finished:
        monkeypatch.setattr(writeback, "_record_posted", die)
        payment = pay(shop, [halo_invoice(1001)])
        wait_for(lambda: len(halo.posted_payments()) == 1, what="the POST that HaloPSA stored")
        row = HaloWriteBack.objects.get(card_payment=payment)
        wait_for(lambda: finished() >= 2, what="the receipt and the crashed write-back task")
        row.refresh_from_db()
        assert row.state == State.PENDING
        monkeypatch.setattr(writeback, "_record_posted", real)
        done = finished()
        assert writeback_requeue(now=timezone.now() + writeback.REQUEUE_AFTER + timedelta(seconds=1)) == 1
        post_writeback.apply_async(args=[row.pk])
        post_writeback.apply_async(args=[row.pk])
        wait_for(lambda: finished() >= done + 3, what="the requeued and duplicate tasks")
    row.refresh_from_db()
    assert row.state == State.POSTED and row.adopted
    assert len(halo.posted_payments()) == 1


def _refund_updated(shop, refund_id: str, payment, status: str):
    """Stripe's ``charge.refund.updated``, signed with the portal's secret (localstripe never fails one)."""
    obj = {"id": refund_id, "object": "refund", "payment_intent": payment.payment_intent_id, "status": status,
           "amount": 3000, "currency": "usd"}  # fmt: skip
    payload = json.dumps({"id": f"evt_{refund_id}_{status}", "type": "charge.refund.updated",
                          "data": {"object": obj}}).encode()  # fmt: skip
    ts = int(time.time())
    sig = hmac.new(
        shop.account.webhook_secret.encode(), f"{ts}.".encode() + payload, hashlib.sha256
    ).hexdigest()
    return Client(HTTP_HOST=shop.portal.host).post(
        f"/payments/webhook/{shop.account.webhook_key}/", payload, content_type="application/json",
        HTTP_STRIPE_SIGNATURE=f"t={ts},v1={sig}",
    )  # fmt: skip


def test_a_refund_that_fails_later_is_paid_again_here_and_in_halopsa(shop, halo, connected):  # noqa: F811
    """The card was closed: Stripe fails the refund days later and keeps the money. The invoice is
    paid again, the history shows both, HaloPSA gets a positive payment, and a sync agrees."""
    invoice = halo_invoice(1001)
    payment = pay(shop, [invoice])
    wait_state(payment)
    refund = card_refund_create(card_payment=payment, amount=Decimal("30.00"), user=None)
    wait_for(
        lambda: HaloWriteBack.objects.filter(refund=refund, state=State.POSTED).exists(), what="the refund"
    )
    assert _refund_updated(shop, refund.stripe_refund_id, payment, "failed").status_code == 200
    assert (
        _refund_updated(shop, refund.stripe_refund_id, payment, "failed").status_code == 200
    )  # again: no-op
    # Stripe sends events in any order: one still naming the refund pending, delivered late, is old
    # news (failed is final) and must not give the money back a second time.
    assert _refund_updated(shop, refund.stripe_refund_id, payment, "pending").status_code == 200
    invoice.refresh_from_db()
    payment.refresh_from_db()
    assert invoice.balance == 0 and invoice.status == Invoice.Status.PAID
    assert payment.amount_refunded == 0
    history = sorted((p.amount, p.method.split(":")[0]) for p in invoice.payments.all())
    assert [amount for amount, _ in history] == [Decimal("-30.00"), Decimal("30.00"), Decimal("100.00")]
    wait_for(
        lambda: HaloWriteBack.objects.filter(refund=refund, kind=HaloWriteBack.Kind.REFUND_FAILED,
                                             state=State.POSTED).exists(),
        what="the failed refund written back",
    )  # fmt: skip
    rows = at_halo(halo, invoice_id=1001)
    assert sorted(Decimal(str(p["amount"])) for p in rows) == [
        Decimal("-30.00"),
        Decimal("30.00"),
        Decimal("100.00"),
    ]
    assert halo_sync_run(connection=connected, full=True).status == "ok"
    invoice.refresh_from_db()
    assert invoice.balance == 0 and invoice.payments.count() == 3
