"""Celery tasks of payments. Thin: call the service, let it decide."""

from smtplib import SMTPException

from celery import shared_task

from .autopay import autopay_run
from .notices import payment_notice_send, payment_notices_requeue
from .settlement import reconcile_pending as settlement_reconcile_pending
from .writeback import writeback_post, writeback_requeue

MAIL_TASK_OPTIONS = {
    "autoretry_for": (SMTPException, OSError),
    "retry_backoff": True,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 5,
    "acks_late": True,
    "ignore_result": True,
}


@shared_task(name="payments.tasks.send_payment_notice", **MAIL_TASK_OPTIONS)
def send_payment_notice(notice_id: int) -> bool:
    return payment_notice_send(notice_id=notice_id)


@shared_task(name="payments.tasks.requeue_notices", ignore_result=True)
def requeue_notices() -> int:
    return payment_notices_requeue()


@shared_task(name="payments.tasks.reconcile_pending", ignore_result=True)
def reconcile_pending() -> int:
    return settlement_reconcile_pending()


@shared_task(name="payments.tasks.autopay_run", ignore_result=True)
def run_autopay() -> dict:
    return autopay_run()


@shared_task(name="payments.tasks.post_writeback", acks_late=True, ignore_result=True)
def post_writeback(writeback_id: int) -> str:
    """One attempt; failures are recorded on the row and retried by beat after the back-off."""
    return writeback_post(writeback_id=writeback_id)


@shared_task(name="payments.tasks.requeue_writebacks", ignore_result=True)
def requeue_writebacks() -> int:
    return writeback_requeue()
