"""The audit trail: one ``AuditEvent`` row per security event.

Rows never hold codes, tokens or hashes: only what happened, to which email, from which address.
They are written inside the caller's transaction on purpose: an event that rolled back did not
happen. (Failures that must outlive a rollback, like a wrong code, are recorded after the
caller's state change has been saved.)
"""

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


def client_ip(request: HttpRequest | None) -> str | None:
    """The peer address. Deliberately not X-Forwarded-For: that header is client-controlled unless a
    trusted proxy rewrites it, and a forgeable IP would defeat per-IP rate limits."""
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


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
