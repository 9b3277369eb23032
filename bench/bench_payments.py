"""Benchmark: card payments per second through the whole path, and the pay page's p95.

Run by ``make bench`` (pytest, for the live server and localstripe fixtures; PostgreSQL from
``TEST_DATABASE_URL``). Each payment: start (server computes the amount), SetupIntent, the card
confirmed at localstripe as Stripe.js would, PaymentIntent created and confirmed, settled by
localstripe's signed webhook to the live server (balances, Payment rows, receipt and HaloPSA write-back
through their outboxes), and written back to the HaloPSA stand-in (GET the invoice's payments, POST
``/api/InvoicePayment``). With ``BENCH_BROKER_URL`` (``make bench`` passes its Redis) the receipts and
write-backs go through a real Redis broker to a Celery worker; without it tasks run inline.
payments/s = payments / wall time from the first start to the last write-back posted at HaloPSA.
Numbers depend on the machine; this is for comparing changes, not a test.
"""

import contextlib
import os
import statistics
import time

import pytest

from halo.models import HaloConnection
from halo.sync import halo_sync_run
from payments.models import CardPayment, HaloWriteBack
from portal.models import Invoice
from tests.celery_worker import celery_worker, on_real_broker
from tests.halo.conftest import invoices as halo_invoices
from tests.payments.conftest import shop, stripe_settings, wait_for  # noqa: F401
from tests.standin import start_standin
from tests.stripestub import localstripe  # noqa: F401

PAYMENTS = int(os.environ.get("BENCH_PAYMENTS", "40"))
PAGE_ROUNDS = int(os.environ.get("BENCH_ROUNDS", "200"))
BROKER_URL = os.environ.get("BENCH_BROKER_URL", "")


@pytest.fixture
def halo_connected(shop, tmp_path):  # noqa: F811
    """The shop's portal connected to a HaloPSA stand-in holding PAYMENTS invoices of 10.00 (synced in)."""
    server = start_standin(tmp_path / "halo", tenant="demo")
    server.add_api_client("bench-api", "bench-secret")
    rows = [{**row, "total": "10.00"} for row in halo_invoices(PAYMENTS, client_id=1)]
    server.seed_api(clients=[{"id": 1, "name": shop.customer.name}], invoices=rows)
    connection = HaloConnection.objects.create(
        portal=shop.portal, api_url=server.api_url, auth_url=f"{server.base_url}/auth",
        client_id="bench-api", client_secret="bench-secret", tenant="demo",
    )  # fmt: skip
    assert halo_sync_run(connection=connection, full=True).status == "ok"
    yield server
    server.stop()


@pytest.mark.django_db(transaction=True)
def test_bench_payments(shop, halo_connected, settings):  # noqa: F811
    settings.LOGGING_CONFIG = None
    invoices = list(Invoice.objects.filter(customer=shop.customer, halo_id__isnull=False).order_by("halo_id"))
    assert len(invoices) == PAYMENTS
    page_invoice = shop.invoice("99.00")
    for _ in range(5):
        shop.client.get(f"/payments/pay/?invoice={page_invoice.pk}")
    timings = []
    for _ in range(PAGE_ROUNDS):
        started = time.perf_counter()
        response = shop.client.get(f"/payments/pay/?invoice={page_invoice.pk}")
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200
    timings.sort()
    p95 = timings[int(len(timings) * 0.95) - 1]

    with contextlib.ExitStack() as stack:
        if BROKER_URL:
            stack.enter_context(on_real_broker(BROKER_URL))
            stack.enter_context(celery_worker())
        started = time.perf_counter()
        for invoice in invoices:
            shop.pay([invoice])
        submitted = time.perf_counter() - started
        wait_for(
            lambda: CardPayment.objects.filter(settled_at__isnull=False).count() == PAYMENTS,
            timeout=120,
            what="every payment settled by its webhook",
        )
        settled = time.perf_counter() - started
        wait_for(
            lambda: HaloWriteBack.objects.filter(state=HaloWriteBack.State.POSTED).count() == PAYMENTS,
            timeout=120,
            what="every payment written back to HaloPSA",
        )
        total = time.perf_counter() - started
    at_halo = halo_connected.posted_payments()
    assert len(at_halo) == PAYMENTS and len({p["thirdpartyid"] for p in at_halo}) == PAYMENTS
    print(
        f"\npay page (GET /payments/pay/): median {statistics.median(timings) * 1000:.1f} ms, "
        f"p95 {p95 * 1000:.1f} ms over {PAGE_ROUNDS} requests"
        f"\ncard payments: {PAYMENTS} in {total:.2f} s = {PAYMENTS / total:.2f} payments/s through the whole path "
        f"incl. the HaloPSA write-back ({'Celery worker on Redis' if BROKER_URL else 'tasks inline'}; "
        f"all settled after {settled:.2f} s, all at HaloPSA after {total:.2f} s; browser side submitted in "
        f"{submitted:.2f} s = {submitted / PAYMENTS * 1000:.0f} ms each; localstripe waits 1 s before each webhook)"
    )
