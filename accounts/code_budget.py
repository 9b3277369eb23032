"""The daily failure budget of the email code: wrong codes per (portal, email) per UTC day.

A six-digit code dies after ``LOGIN_CODE_MAX_ATTEMPTS`` wrong tries, but anyone may ask for a new
one, so per-code limits alone let rotating addresses try about 2,400 guesses a day per email. The
budget caps that at ``LOGIN_CODE_DAILY_FAILURE_BUDGET`` (one chance in about 50,000 a day): once it
is spent, code sign-in for the email pauses until midnight UTC (SSO still works), an audit row says
so, and the contact gets a mail through the outbox saying someone is trying codes.

Unknown emails have a budget too and pause alike: a pause that only known emails reached would tell
an attacker which addresses are contacts. They get no mail (the outbox skips non-contacts).
"""

from datetime import UTC, date, datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from portal.models import Portal

from .audit import AuditKind, audit_record
from .models import LoginCodeFailureDay
from .outbox import outbox_queue_after_commit


def _today() -> date:
    return timezone.now().astimezone(UTC).date()


def code_failure_day_locked(*, portal: Portal, email: str) -> LoginCodeFailureDay:
    """Today's row for (portal, email), locked until the caller's transaction ends.

    Called first in every code check, so parallel guesses for one email queue up here: none can
    slip past a budget another guess has just spent.
    """
    today = _today()
    row = LoginCodeFailureDay.objects.filter(portal=portal, email=email, day=today).first()
    if row is None:
        try:
            with transaction.atomic():
                row = LoginCodeFailureDay.objects.create(portal=portal, email=email, day=today)
        except IntegrityError:  # a parallel check made it first
            pass
    return LoginCodeFailureDay.objects.select_for_update().get(portal=portal, email=email, day=today)


def code_signin_paused_until(*, portal: Portal, email: str) -> datetime | None:
    """When code sign-in for ``email`` resumes, if it is paused now (a read, no lock)."""
    row = LoginCodeFailureDay.objects.filter(
        portal=portal, email=email, day=_today(), paused_at__isnull=False
    ).first()
    return row.pause_ends if row is not None else None


def code_failure_count(*, day: LoginCodeFailureDay, ip: str | None) -> bool:
    """Count one wrong code on the locked row; True when the budget is now spent (pause begins).

    The pause is audited and its alert mail queued for after the commit.
    """
    day.failures += 1
    if day.failures < settings.LOGIN_CODE_DAILY_FAILURE_BUDGET or day.paused_at is not None:
        day.save(update_fields=["failures"])
        return day.paused_at is not None
    day.paused_at = timezone.now()
    day.save(update_fields=["failures", "paused_at"])
    audit_record(
        kind=AuditKind.CODE_PAUSED,
        portal=day.portal,
        email=day.email,
        ip=ip,
        detail={"failures": day.failures, "until": day.pause_ends.isoformat()},
    )
    outbox_queue_after_commit(row=day)
    return True
