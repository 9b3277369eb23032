"""Celery tasks of the outbox. Thin on purpose: load nothing, call the service, let it decide.

SMTP failures (and refused connections, which are ``OSError``) are retried with exponential
backoff; after the last retry the row stays unsent and beat's ``requeue_unsent_mail`` tries again
later, until the row expires or its attempt budget is spent.
"""

import logging
from smtplib import SMTPException

from celery import shared_task

from .outbox import (
    outbox_requeue_unsent,
    outbox_send_code_alert,
    outbox_send_email_verification,
    outbox_send_login_code,
)
from .retention import accounts_prune

logger = logging.getLogger("accounts.retention")

MAIL_TASK_OPTIONS = {
    "autoretry_for": (SMTPException, OSError),
    "retry_backoff": True,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 5,
    "acks_late": True,
    "ignore_result": True,
}


@shared_task(name="accounts.tasks.send_login_code", **MAIL_TASK_OPTIONS)
def send_login_code(login_code_id: int) -> bool:
    return outbox_send_login_code(login_code_id=login_code_id)


@shared_task(name="accounts.tasks.send_email_verification", **MAIL_TASK_OPTIONS)
def send_email_verification(verification_id: int) -> bool:
    return outbox_send_email_verification(verification_id=verification_id)


@shared_task(name="accounts.tasks.send_code_alert", **MAIL_TASK_OPTIONS)
def send_code_alert(failure_day_id: int) -> bool:
    return outbox_send_code_alert(failure_day_id=failure_day_id)


@shared_task(name="accounts.tasks.requeue_unsent_mail", ignore_result=True)
def requeue_unsent_mail(everything: bool = False) -> int:
    return outbox_requeue_unsent(everything=everything)


@shared_task(name="accounts.tasks.prune_old_records", ignore_result=True)
def prune_old_records() -> dict:
    """Beat, daily: old audit rows, expired codes and verifications (see accounts.retention)."""
    deleted = accounts_prune()
    logger.info("accounts_pruned", extra=deleted)
    return deleted
