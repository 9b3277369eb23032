"""Payment mail and HaloPSA write-backs are published the way sign-in mail is (``portal.outbox``): from a
request such as Stripe's webhook, a hung or refused broker costs a fraction of a second and leaves the
row for beat's re-queue. No broker needed: the publisher points at local sockets."""

import time
from decimal import Decimal
from functools import partial

import pytest

from payments.models import CardPayment, HaloWriteBack, PaymentNotice
from payments.notices import safe_enqueue
from payments.writeback import writeback_safe_enqueue
from tests.celery_worker import publisher_at
from tests.factories import InvoiceFactory

#: What a publish from a request may take here: about 0.1 s by design; the worker-side budget
#: (two socket timeouts of 1 s) can never pass it.
REQUEST_PUBLISH_BOUND = 1.0


@pytest.mark.django_db
def test_payment_mail_and_write_back_publish_fail_fast(not_eager, portal, customer, unreachable_broker):
    invoice = InvoiceFactory(customer=customer, halo_id=1001)
    paid = CardPayment.objects.create(
        portal=portal, customer=customer, amount=Decimal("120.00"), currency="USD", payment_intent_id="pi_1"
    )
    notice = PaymentNotice.objects.create(
        portal=portal, card_payment=paid, kind=PaymentNotice.Kind.RECEIPT, email="alice@example.com"
    )
    writeback = HaloWriteBack.objects.create(
        portal=portal, card_payment=paid, invoice=invoice, amount=Decimal("120.00"), thirdpartyid="pi_1"
    )
    publishes = [
        partial(safe_enqueue, notice_id=notice.pk),
        partial(writeback_safe_enqueue, writeback_id=writeback.pk),
    ]

    with publisher_at(unreachable_broker):
        for publish in publishes:
            started = time.monotonic()
            assert publish() is False
            elapsed = time.monotonic() - started
            assert elapsed < REQUEST_PUBLISH_BOUND, f"{publish.func.__qualname__} took {elapsed:.2f} s"

    notice.refresh_from_db()
    writeback.refresh_from_db()
    assert notice.last_queued_at is None and writeback.last_queued_at is None  # beat's re-queue takes them
