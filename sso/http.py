"""SSO's name for the portal's one guarded outbound door, ``portal.outbound``.

Kept so sso modules (and anything written against ``sso.http``) keep working; the policy, the
deadline, the byte cap and the circuit breaker live in ``portal.outbound``.
"""

from portal.outbound import (  # noqa: F401
    Call,
    CallLog,
    OutboundError,
    append_query,
    breaker_close,
    breaker_open,
    budget,
    check_url,
    get_json,
    request,
    start_call_log,
)

# The sso name for the same exception (older code and tests catch this one).
ProviderHTTPError = OutboundError
