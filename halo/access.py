"""The "Invoice access" rule at sign-in: under "HaloPSA: Can view their invoices", the person's HaloPSA
user (for that email, at one of the portal's customers) must be active with ``canaccessinvoices``.

The synced flag is the source; when it is older than ``HALO_ACCESS_MAX_AGE_SECONDS`` one API call
(``GET /api/Users?search=<email>``, interactive: a few seconds at most, no retries) refreshes it. When
HaloPSA cannot be asked, or answers with something that is not a list of users, the synced flag decides
and the log says so. The sign-in flows call ``invoice_access_at_signin`` and nothing else of this app.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from portal.emails import normalize_email
from portal.models import Contact, Portal

from . import upserts
from .client import HaloAPIError, HaloClient
from .rows import int_value
from .selectors import halo_connection_for_portal

logger = logging.getLogger(__name__)

#: What the person is told (also the sso app's refusal message).
NO_ACCESS_MESSAGE = (
    "You are signed in as a contact of this portal, but your provider has not given you access to invoices "
    "(HaloPSA: “Can view their invoices”). Please ask your provider for invoice access."
)


@dataclass(frozen=True)
class InvoiceAccess:
    allowed: bool
    #: ``rule_emails``, ``halo_live``, ``halo_synced``, ``halo_unreachable`` (synced flag used), ``no_connection``
    source: str


def _contacts(portal: Portal, email: str):
    return Contact.objects.filter(customer__portal=portal, email=email, halo_id__isnull=False)


def _allowed(portal: Portal, email: str) -> bool:
    return (
        _contacts(portal, email)
        .filter(can_view_invoices=True, inactive=False, customer__inactive=False)
        .exists()
    )


def invoice_access_at_signin(*, portal: Portal, email: str) -> InvoiceAccess:
    if portal.invoice_access != Portal.InvoiceAccess.HALO:
        return InvoiceAccess(True, "rule_emails")
    address = normalize_email(email)
    connection = halo_connection_for_portal(portal=portal)
    if connection is None:
        return InvoiceAccess(_allowed(portal, address), "no_connection")
    cutoff = timezone.now() - timedelta(seconds=settings.HALO_ACCESS_MAX_AGE_SECONDS)
    stale = not _contacts(portal, address).filter(halo_checked_at__gte=cutoff).exists()
    if not stale:
        return InvoiceAccess(_allowed(portal, address), "halo_synced")
    try:
        data = HaloClient(connection, interactive=True).get(
            "Users", {"search": address, "includeinactive": "true"}
        )
    except HaloAPIError as exc:
        return _unreachable(portal, address, exc.reason)
    rows = data.get("users") if isinstance(data, dict) else data
    if not isinstance(rows, list):
        # An error object with HTTP 200, or a list without its key: not an answer that "this email has
        # no HaloPSA user". Read as one, it would take everyone's access away while HaloPSA misbehaves.
        return _unreachable(portal, address, "bad_answer")
    rows = [
        r for r in rows if isinstance(r, dict) and normalize_email(str(r.get("emailaddress", ""))) == address
    ]
    # Users HaloPSA no longer lists for this email lose access now, not at the next full sync; first,
    # so that a user deleted and created again with this email takes the old row over below.
    known = {int_value(r.get("id")) for r in rows}
    _contacts(portal, address).exclude(halo_id__in=known).update(
        inactive=True, halo_checked_at=timezone.now()
    )
    if rows:
        upserts.contacts_upsert(portal=portal, rows=rows, seen_at=timezone.now())
    return InvoiceAccess(_allowed(portal, address), "halo_live")


def _unreachable(portal: Portal, address: str, reason: str) -> InvoiceAccess:
    """HaloPSA could not say: the synced flag decides, and nothing is written on the strength of it."""
    logger.warning(
        "HaloPSA could not be asked at sign-in; the synced invoice-access flag decides",
        extra={"portal": portal.pk, "reason": reason},
    )
    return InvoiceAccess(_allowed(portal, address), "halo_unreachable")
