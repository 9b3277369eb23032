"""Reads of the accounts app, always scoped to a portal."""

import re
from dataclasses import dataclass
from typing import Literal

from django.utils import timezone

from portal.models import Portal

from .models import EmailVerification
from .outbox import verification_token_hash

#: ``secrets.token_urlsafe(32)`` gives 43 characters; anything far from that is not one of ours.
_TOKEN_FORMAT = re.compile(r"^[A-Za-z0-9_-]{32,128}$")

TokenStatus = Literal["ok", "malformed", "unknown", "used", "superseded", "expired"]


@dataclass(frozen=True)
class TokenLookup:
    status: TokenStatus
    verification: EmailVerification | None = None


def email_verification_by_token(*, portal: Portal, token: str) -> TokenLookup:
    """The verification a link's token belongs to, and whether it can still be used.

    The lookup is by SHA-256 of the token (an index lookup on a hash reveals nothing about how close
    a guess was). Another portal's token is "unknown", exactly like a token that never existed.
    """
    if not token or not _TOKEN_FORMAT.match(token):
        return TokenLookup("malformed")
    verification = (
        EmailVerification.objects.select_related("identity", "portal")
        .filter(token_hash=verification_token_hash(token))
        .first()
    )
    if verification is None or verification.portal_id != portal.pk:
        return TokenLookup("unknown")
    if verification.used_at is not None:
        return TokenLookup("used", verification)
    if verification.superseded:
        return TokenLookup("superseded", verification)
    if verification.expires_at <= timezone.now():
        return TokenLookup("expired", verification)
    return TokenLookup("ok", verification)


def email_verification_for_session(*, portal: Portal, verification_id) -> EmailVerification | None:
    """The verification a browser's session points at (set by the first SSO login)."""
    if not isinstance(verification_id, int) or isinstance(verification_id, bool):
        return None
    return (
        EmailVerification.objects.select_related("identity").filter(portal=portal, pk=verification_id).first()
    )


def mask_email(email: str) -> str:
    """``alice@example.com`` -> ``a***e@example.com``: enough to recognise, not enough to harvest."""
    local, sep, domain = (email or "").rpartition("@")
    if not sep:
        return "***"
    masked = f"{local}***" if len(local) <= 1 else f"{local[0]}***{local[-1]}"
    return f"{masked}@{domain}"
