"""Writes of the accounts app that several flows share: users, sign-out, identity revocation.

The two sign-in flows have their own modules: ``login_code`` (the email code) and ``sso_login``
(first SSO login and the email-verification link). Mail goes through ``outbox``.
"""

from django.contrib.auth import logout
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.http import HttpRequest
from django.utils import timezone

from portal.emails import normalize_email
from portal.models import Portal

from .audit import AuditKind, audit_record
from .models import Identity, User

#: The backend recorded in sessions opened by the email code or the verification link. Those
#: sign-ins are decided by our own services, so any backend whose ``get_user`` loads our User
#: works; the model backend does, with no network or provider state (the SSO backend is for
#: sessions opened by the provider callback).
SESSION_BACKEND = "accounts.backends.PortalPasswordBackend"


def user_by_email(*, portal: Portal, email: str) -> User | None:
    return (
        User.objects.alias(email_lower=Lower("email"))
        .filter(portal=portal, email_lower=normalize_email(email))
        .first()
    )


class UserEmailUnavailable(Exception):
    """The email may not be a user of this portal (it is a superuser's)."""


def user_get_or_create(*, portal: Portal, email: str, name: str = "") -> User:
    """The user of ``portal`` with ``email`` (case-insensitive), created on first proof of ownership.

    A user is "an email proven on one portal": callers only reach here after the person proved
    they own the mailbox (a code or a link sent to it). Concurrent first sign-ins race on the
    unique (portal, lower(email)) constraint; the loser reads the winner's row.
    A superuser's email cannot become a portal user's (``user_email_conflict``): then
    ``UserEmailUnavailable`` is raised and the caller refuses the sign-in like a disabled account.
    """
    address = normalize_email(email)
    user = user_by_email(portal=portal, email=address)
    if user is not None:
        return user
    try:
        with transaction.atomic():
            return User.objects.create_user(email=address, portal=portal, name=name[:200])
    except (IntegrityError, ValidationError) as exc:
        user = user_by_email(portal=portal, email=address)
        if user is not None:  # a parallel first sign-in won
            return user
        if isinstance(exc, ValidationError):
            raise UserEmailUnavailable(address) from exc
        raise


def session_logout(*, request: HttpRequest) -> None:
    """End the session (audited). The SSO logout (RP-initiated) is layered on top by the sso app."""
    user = request.user if request.user.is_authenticated else None
    if user is not None:
        audit_record(
            kind=AuditKind.SIGNED_OUT,
            portal=getattr(request, "portal", None),
            user=user,
            email=user.email,
            request=request,
        )
    logout(request)


def user_sessions_end(*, portal: Portal, emails, reason: str) -> int:
    """End every session of the users of ``portal`` with one of ``emails`` (audited); returns how many users.

    Sessions carry a hash of the user's password field and Django drops a session whose hash no longer
    matches; these users sign in by code or SSO only, so giving them a fresh unusable password ends all
    their sessions, in every browser and every session store, without touching any other user.
    """
    addresses = {normalize_email(e) for e in emails if e}
    if not addresses:
        return 0
    users = list(
        User.objects.alias(email_lower=Lower("email")).filter(portal=portal, email_lower__in=addresses)
    )
    for user in users:
        with transaction.atomic():
            user.set_unusable_password()
            user.save(update_fields=["password"])
            audit_record(
                kind=AuditKind.SIGNED_OUT,
                portal=portal,
                user=user,
                email=user.email,
                detail={"reason": reason},
            )
    return len(users)


@transaction.atomic
def identity_revoke(*, identity: Identity, by_user: User | None = None, ip: str | None = None) -> Identity:
    """Unlink an SSO identity and clear its verification; its next login must verify the email again.

    Pending verification links are cancelled too, so a link mailed before the revocation cannot
    re-link the identity. The user row and its sessions stay (the user may also sign in by code).
    """
    identity = Identity.objects.select_for_update().get(pk=identity.pk)
    previous_user_id = identity.user_id
    identity.user = None
    identity.verified_at = None
    identity.revoked_at = timezone.now()
    identity.save(update_fields=["user", "verified_at", "revoked_at"])
    identity.verifications.filter(used_at__isnull=True, superseded=False).update(superseded=True)
    audit_record(
        kind=AuditKind.IDENTITY_REVOKED,
        portal=identity.portal,
        user=by_user,
        email=identity.email,
        ip=ip,
        detail={
            "identity": identity.pk,
            "issuer": identity.issuer,
            "sub": identity.sub,
            "unlinked_user": previous_user_id,
        },
    )
    return identity
