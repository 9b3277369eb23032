"""Email verification of SSO identities: create (and resend) the link; ``link`` uses it.

The provider's email claim is not proof that the person owns the mailbox, and the email decides
whose invoices they see. So an identity is linked to the user with that email only after a link
mailed to that address has been used. Tokens: 256 random bits, made at send time, stored as
SHA-256, single use, expiring after ``EMAIL_VERIFICATION_TTL_HOURS``.
"""

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from .audit import AuditKind, audit_record
from .models import EmailVerification, Identity, User
from .outbox import email_verification_ttl, outbox_queue_after_commit
from .ratelimit import VERIFICATION_RESENDS_PER_IP, RateLimitUnavailable, rate_limit_hit

#: Per identity: no new mail within a minute of the last one, at most five an hour.
MIN_INTERVAL = timedelta(minutes=1)
PER_HOUR = 5


def _pending(identity: Identity) -> QuerySet[EmailVerification]:
    return identity.verifications.filter(used_at__isnull=True, superseded=False)


def _create_and_queue(
    *, identity: Identity, email: str, next_url: str, ip: str | None, detail: dict
) -> EmailVerification:
    """A new verification that supersedes every pending one of the identity, mailed after commit."""
    now = timezone.now()
    _pending(identity).update(superseded=True)
    verification = EmailVerification.objects.create(
        portal=identity.portal,
        identity=identity,
        email=email,
        next_url=next_url,
        expires_at=now + email_verification_ttl(),
        requested_ip=ip,
        created_at=now,
    )
    audit_record(
        kind=AuditKind.VERIFICATION_REQUESTED,
        portal=identity.portal,
        email=email,
        ip=ip,
        detail={"identity": identity.pk, "verification": verification.pk, **detail},
    )
    outbox_queue_after_commit(row=verification)
    return verification


def email_verification_for_login(
    *, identity: Identity, email: str, next_url: str, ip: str | None
) -> EmailVerification:
    """The verification a login of an unverified identity points the browser at.

    Called with the identity row locked. It does not mail again when a live link for the same
    email is still waiting to go out or went out less than a minute ago, nor beyond the hourly
    limit (then the page still says "check your email"; the resend button explains the limit).
    """
    now = timezone.now()
    latest = _pending(identity).filter(email=email, expires_at__gt=now).order_by("-created_at", "-id").first()
    if latest is not None and (latest.sent_at is None or latest.sent_at > now - MIN_INTERVAL):
        if next_url and latest.next_url != next_url:
            latest.next_url = next_url  # the newest login decides where the link lands
            latest.save(update_fields=["next_url"])
        return latest
    if identity.verifications.filter(created_at__gt=now - timedelta(hours=1)).count() >= PER_HOUR:
        fallback = latest or identity.verifications.order_by("-created_at", "-id").first()
        if fallback is not None:
            return fallback
    return _create_and_queue(
        identity=identity, email=email, next_url=next_url, ip=ip, detail={"via": "login"}
    )


@dataclass(frozen=True)
class ResendOutcome:
    status: Literal["sent", "too_soon", "hourly_limit", "ip_limit", "already_verified", "no_email", "denied"]
    verification: EmailVerification | None = None


def email_verification_resend(
    *, identity: Identity, ip: str | None, enforce_limits: bool = True, by_user: User | None = None
) -> ResendOutcome:
    """Mail a new link for the identity's current email; the older unsent or unused link stops working.

    Limits (``enforce_limits``, off for staff in the admin): 1 a minute and 5 an hour per identity,
    counted in the database so they hold across processes, and a per-IP limit in the cache.
    """
    with transaction.atomic():
        identity = (
            Identity.objects.select_for_update(of=("self",))
            .select_related("portal", "user")
            .get(pk=identity.pk)
        )
        if not identity.email:
            return ResendOutcome("no_email")
        if (
            identity.verified_at is not None
            and identity.user is not None
            and identity.user.email == identity.email
        ):
            return ResendOutcome("already_verified")
        if by_user is None and identity.denied_email and identity.denied_email == identity.email:
            # The mailbox's owner said "This wasn't me": this account may not mail the address again
            # (the sign-in refuses it; so does the resend of a "check your email" page left open)
            # until staff resend from the admin.
            audit_record(
                kind=AuditKind.VERIFICATION_FAILED,
                portal=identity.portal,
                email=identity.email,
                ip=ip,
                detail={"reason": "denied_by_mailbox_owner", "identity": identity.pk, "via": "resend"},
            )
            return ResendOutcome("denied")
        latest = identity.verifications.order_by("-created_at", "-id").first()
        if enforce_limits:
            now = timezone.now()
            if latest is not None and latest.created_at > now - MIN_INTERVAL:
                return ResendOutcome("too_soon", latest)
            if identity.verifications.filter(created_at__gt=now - timedelta(hours=1)).count() >= PER_HOUR:
                return ResendOutcome("hourly_limit", latest)
            try:
                limited = rate_limit_hit(limit=VERIFICATION_RESENDS_PER_IP, portal=identity.portal, value=ip)
            except RateLimitUnavailable:  # the cache is down: refuse, never resend unlimited
                limited = True
            if limited:
                return ResendOutcome("ip_limit", latest)
        if by_user is not None and identity.denied_email:
            # Staff vouch for the identity again: its sign-ins may mail the address once more.
            identity.denied_email = ""
            identity.save(update_fields=["denied_email"])
        verification = _create_and_queue(
            identity=identity,
            email=identity.email,
            next_url=latest.next_url if latest is not None else "",
            ip=ip,
            detail={"via": "admin" if by_user is not None else "resend"},
        )
    return ResendOutcome("sent", verification)
