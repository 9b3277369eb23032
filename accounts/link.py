"""Using the emailed verification link: which browser may complete it, and how.

The link proves the mailbox; it does not prove who made the sign-in. Someone whose HaloPSA account
claims alice@example.com can make the portal mail Alice a genuine link, and if the link alone linked
the identity, Alice pressing the button would hand her account to them. So neither the link nor the
session is enough on its own:

- In the browser whose session made that SSO sign-in (``link_started_here``), the confirm button
  links the identity and signs the browser in: that browser holds the provider's sign-in and the link.
- In any other browser the page offers "Continue with HaloPSA". That browser's own SSO sign-in must
  return the same (issuer, sub), that is the same ``Identity`` row, within ``SSO_STATE_MAX_AGE``; then
  the identity is linked and that browser signed in (``email_link_complete_by_sso``). Alice, handed an
  attacker's link, signs in as herself: another identity, so nothing of the attacker's is linked.
- "This wasn't me" (any browser holding the link) revokes the pending identity and records that the
  mailbox owner refused it, so the same identity cannot mail that address again until staff allow it.

Every outcome is an audit row. Checks are re-done under row locks so a double submit cannot use a
link twice.
"""

import time
from dataclasses import dataclass
from typing import Literal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from halo.access import InvoiceAccess, invoice_access_at_signin
from portal.models import Portal

from .audit import AuditKind, audit_record
from .models import EmailVerification, Identity, User, user_email_conflict
from .selectors import email_verification_by_token
from .services import identity_revoke, user_by_email, user_get_or_create

#: Session key: ids of the verifications this browser's own SSO sign-ins created (newest last).
STARTED_KEY = "accounts.started_verifications"
#: Session key: the link this browser opened and is proving through its own SSO sign-in.
CLAIM_KEY = "accounts.link_claim"
MAX_STARTED = 10

LinkStatus = Literal[
    "ok",
    "malformed",
    "unknown",
    "used",
    "superseded",
    "expired",
    "stale",
    "disabled",
    "other_browser",
    "mismatch",
    "no_invoice_access",
]


@dataclass(frozen=True)
class LinkOutcome:
    status: LinkStatus
    user: User | None = None
    next_url: str = ""
    identity: Identity | None = None
    verification: EmailVerification | None = None


def link_started_here_remember(*, session, verification: EmailVerification) -> None:
    """Mark ``verification`` as made by this browser's SSO sign-in (called by that sign-in)."""
    started = [pk for pk in session.get(STARTED_KEY, []) if isinstance(pk, int) and pk != verification.pk]
    session[STARTED_KEY] = [*started, verification.pk][-MAX_STARTED:]


def link_started_here(*, session, verification: EmailVerification) -> bool:
    started = session.get(STARTED_KEY, [])
    return isinstance(started, list) and verification.pk in started


def _refused(
    *, portal: Portal, status: str, verification: EmailVerification | None, ip: str | None, **detail
):
    if status != "malformed":  # random junk in URLs is noise, not a security event worth a row
        audit_record(
            kind=AuditKind.VERIFICATION_FAILED,
            portal=portal,
            email=verification.email if verification is not None else "",
            ip=ip,
            detail={"reason": status, "verification": verification.pk if verification else None, **detail},
        )
    return LinkOutcome(status, verification=verification)


def _use(
    *,
    portal: Portal,
    verification_id: int,
    ip: str | None,
    via: str,
    known_access: tuple[str, InvoiceAccess] | None = None,
) -> LinkOutcome:
    """Link the verification's identity to the user with its email (created if needed); audited.

    The portal's invoice-access rule applies here as at every other sign-in: under "HaloPSA: Can
    view their invoices" a person without that right is refused and nothing is linked (the link
    stays usable until it expires, e.g. once the provider grants access). Checked before the row
    locks, because it may ask HaloPSA; an SSO sign-in asked before its own transaction
    (``known_access``: the address and the answer) and the answer is reused for that address.
    """
    email = EmailVerification.objects.filter(pk=verification_id).values_list("email", flat=True).first()
    if known_access is not None and email and known_access[0] == email:
        access = known_access[1]
    else:
        access = invoice_access_at_signin(portal=portal, email=email or "")
    with transaction.atomic():
        verification = EmailVerification.objects.select_for_update(of=("self",)).get(pk=verification_id)
        identity = Identity.objects.select_for_update().get(pk=verification.identity_id)
        now = timezone.now()
        user = user_by_email(portal=portal, email=verification.email)
        if verification.used_at is not None:  # a parallel submit won
            status = "used"
        elif verification.superseded:
            status = "superseded"
        elif verification.expires_at <= now:
            status = "expired"
        elif identity.email != verification.email:
            status = "stale"  # access follows only the email the provider reports now
        elif (user is not None and not user.is_active) or (
            user is None
            and user_email_conflict(email=verification.email, portal_id=portal.pk, is_superuser=False)
        ):
            status = "disabled"
        elif not access.allowed:
            status = "no_invoice_access"
        else:
            status = "ok"
            if user is None:
                user = user_get_or_create(portal=portal, email=verification.email, name=identity.name)
            verification.used_at = now
            verification.save(update_fields=["used_at"])
            identity.verifications.filter(used_at__isnull=True, superseded=False).exclude(
                pk=verification.pk
            ).update(superseded=True)
            identity.user = user
            identity.verified_at = now
            identity.revoked_at = None
            identity.save(update_fields=["user", "verified_at", "revoked_at"])
            audit_record(
                kind=AuditKind.VERIFICATION_CONFIRMED,
                portal=portal,
                user=user,
                email=verification.email,
                ip=ip,
                detail={"identity": identity.pk, "verification": verification.pk, "via": via},
            )
            audit_record(
                kind=AuditKind.SIGNED_IN,
                portal=portal,
                user=user,
                email=verification.email,
                ip=ip,
                detail={
                    "method": "email_link",
                    "identity": identity.pk,
                    "via": via,
                    "invoice_access": access.source,
                },
            )
    if status == "no_invoice_access":
        return _refused(
            portal=portal,
            status=status,
            verification=verification,
            ip=ip,
            via=via,
            invoice_access=access.source,
        )
    if status != "ok":
        return _refused(portal=portal, status=status, verification=verification, ip=ip, via=via)
    return LinkOutcome(
        "ok", user=user, next_url=verification.next_url, identity=identity, verification=verification
    )


def email_verification_confirm(*, portal: Portal, token: str, session, ip: str | None) -> LinkOutcome:
    """The confirm button: links and signs in only in the browser that made the SSO sign-in.

    Elsewhere the answer is "other_browser" (audited) and nothing changes: the page then offers
    "Continue with HaloPSA" instead.
    """
    lookup = email_verification_by_token(portal=portal, token=token)
    if lookup.status != "ok":
        return _refused(portal=portal, status=lookup.status, verification=lookup.verification, ip=ip)
    if not link_started_here(session=session, verification=lookup.verification):
        return _refused(portal=portal, status="other_browser", verification=lookup.verification, ip=ip)
    return _use(portal=portal, verification_id=lookup.verification.pk, ip=ip, via="same_browser")


def email_verification_continue(*, portal: Portal, token: str, session, ip: str | None) -> LinkOutcome:
    """ "Continue with HaloPSA" in another browser: remember the link in this browser's session; the
    caller then starts this browser's own SSO sign-in with the identity's config."""
    lookup = email_verification_by_token(portal=portal, token=token)
    if lookup.status != "ok":
        return _refused(portal=portal, status=lookup.status, verification=lookup.verification, ip=ip)
    verification = lookup.verification
    session[CLAIM_KEY] = {"verification": verification.pk, "at": int(time.time())}
    audit_record(
        kind=AuditKind.VERIFICATION_REAUTH_STARTED,
        portal=portal,
        email=verification.email,
        ip=ip,
        detail={"verification": verification.pk, "identity": verification.identity_id},
    )
    return LinkOutcome(
        "ok", identity=verification.identity, verification=verification, next_url=verification.next_url
    )


def email_link_complete_by_sso(
    *,
    session,
    identity: Identity,
    ip: str | None,
    known_access: tuple[str, InvoiceAccess] | None = None,
) -> LinkOutcome | None:
    """Called by this browser's SSO sign-in of ``identity``: finish the link it opened, if any.

    None when the browser opened no link (or too long ago). "mismatch" (audited, nothing linked)
    when the sign-in returned another identity than the one the link is for; the caller then
    treats the sign-in as the first sign-in of that identity.
    """
    claim = session.pop(CLAIM_KEY, None)
    if not isinstance(claim, dict):
        return None
    verification_id, at = claim.get("verification"), claim.get("at")
    if not isinstance(verification_id, int) or not isinstance(at, int):
        return None
    if time.time() - at > settings.SSO_STATE_MAX_AGE:
        return None
    verification = EmailVerification.objects.filter(pk=verification_id, portal=identity.portal_id).first()
    if verification is None:
        return None
    if verification.identity_id != identity.pk:
        audit_record(
            kind=AuditKind.VERIFICATION_MISMATCH,
            portal=identity.portal,
            email=verification.email,
            ip=ip,
            detail={
                "verification": verification.pk,
                "pending_identity": verification.identity_id,
                "signed_in_identity": identity.pk,
            },
        )
        return LinkOutcome("mismatch", verification=verification)
    return _use(
        portal=identity.portal,
        verification_id=verification.pk,
        ip=ip,
        via="sso_reauth",
        known_access=known_access,
    )


def email_verification_deny(*, portal: Portal, token: str, ip: str | None) -> LinkOutcome:
    """ "This wasn't me": revoke the pending identity and remember the refusal for this email."""
    lookup = email_verification_by_token(portal=portal, token=token)
    if lookup.status != "ok":
        return _refused(portal=portal, status=lookup.status, verification=lookup.verification, ip=ip)
    with transaction.atomic():
        verification = EmailVerification.objects.select_for_update(of=("self",)).get(
            pk=lookup.verification.pk
        )
        if verification.used_at is not None or verification.superseded:  # a parallel submit won
            status = "used" if verification.used_at is not None else "superseded"
            return _refused(portal=portal, status=status, verification=verification, ip=ip)
        identity = identity_revoke(identity=verification.identity, ip=ip)
        identity.denied_email = verification.email
        identity.save(update_fields=["denied_email"])
        audit_record(
            kind=AuditKind.VERIFICATION_DENIED,
            portal=portal,
            email=verification.email,
            ip=ip,
            detail={
                "verification": verification.pk,
                "identity": identity.pk,
                "issuer": identity.issuer,
                "sub": identity.sub,
                "name": identity.name,
            },
        )
    return LinkOutcome("ok", identity=identity, verification=verification)
