"""The outbox: mail that must go out exactly once, even when the broker is down at queue time.

The database row (``LoginCode``, ``EmailVerification``, a paused ``LoginCodeFailureDay``) is the
source of truth; ``sent_at`` is null until the mail has left. The flow:

1. a service creates the row and calls ``outbox_queue_after_commit``: once the transaction has
   committed (so the worker can see the row), ``safe_enqueue`` publishes the Celery task. A publish
   error (broker down) is logged and swallowed: the page still says "check your email".
2. the task calls ``outbox_send_login_code`` / ``outbox_send_email_verification``, which lock the
   row and return at once if it is already sent (a retry after a successful send sends nothing),
   otherwise make the secret *at send time*, store only its hash, send, and set ``sent_at``.
3. every ``OUTBOX_REQUEUE_INTERVAL`` seconds (10 by default), beat runs ``outbox_requeue_unsent``:
   unsent, still useful rows whose publish failed, or succeeded more than a minute ago, are published
   again. A worker that (re)connects to the broker also asks for a re-queue of *every* unsent row
   (``portal.celery``), since messages published before a broker restart may be gone. The lock in
   step 2 makes duplicates harmless.

A publish from a web request is bounded to about ``OUTBOX_PUBLISH_TIMEOUT`` x 2 in all (connect, then
one command; no retries): a hung or unreachable broker costs a person ~0.1 s, never seconds.

Secrets are made at send time so that nothing usable waits in the database or in the broker: the
task message holds only the row id.
"""

import hashlib
import logging
import secrets
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac

from portal.outbox import outbox_publish
from portal.selectors import customers_for_email

from .audit import AuditKind, audit_record
from .mail import portal_mail_send
from .models import EmailVerification, LoginCode, LoginCodeFailureDay

logger = logging.getLogger("accounts.outbox")

#: A row whose publish succeeded this recently is not re-queued by beat.
REQUEUE_AFTER = timedelta(seconds=60)
#: Give up on a row after this many send attempts (task retries and beat re-queues together).
MAX_SEND_ATTEMPTS = 20
LOGIN_CODE_HMAC_SALT = "accounts.LoginCode.code"
#: An alert that someone is trying codes is still worth sending this long after the pause began.
ALERT_USEFUL_FOR = timedelta(days=1)


def login_code_hash(*, login_code_id: int, code: str) -> str:
    """HMAC of the code, keyed by SECRET_KEY and bound to the row: a database leak does not let
    anyone test the 10^6 possible codes offline, and equal codes of two rows hash differently."""
    return salted_hmac(LOGIN_CODE_HMAC_SALT, f"{login_code_id}:{code}", algorithm="sha256").hexdigest()


def verification_token_hash(token: str) -> str:
    """SHA-256 of a verification token. The token has 256 random bits, so a plain hash is enough:
    it cannot be brute-forced, and lookups by hash leak nothing through timing."""
    return hashlib.sha256(token.encode()).hexdigest()


def login_code_ttl() -> timedelta:
    return timedelta(minutes=settings.LOGIN_CODE_TTL_MINUTES)


def email_verification_ttl() -> timedelta:
    return timedelta(hours=settings.EMAIL_VERIFICATION_TTL_HOURS)


# --- queueing -----------------------------------------------------------------------------------


def _task_for(model):
    from . import tasks  # tasks import this module

    if model is LoginCode:
        return tasks.send_login_code
    if model is EmailVerification:
        return tasks.send_email_verification
    if model is LoginCodeFailureDay:
        return tasks.send_code_alert
    raise TypeError(f"No outbox task for {model.__name__}")


def safe_enqueue(*, model, row_id: int, fast: bool = True) -> bool:
    """Publish the send task for one row; True when the broker took it (``portal.outbox``: from a
    request bounded to about 100 ms; a failure leaves the row for beat's re-queue, ``fast=False``)."""
    return outbox_publish(model=model, row_id=row_id, task=_task_for(model), fast=fast, what="mail")


def outbox_queue_after_commit(*, row: LoginCode | EmailVerification | LoginCodeFailureDay) -> None:
    """Queue the row's mail once the surrounding transaction commits (the worker must see the row)."""
    transaction.on_commit(partial(safe_enqueue, model=type(row), row_id=row.pk))


def outbox_requeue_unsent(*, everything: bool = False) -> int:
    """Re-publish unsent, still useful rows that were not published in the last minute (beat task).

    ``everything``: also rows published recently: a worker that has just (re)connected asks for
    this, because a broker that restarted may have lost what was published before.

    Login codes are useful for ``LOGIN_CODE_TTL_MINUTES`` after they were asked for (a later code
    is one the person has given up on); verifications until they expire.
    """
    now = timezone.now()
    waiting = Q(
        sent_at__isnull=True, superseded=False, used_at__isnull=True, send_attempts__lt=MAX_SEND_ATTEMPTS
    )
    if not everything:
        waiting &= Q(last_queued_at__isnull=True) | Q(last_queued_at__lt=now - REQUEUE_AFTER)
    code_ids = list(
        LoginCode.objects.filter(waiting, created_at__gt=now - login_code_ttl())
        .order_by("created_at")
        .values_list("pk", flat=True)
    )
    verification_ids = list(
        EmailVerification.objects.filter(waiting, expires_at__gt=now)
        .order_by("created_at")
        .values_list("pk", flat=True)
    )
    alerts = LoginCodeFailureDay.objects.filter(
        paused_at__gt=now - ALERT_USEFUL_FOR,
        sent_at__isnull=True,
        skipped_at__isnull=True,
        send_attempts__lt=MAX_SEND_ATTEMPTS,
    )
    if not everything:
        alerts = alerts.filter(Q(last_queued_at__isnull=True) | Q(last_queued_at__lt=now - REQUEUE_AFTER))
    alert_ids = list(alerts.order_by("paused_at").values_list("pk", flat=True))
    queued = 0
    for model, row_ids in ((LoginCode, code_ids), (EmailVerification, verification_ids)):
        for row_id in row_ids:
            queued += safe_enqueue(model=model, row_id=row_id, fast=False)
    for row_id in alert_ids:
        queued += safe_enqueue(model=LoginCodeFailureDay, row_id=row_id, fast=False)
    if code_ids or verification_ids or alert_ids:
        logger.info(
            "outbox re-queued unsent mail",
            extra={
                "login_codes": len(code_ids),
                "verifications": len(verification_ids),
                "code_alerts": len(alert_ids),
                "queued": queued,
            },
        )
    return queued


# --- sending ------------------------------------------------------------------------------------


def _count_attempt(*, model, row_id: int) -> None:
    """Counted outside the send transaction, so an attempt that fails (and rolls back) still counts."""
    model.objects.filter(pk=row_id, sent_at__isnull=True).update(send_attempts=F("send_attempts") + 1)


def _lock_unsent(*, model, row_id: int):
    """The row, locked for this transaction, when it still waits to be sent; else None.

    Must run inside ``transaction.atomic``: the lock makes a second task for the same row wait,
    then see ``sent_at`` and send nothing.
    """
    row = model.objects.select_for_update(of=("self",)).select_related("portal").filter(pk=row_id).first()
    if row is None or row.sent_at is not None or row.superseded or row.used_at is not None:
        return None
    return row


def outbox_send_login_code(*, login_code_id: int) -> bool:
    """Send one login code's mail unless already sent or no longer useful; True when a mail left.

    The row lock is held while the mail is handed to SMTP: a second task for the same row (a retry,
    a beat re-queue) waits, then sees ``sent_at`` and sends nothing. If SMTP fails the transaction
    rolls back (no hash is stored) and the exception reaches the task, which retries.
    """
    _count_attempt(model=LoginCode, row_id=login_code_id)
    with transaction.atomic():
        row = _lock_unsent(model=LoginCode, row_id=login_code_id)
        now = timezone.now()
        if row is None or row.created_at <= now - login_code_ttl() or row.portal.sso_only:
            return False
        if not customers_for_email(portal=row.portal, email=row.email).exists():
            # Decided here, not in the request: POST /login/ does the same work for every email,
            # so its timing cannot tell contacts from strangers. The row never gets a code, but it
            # expires when a sent one would (``login_code_check`` answers for it as for a code).
            row.superseded = True
            row.expires_at = now + login_code_ttl()
            row.save(update_fields=["superseded", "expires_at"])
            audit_record(
                kind=AuditKind.CODE_NOT_SENT,
                portal=row.portal,
                email=row.email,
                detail={"row": row.pk, "reason": "not_a_contact"},
            )
            return False
        code = f"{secrets.randbelow(10**6):06d}"
        row.code_hash = login_code_hash(login_code_id=row.pk, code=code)
        row.expires_at = now + login_code_ttl()
        portal_mail_send(
            portal=row.portal,
            to=row.email,
            subject=f"Your sign-in code for {row.portal.name}",
            template="login_code",
            context={"code": code, "ttl_minutes": settings.LOGIN_CODE_TTL_MINUTES},
        )
        row.sent_at = timezone.now()
        row.save(update_fields=["code_hash", "expires_at", "sent_at"])
        audit_record(kind=AuditKind.CODE_SENT, portal=row.portal, email=row.email, detail={"row": row.pk})
    return True


def outbox_send_email_verification(*, verification_id: int) -> bool:
    """Send one verification link unless already sent or no longer useful; True when a mail left.

    Same locking and retry story as ``outbox_send_login_code``. The token has 256 random bits
    (``secrets.token_urlsafe(32)``); only its SHA-256 is stored.
    """
    _count_attempt(model=EmailVerification, row_id=verification_id)
    with transaction.atomic():
        row = _lock_unsent(model=EmailVerification, row_id=verification_id)
        now = timezone.now()
        if row is None or row.expires_at <= now:
            return False
        token = secrets.token_urlsafe(32)
        row.token_hash = verification_token_hash(token)
        link = row.portal.absolute_url(reverse("accounts:verify", args=[token]))
        portal_mail_send(
            portal=row.portal,
            to=row.email,
            subject=f"Confirm your email to sign in to {row.portal.name}",
            template="verify_email",
            context={"link": link, "expires_at": row.expires_at, "ttl_hours": _hours_left(row, now)},
        )
        row.sent_at = timezone.now()
        row.save(update_fields=["token_hash", "sent_at"])
        audit_record(
            kind=AuditKind.VERIFICATION_SENT,
            portal=row.portal,
            email=row.email,
            detail={"row": row.pk, "identity": row.identity_id},
        )
    return True


def _hours_left(row: EmailVerification, now) -> int:
    return max(1, round((row.expires_at - now).total_seconds() / 3600))


def outbox_send_code_alert(*, failure_day_id: int) -> bool:
    """Tell a contact that code sign-in for their email is paused because someone tried codes.

    Same locking and retry story as ``outbox_send_login_code``. Emails that are not contacts get no
    mail (the row is marked skipped): the budget pauses them alike, but nobody asked us to write to
    a stranger's address.
    """
    _count_attempt(model=LoginCodeFailureDay, row_id=failure_day_id)
    with transaction.atomic():
        row = (
            LoginCodeFailureDay.objects.select_for_update(of=("self",))
            .select_related("portal")
            .filter(pk=failure_day_id)
            .first()
        )
        now = timezone.now()
        if row is None or row.sent_at is not None or row.skipped_at is not None or row.paused_at is None:
            return False
        if row.paused_at <= now - ALERT_USEFUL_FOR:
            return False
        if not customers_for_email(portal=row.portal, email=row.email).exists():
            row.skipped_at = now
            row.save(update_fields=["skipped_at"])
            return False
        portal_mail_send(
            portal=row.portal,
            to=row.email,
            subject=f"Someone is trying sign-in codes for your {row.portal.name} account",
            template="code_alert",
            context={"failures": row.failures, "resume_at": row.pause_ends, "email": row.email},
        )
        row.sent_at = timezone.now()
        row.save(update_fields=["sent_at"])
        audit_record(
            kind=AuditKind.CODE_ALERT_SENT,
            portal=row.portal,
            email=row.email,
            detail={"row": row.pk, "failures": row.failures},
        )
    return True
