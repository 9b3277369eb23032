"""Rules for values that more than one app stores and sends to HaloPSA.

The SSO config and the HaloPSA API connection both carry a HaloPSA tenant, and both send it in a
query string (the authorization request, the token request). One rule, here in the base app that
both build on, so the two cannot drift apart: a tenant that passed one form can never fail the other.
"""

import re

from django.core.exceptions import ValidationError

#: HaloPSA names tenants with one word; anything else (``demo&client_id=…``) would add parameters.
_TENANT = re.compile(r"^[A-Za-z0-9._-]+$")
TENANT_MESSAGE = (
    "The tenant is a single word of letters, digits, “-”, “_” and “.” (HaloPSA: Configuration > "
    "Integrations > HaloPSA API > Tenant)."
)


def halo_tenant_clean(value: str | None, *, max_length: int) -> str:
    """The tenant stripped, "" for none; ``ValidationError`` when it is no single word or too long."""
    tenant = (value or "").strip()
    if not tenant:
        return ""
    if len(tenant) > max_length:
        raise ValidationError(f"The tenant is too long (at most {max_length} characters).", code="max_length")
    if not _TENANT.match(tenant):
        raise ValidationError(TENANT_MESSAGE, code="invalid")
    return tenant
