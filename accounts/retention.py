"""Pruning of accounts rows nobody needs any more (a beat task runs it daily).

Why: anonymous visitors can make audit rows, codes and verifications at will; without an end they
fill the database. The audit trail is kept ``EVENT_RETENTION_DAYS`` (180 by default); a code or a
verification link is useless once expired, but is kept one more day because per-day limits on code
requests and wrong guesses may count the day's rows.
"""

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from portal.retention import delete_in_batches

from .models import AuditEvent, EmailVerification, LoginCode, LoginCodeFailureDay

#: How long an expired (or never sent) code or verification is kept for per-day counting.
EXPIRED_GRACE = timedelta(days=1)


def accounts_prune(*, now=None) -> dict[str, int]:
    now = now or timezone.now()
    events_before = now - timedelta(days=settings.EVENT_RETENTION_DAYS)
    gone_before = now - EXPIRED_GRACE
    return {
        "audit_events": delete_in_batches(AuditEvent.objects.filter(created_at__lt=events_before)),
        "login_codes": delete_in_batches(
            LoginCode.objects.filter(
                Q(expires_at__lt=gone_before) | Q(expires_at__isnull=True, created_at__lt=gone_before)
            )
        ),
        "email_verifications": delete_in_batches(
            EmailVerification.objects.filter(expires_at__lt=gone_before)
        ),
        # A day's failure budget matters only on that day (UTC); yesterday's is kept for the alert mail.
        "code_failure_days": delete_in_batches(
            LoginCodeFailureDay.objects.filter(day__lt=(now - 2 * EXPIRED_GRACE).date())
        ),
    }
