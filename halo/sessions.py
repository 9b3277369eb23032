"""When HaloPSA takes away "Can view their invoices" (or deactivates the user), their sessions end."""

from accounts.services import user_sessions_end
from portal.models import Contact, Portal


def invoice_access_sessions_end(*, portal: Portal, emails: set[str], reason: str) -> int:
    """End the sessions of ``emails`` that no longer have any allowed contact on a HaloPSA-rule portal.

    Under the "emails on file" rule HaloPSA's flag decides nothing, so nobody is signed out. A person who
    is still an allowed contact of another customer keeps their session.
    """
    if not emails or portal.invoice_access != Portal.InvoiceAccess.HALO:
        return 0
    still_allowed = set(
        Contact.objects.filter(
            customer__portal=portal,
            email__in=emails,
            can_view_invoices=True,
            inactive=False,
            customer__inactive=False,
        ).values_list("email", flat=True)
    )
    return user_sessions_end(portal=portal, emails=set(emails) - still_allowed, reason=reason)
