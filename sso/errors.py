"""Why a sign-in failed, in two voices: a stable reason code for the event log and the admin,
and a short friendly message for the person in front of the login page."""

from .http import ProviderHTTPError


class SSOFlowError(Exception):
    """A refused or failed SSO step. ``status`` is the HTTP status of the page shown."""

    def __init__(self, reason: str, message: str, *, status: int = 400, public_message: str = ""):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.status = status
        self.public_message = public_message or DEFAULT_PUBLIC_MESSAGE


DEFAULT_PUBLIC_MESSAGE = (
    "We couldn't sign you in. Please try again, or contact your provider if it keeps happening."
)
PROVIDER_DOWN_MESSAGE = "The sign-in service isn't answering right now. Please try again in a few minutes, or use another way to sign in."

# Provider failures are gateway errors: 504 when it was too slow, 502 when it answered nonsense,
# 503 when it could not be reached at all (or is resting after a failure, or already has as
# many calls waiting as we allow).
_GATEWAY_STATUS = {"timeout": 504, "unreachable": 503, "circuit_open": 503, "busy": 503}


NOT_SET_UP_MESSAGE = (
    "Sign-in with this provider is not set up correctly yet. Please use another way to sign in, or tell "
    "the portal's administrators."
)


def outbound_public_message(reason: str) -> str:
    """What the person reads when a provider call failed for ``reason`` (an ``OutboundError``'s).

    "policy": the portal itself refuses the address (plain http, an internal network): trying again
    in a few minutes will not help, the configuration must change.
    """
    return NOT_SET_UP_MESSAGE if reason == "policy" else PROVIDER_DOWN_MESSAGE


def from_http_error(exc: ProviderHTTPError, *, what: str) -> SSOFlowError:
    if what == "discovery" and exc.status == 404:
        # Not an outage: the issuer URL has no discovery document, usually HaloPSA's "/auth" missing.
        return SSOFlowError(
            "discovery_not_found",
            f"Discovery: {exc.message} The issuer URL is probably wrong: HaloPSA's ends in /auth "
            "(e.g. https://acme.halopsa.com/auth); check Configuration > Integrations > HaloPSA API > "
            "Authorisation Server.",
            status=502,
            public_message=NOT_SET_UP_MESSAGE,
        )
    return SSOFlowError(
        f"{what}_{exc.reason}",
        f"{what.replace('_', ' ').capitalize()}: {exc.message}",
        status=_GATEWAY_STATUS.get(exc.reason, 502),
        public_message=outbound_public_message(exc.reason),
    )
