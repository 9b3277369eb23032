"""What happens after the provider has vouched for a person: sign in, or prove the email first.

The sso app validates the provider's ID token and calls ``sso_identity_login``. The identity is
keyed by (portal, issuer, sub), never by email: the same email from another issuer or another
portal is another identity. An identity signs in directly only when it is verified *and* the
email the provider reports now is the email of the user it is linked to. Otherwise a link is
mailed to the reported email and the browser goes to the "check your email" page.

Email change at the provider (decision): the identity records the new email and the login is
treated as unverified: no sign-in at all, a link goes to the new address. We do not sign the
person in as the old user, because the provider no longer vouches for the old address (it may
have been reassigned to someone else, e.g. a recycled mailbox), and we do not grant the new
address before it is proven. The old link stays on the identity until the new email is verified.

The verification a sign-in creates is remembered in this browser's session: only this browser can
complete it with the link's button. A browser that opened a link elsewhere and chose "Continue with
HaloPSA" arrives here with a claim, completed when this sign-in is the link's identity (``link``).
"""

from dataclasses import dataclass

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from halo.access import NO_ACCESS_MESSAGE, InvoiceAccess, invoice_access_at_signin
from portal.prepared import PreparedLookup

from .audit import AuditKind, audit_record, client_ip
from .link import email_link_complete_by_sso, link_started_here_remember
from .models import Identity, User
from .redirects import MAX_NEXT_LENGTH
from .services import normalize_email
from .verification import email_verification_for_login

# Every returning SSO login reads its identity (with its user) locked: SQL compiled once per process
# (portal/prepared.py). Only the identity row is locked, as before.
_IDENTITY_FOR_SIGN_IN = PreparedLookup(
    Identity,
    lambda portal_id, issuer, sub: (
        Identity.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(portal_id=portal_id, issuer=issuer, sub=sub)
        .order_by()[:1]
    ),
    ints=("portal_id",),
    strings=("issuer", "sub"),
)

#: The session key holding the id of the verification the "check your email" page shows.
VERIFICATION_SESSION_KEY = "accounts.verification_id"


@dataclass(frozen=True)
class SSOLoginResult:
    user: "User | None"  # identity verified (and email still verified): the caller signs this user in
    check_email_url: str = ""  # otherwise: where to send the browser ("check your email" page)
    identity: "Identity | None" = None
    #: Set when neither applies (no usable email or subject, disabled account): a message for the
    #: person; the caller shows it (4xx) and logs the SSO event.
    error: str = ""


def _clean_email(email: str) -> str:
    address = normalize_email(email)
    if not address or len(address) > 254:
        return ""
    try:
        validate_email(address)
    except ValidationError:
        return ""
    return address


def _storable_next(next_url: str) -> str:
    """The caller validated ``next_url``; one that would not fit the column is dropped (dashboard)."""
    return next_url if next_url and len(next_url) <= MAX_NEXT_LENGTH else ""


def sso_login_invoice_access(*, portal, email: str) -> tuple[str, InvoiceAccess]:
    """(address, what the portal's invoice-access rule says for it), asked before the sign-in's transaction.

    Why before: under "HaloPSA: Can view their invoices" this may ask HaloPSA (up to its deadline);
    asked inside, the sign-in would hold its identity row locked and a database connection in an
    open transaction for as long as HaloPSA takes. Pass the answer to ``sso_identity_login``.
    """
    address = _clean_email(email)
    return address, invoice_access_at_signin(portal=portal, email=address)


def sso_identity_login(
    *,
    request: HttpRequest,
    sso_config,
    issuer: str,
    sub: str,
    email: str,
    name: str,
    next_url: str,
    known_access: tuple[str, InvoiceAccess] | None = None,
) -> SSOLoginResult:
    """Record this login of (issuer, sub) and decide: sign in now, or mail a verification link.

    ``next_url`` must already be validated by the caller (same host); it is saved on the
    verification so the link lands there, even in another browser.
    """
    portal = sso_config.portal
    ip = client_ip(request)
    if not issuer or not sub or len(issuer) > 300 or len(sub) > 255:
        return SSOLoginResult(user=None, error="Your sign-in provider did not identify you properly.")
    address = _clean_email(email)
    now = timezone.now()
    # Inside the callback's transaction (the sign-in's writes commit together) no savepoint is needed:
    # nothing here is caught and retried, so a failure rolls back the whole sign-in.
    with transaction.atomic(savepoint=False):
        # The linked user comes with it (one query fewer per sign-in); only the identity row is locked.
        identity = _IDENTITY_FOR_SIGN_IN.first(portal_id=portal.pk, issuer=issuer, sub=sub)
        created = False
        if identity is None:  # a first login (or a race with one): the ORM's get_or_create
            identity, created = (
                Identity.objects.select_for_update(of=("self",))
                .select_related("user")
                .get_or_create(
                    portal=portal,
                    issuer=issuer,
                    sub=sub,
                    defaults={"sso_config": sso_config, "first_login_at": now},
                )
            )
        previous_email = identity.email
        identity.sso_config = sso_config
        identity.name = (name or "")[:200]
        identity.last_login_at = now
        if address:
            identity.email = address
        identity.save(update_fields=["sso_config", "name", "last_login_at", "email"])
        if not address:
            return SSOLoginResult(
                user=None,
                identity=identity,
                error="Your sign-in provider did not share a valid email address, which this portal needs "
                "to find your account. Please ask your provider to add one.",
            )
        if not created and previous_email and previous_email != address:
            audit_record(
                kind=AuditKind.IDENTITY_EMAIL_CHANGED,
                portal=portal,
                email=address,
                ip=ip,
                detail={"identity": identity.pk, "previous_email": previous_email},
            )
        if identity.denied_email and identity.denied_email == address:
            audit_record(
                kind=AuditKind.VERIFICATION_FAILED,
                portal=portal,
                email=address,
                ip=ip,
                detail={"reason": "denied_by_mailbox_owner", "identity": identity.pk},
            )
            return SSOLoginResult(
                user=None,
                identity=identity,
                error="The owner of this email address said a sign-in with this account wasn't them, so it "
                "can't open their billing account. Please contact the portal's support.",
            )
        user = identity.user if identity.verified_at is not None else None
        if user is not None and user.portal_id == portal.pk and user.email == address:
            if not user.is_active:
                return SSOLoginResult(
                    user=None, identity=identity, error="This account has been disabled on this portal."
                )
            if known_access is not None and known_access[0] == address:
                access = known_access[1]
            else:
                access = invoice_access_at_signin(portal=portal, email=address)
            if not access.allowed:
                return SSOLoginResult(user=None, identity=identity, error=NO_ACCESS_MESSAGE)
            audit_record(
                kind=AuditKind.SIGNED_IN,
                portal=portal,
                user=user,
                email=address,
                ip=ip,
                detail={
                    "method": "sso",
                    "identity": identity.pk,
                    "config": sso_config.key,
                    "invoice_access": access.source,
                },
            )
            return SSOLoginResult(user=user, identity=identity)
        linked = email_link_complete_by_sso(
            session=request.session, identity=identity, ip=ip, known_access=known_access
        )
        if linked is not None and linked.status == "ok":
            return SSOLoginResult(user=linked.user, identity=identity)
        if linked is not None and linked.status == "no_invoice_access":
            return SSOLoginResult(user=None, identity=identity, error=NO_ACCESS_MESSAGE)
        if linked is not None and linked.status == "mismatch":
            messages.warning(
                request,
                "You signed in with another HaloPSA account than the one in the email, so that sign-in was "
                "not linked. To use this account, confirm the new email we're sending.",
                fail_silently=True,
            )
        verification = email_verification_for_login(
            identity=identity, email=address, next_url=_storable_next(next_url), ip=ip
        )
    request.session[VERIFICATION_SESSION_KEY] = verification.pk
    link_started_here_remember(session=request.session, verification=verification)
    return SSOLoginResult(user=None, check_email_url=reverse("accounts:check_email"), identity=identity)
