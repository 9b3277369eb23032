"""Benchmark: card payments per second through the whole path, and the pay page's p95.

Run by ``make bench`` (pytest, for the live server and localstripe fixtures; PostgreSQL from
``TEST_DATABASE_URL``). Each payment: start (server computes the amount), SetupIntent, the card
confirmed at localstripe as Stripe.js would, PaymentIntent created and confirmed, and settled by
localstripe's signed webhook to the live server (balances, Payment rows, receipt through the outbox,
tasks inline). payments/s = payments / wall time from the first start to the last settlement.
Numbers depend on the machine; this is for comparing changes, not a test.
"""

import os
import statistics
import time

import pytest

from payments.models import CardPayment
from tests.payments.conftest import shop, stripe_settings, wait_for  # noqa: F401
from tests.stripestub import localstripe  # noqa: F401

PAYMENTS = int(os.environ.get("BENCH_PAYMENTS", "40"))
PAGE_ROUNDS = int(os.environ.get("BENCH_ROUNDS", "200"))


@pytest.mark.django_db(transaction=True)
def test_bench_payments(shop, settings):  # noqa: F811
    settings.LOGGING_CONFIG = None
    invoices = [shop.invoice("10.00") for _ in range(PAYMENTS)]
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

    started = time.perf_counter()
    for invoice in invoices:
        shop.pay([invoice])
    submitted = time.perf_counter() - started
    wait_for(
        lambda: CardPayment.objects.filter(settled_at__isnull=False).count() == PAYMENTS,
        timeout=120,
        what="every payment settled by its webhook",
    )
    total = time.perf_counter() - started
    print(
        f"\npay page (GET /payments/pay/): median {statistics.median(timings) * 1000:.1f} ms, "
        f"p95 {p95 * 1000:.1f} ms over {PAGE_ROUNDS} requests"
        f"\ncard payments: {PAYMENTS} in {total:.2f} s = {PAYMENTS / total:.2f} payments/s through the whole path "
        f"(browser side submitted in {submitted:.2f} s = {submitted / PAYMENTS * 1000:.0f} ms each; "
        "localstripe waits 1 s before each webhook)"
    )
