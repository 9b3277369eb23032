"""Re-read one record named by a webhook (or a sign-in) through the API: the payload is only a hint.

Replays and out-of-order deliveries are harmless: whatever the webhook said, what HaloPSA answers now is
what is stored. A record HaloPSA no longer has (HTTP 404, nothing else) is kept, marked void (invoices)
or inactive.
"""

from __future__ import annotations

from django.utils import timezone

from portal.models import Contact, Customer

from . import upserts
from .client import HaloAPIError, HaloClient
from .models import HaloConnection
from .sessions import invoice_access_sessions_end

KIND_ALIASES = {
    "invoice": "invoice", "invoices": "invoice", "invoiceheader": "invoice",
    "client": "client", "clients": "client", "area": "client", "customer": "client",
    "user": "user", "users": "user", "contact": "user",
}  # fmt: skip


def halo_object_refresh_run(
    *, connection: HaloConnection, kind: str, object_id: int, read_again: bool = True
) -> str:
    """Returns what happened: ``stored``, ``gone`` or ``error: …`` (also for the delivery log).

    An invoice whose amounts the upsert held (a write-back HaloPSA recorded while we asked) is asked for
    once more (``read_again``); if that is held too, the portal's amounts stay until the next sync.
    """
    kind = KIND_ALIASES.get((kind or "").lower(), "")
    if not kind:
        return "ignored"
    client, portal, now = HaloClient(connection), connection.portal, timezone.now()
    path = {"invoice": "Invoice", "client": "Client", "user": "Users"}[kind]
    try:
        row = client.get(f"{path}/{int(object_id)}")
    except HaloAPIError as exc:
        if exc.status != 404:
            return f"error: {exc.message}"
        row = None
    if row is not None and not isinstance(row, dict):
        # Only a 404 says the record is gone: an empty list or a string with HTTP 200 is HaloPSA (or a
        # proxy) misbehaving, and voiding an invoice or ending access on it would lose data.
        return f"error: /{path}/{int(object_id)} did not answer with a record."
    if row is None:
        if kind == "invoice":
            upserts.invoice_void(portal=portal, halo_id=object_id)
        elif kind == "client":
            Customer.objects.filter(portal=portal, halo_id=object_id).update(inactive=True)
        else:
            contacts = Contact.objects.filter(customer__portal=portal, halo_id=object_id)
            emails = set(contacts.values_list("email", flat=True))
            contacts.update(inactive=True, halo_checked_at=now)
            invoice_access_sessions_end(portal=portal, emails=emails, reason="halo_webhook")
        return "gone"
    if kind == "invoice":
        counts = upserts.invoices_upsert(portal=portal, rows=[row], seen_at=now)
        if counts.held and read_again:  # HaloPSA's answer may predate a write-back recorded meanwhile
            return halo_object_refresh_run(
                connection=connection, kind=kind, object_id=object_id, read_again=False
            )
    elif kind == "client":
        upserts.customers_upsert(portal=portal, rows=[row], seen_at=now)
    else:
        counts = upserts.contacts_upsert(portal=portal, rows=[row], seen_at=now)
        invoice_access_sessions_end(portal=portal, emails=counts.revoked_emails, reason="halo_webhook")
    return "stored"
