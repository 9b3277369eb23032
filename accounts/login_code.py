"""The email-code login (the standard non-SSO sign-in): request a code, then check it.

Rules (issue 2): a six-digit code, valid ``LOGIN_CODE_TTL_MINUTES`` from sending, single use, at
most ``LOGIN_CODE_MAX_ATTEMPTS`` wrong tries per code, sent only to emails that are contacts of the
portal; a new request supersedes older codes. The caller (the view) never tells the browser
whether the email is known: both paths end on the same "enter the code" page.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from halo.access import invoice_access_at_signin
from portal.models import Portal

from .audit import AuditKind, audit_record
from .code_budget import code_failure_count, code_failure_day_locked
from .models import LoginCode, User
from .outbox import login_code_hash, login_code_ttl, outbox_queue_after_commit
from .services import UserEmailUnavailable, normalize_email, user_get_or_create


def _expired(row: LoginCode, now: datetime) -> bool:
    """A code dies ``LOGIN_CODE_TTL_MINUTES`` after its mail (a stranger's row: after the mail task
    decided not to send it, the same moment); a row the task never reached, that long after the request."""
    if row.expires_at is not None:
        return row.expires_at <= now
    return row.created_at <= now - login_code_ttl()


@dataclass(frozen=True)
class CodeCheck:
    status: Literal["ok", "invalid", "locked", "disabled", "paused", "no_invoice_access"]
    user: User | None = None
    resume_at: datetime | None = None  # "paused": when code sign-in for the email resumes


def login_code_request(*, portal: Portal, email: str, ip: str | None = None) -> LoginCode:
    """Record a code request for ``email`` and queue its mail; the task decides whether it goes out.

    The same work for every email (supersede older codes, one row, one task): whether the email is
    a contact is looked up by the task (``outbox``), so the request's timing cannot tell known
    contacts from strangers. The code itself is made when the mail is sent, so the row created here
    holds no secret; a stranger's row is marked superseded by the task and never gets one.
    """
    if portal.sso_only:
        raise PermissionDenied("This portal signs people in through SSO only.")
    address = normalize_email(email)
    with transaction.atomic():
        audit_record(kind=AuditKind.CODE_REQUESTED, portal=portal, email=address, ip=ip)
        LoginCode.objects.filter(portal=portal, email=address, used_at__isnull=True, superseded=False).update(
            superseded=True
        )
        login_code = LoginCode.objects.create(portal=portal, email=address)
        outbox_queue_after_commit(row=login_code)
    return login_code


def login_code_check(*, portal: Portal, email: str, code: str, ip: str | None = None) -> CodeCheck:
    """Check ``code`` against the newest live code of ``email`` on ``portal``.

    Only the newest code counts (a new request supersedes older ones). A wrong try is counted
    before answering, under a row lock, so parallel guesses cannot exceed the limit; at the limit
    the code is dead and the person must ask for a new one. Unknown emails simply have no code:
    their request's row answers, counts and locks like a contact's with a wrong code. Returns a
    status instead of raising so the attempt counter is committed. A matching code is used up in
    that same transaction; the portal's invoice-access rule is asked only after it has committed
    (``_code_sign_in`` says why).
    """
    if portal.sso_only:
        raise PermissionDenied("This portal signs people in through SSO only.")
    address = normalize_email(email)
    max_attempts = settings.LOGIN_CODE_MAX_ATTEMPTS
    with transaction.atomic():
        day = code_failure_day_locked(portal=portal, email=address)
        if day.paused_at is not None:
            audit_record(
                kind=AuditKind.CODE_PAUSED_REFUSED,
                portal=portal,
                email=address,
                ip=ip,
                detail={"until": day.pause_ends.isoformat()},
            )
            return CodeCheck(status="paused", resume_at=day.pause_ends)
        now = timezone.now()
        # The newest request of the email, whatever became of it: a stranger's (marked superseded by
        # the mail task), one whose mail has not left yet, one already used. Each counts wrong tries
        # and locks at the limit exactly like a contact's live code, so no sequence of answers, from
        # one browser or several, tells a contact from a stranger; only a live code can match.
        row = (
            LoginCode.objects.select_for_update(of=("self",))
            .filter(portal=portal, email=address)
            .order_by("-created_at", "-id")
            .first()
        )
        live = (
            row is not None
            and row.used_at is None
            and not row.superseded
            and row.sent_at is not None
            and bool(row.code_hash)
        )
        if row is None:
            status, reason = "invalid", "no_live_code"
        elif _expired(row, now):
            status, reason = "invalid", "expired"
        elif row.attempts >= max_attempts:
            status, reason = "locked", "locked"
        elif live and constant_time_compare(row.code_hash, login_code_hash(login_code_id=row.pk, code=code)):
            status, reason = "ok", ""
            row.used_at = now  # used up whatever follows: committed with this block
            row.save(update_fields=["used_at"])
        else:
            row.attempts += 1
            row.save(update_fields=["attempts"])
            if row.attempts >= max_attempts:
                status, reason = "locked", "too_many_attempts"
            else:
                status, reason = "invalid", "wrong_code" if live else "no_live_code"
        if status == "ok":
            try:
                user = user_get_or_create(portal=portal, email=address)
            except UserEmailUnavailable:
                user = None
            if user is None or not user.is_active:
                return _disabled(portal=portal, user=user, email=address, ip=ip)
        else:
            audit_record(
                kind=AuditKind.CODE_LOCKED if reason == "too_many_attempts" else AuditKind.CODE_FAILED,
                portal=portal,
                email=address,
                ip=ip,
                detail={"reason": reason, "row": row.pk if row else None, "failures_today": day.failures + 1},
            )
            if code_failure_count(day=day, ip=ip):
                return CodeCheck(status="paused", resume_at=day.pause_ends)
            return CodeCheck(status=status)
    return _code_sign_in(portal=portal, user=user, email=address, ip=ip)


def _code_sign_in(*, portal: Portal, user: User, email: str, ip: str | None) -> CodeCheck:
    """The invoice-access rule for a code just used, asked after the check's transaction committed.

    Why after: under "HaloPSA: Can view their invoices" this may ask HaloPSA (up to its interactive
    budget, seconds). Asked inside, the check held the code's row and the email's failure budget
    locked meanwhile, and every other check for the email (a second tab, the same code again) waited
    on them into the web statement timeout: a 503 instead of an answer. The code is already used and
    committed, so it still works once; the account is read again after the answer, in case it was
    disabled while HaloPSA answered.
    """
    access = invoice_access_at_signin(portal=portal, email=email)
    user = User.objects.filter(pk=user.pk).first()
    if user is None or not user.is_active:
        return _disabled(portal=portal, user=user, email=email, ip=ip)
    outcome = {"method": "email_code"} if access.allowed else {"reason": "no_invoice_access"}
    audit_record(
        kind=AuditKind.SIGNED_IN if access.allowed else AuditKind.CODE_FAILED,
        portal=portal,
        user=user,
        email=email,
        ip=ip,
        detail={**outcome, "invoice_access": access.source},
    )
    if not access.allowed:
        return CodeCheck(status="no_invoice_access")
    return CodeCheck(status="ok", user=user)


def _disabled(*, portal: Portal, user: User | None, email: str, ip: str | None) -> CodeCheck:
    audit_record(
        kind=AuditKind.CODE_FAILED,
        portal=portal,
        user=user,
        email=email,
        ip=ip,
        detail={"reason": "user_inactive"},
    )
    return CodeCheck(status="disabled")
