"""The audit trail: one ``AuditEvent`` row per security event.

Rows never hold codes, tokens or hashes: only what happened, to which email, from which address.
They are written inside the caller's transaction on purpose: an event that rolled back did not
happen. (Failures that must outlive a rollback, like a wrong code, are recorded after the
caller's state change has been saved.)
"""

import ipaddress

from django.conf import settings
from django.db import models
from django.http import HttpRequest

from .models import AuditEvent


class AuditKind(models.TextChoices):
    CODE_REQUESTED = "code_requested", "Sign-in code requested"
    CODE_RATE_LIMITED = "code_rate_limited", "Sign-in code request refused (rate limit)"
    CODE_SENT = "code_sent", "Sign-in code sent"
    CODE_FAILED = "code_failed", "Wrong or expired sign-in code"
    CODE_LOCKED = "code_locked", "Sign-in code locked after too many wrong tries"
    SIGNED_IN = "signed_in", "Signed in"
    SIGNED_OUT = "signed_out", "Signed out"
    VERIFICATION_REQUESTED = "verification_requested", "Email verification requested"
    VERIFICATION_SENT = "verification_sent", "Email verification sent"
    VERIFICATION_CONFIRMED = "verification_confirmed", "Email verified"
    VERIFICATION_FAILED = "verification_failed", "Email verification link refused"
    IDENTITY_EMAIL_CHANGED = "identity_email_changed", "Provider reported a new email"
    IDENTITY_REVOKED = "identity_revoked", "SSO identity revoked"
    CODE_NOT_SENT = "code_not_sent", "Sign-in code not sent (not a contact of the portal)"
    CODE_PAUSED = "code_paused", "Code sign-in paused for the day (too many wrong codes)"
    CODE_PAUSED_REFUSED = "code_paused_refused", "Sign-in code refused (code sign-in paused)"
    CODE_ALERT_SENT = "code_alert_sent", "Mail sent: someone is trying codes"
    VERIFICATION_DENIED = "verification_denied", 'Pending identity revoked ("This wasn\'t me")'
    VERIFICATION_REAUTH_STARTED = "verification_reauth_started", "Link opened in another browser: SSO asked"
    VERIFICATION_MISMATCH = "verification_mismatch", "Link's SSO sign-in returned another identity"
    ADMIN_SIGNIN_FAILED = "admin_signin_failed", "Admin password sign-in failed"
    ADMIN_SIGNIN_THROTTLED = "admin_signin_throttled", "Admin password sign-in refused (back-off)"
    ADMIN_SIGNIN_HOST_REFUSED = "admin_signin_host_refused", "Superuser sign-in refused (not an admin host)"
    ADMIN_SIGNIN_AMBIGUOUS = "admin_signin_ambiguous", "Admin sign-in refused (two accounts share the email)"
    ADMIN_UNLOCKED = "admin_unlocked", "Admin sign-in lockout lifted"


def _valid_ip(value: str) -> str | None:
    value = value.strip().strip("[]")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def client_ip(request: HttpRequest | None) -> str | None:
    """The client's address: the peer, or the entry ``TRUSTED_PROXY_COUNT`` from the right of
    ``X-Forwarded-For``.

    Each trusted proxy appends the address it received the request from, so with N proxies the
    N-th entry from the right was written by the outermost one and is the client; everything to
    its left is whatever the client sent and is never read (a forgeable IP would defeat per-IP
    rate limits). A header with too few or malformed entries means the request did not come
    through the proxies as configured: the peer address is used then.
    """
    if request is None:
        return None
    peer = request.META.get("REMOTE_ADDR") or None
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return peer
    entries = [part for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(entries) < proxies:
        return peer
    return _valid_ip(entries[-proxies]) or peer


def audit_record(
    *,
    kind: str,
    portal=None,
    user=None,
    email: str = "",
    request: HttpRequest | None = None,
    ip: str | None = None,
    detail: dict | None = None,
) -> AuditEvent:
    return AuditEvent.objects.create(
        kind=kind,
        portal=portal,
        user=user,
        email=(email or "")[:254],
        ip=ip if ip is not None else client_ip(request),
        detail=detail or {},
    )
