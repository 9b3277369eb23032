"""RP-initiated logout: end the provider's session too, when the person came in through SSO.

mozilla-django-oidc only offers the ``OIDC_OP_LOGOUT_URL_METHOD`` hook; this is that method,
per config. With an ``end_session_endpoint`` in the (cached) discovery we send the browser
there with ``id_token_hint``, ``client_id``, ``post_logout_redirect_uri`` and ``tenant``;
without one, straight to the config's logout redirect URL; with neither, the caller falls back
to the portal's login page.
"""

from .discovery import provider_metadata
from .errors import SSOFlowError
from .events import sso_event_record
from .http import append_query
from .models import SSOEvent
from .selectors import sso_config_by_key
from .session import SESSION_CONFIG_KEY, SESSION_ID_TOKEN


def sso_logout_url(request) -> str:
    """Where the browser goes after our session ends; "" when the session did not come from SSO.

    Call it before ``auth.logout``: it reads the config key and ID token from the session.
    """
    key = request.session.get(SESSION_CONFIG_KEY)
    portal = getattr(request, "portal", None)
    if not key or portal is None:
        return ""
    config = sso_config_by_key(portal=portal, key=key)
    if config is None:
        return ""
    target = config.logout_redirect_url
    try:
        end_session = provider_metadata(config.issuer, portal_id=config.portal_id).end_session_endpoint
    except SSOFlowError:
        end_session = ""  # provider down: still end our session, and land on the redirect URL
    if end_session:
        params = {"client_id": config.client_id}
        id_token = request.session.get(SESSION_ID_TOKEN)
        if id_token:
            params["id_token_hint"] = id_token
        if config.logout_redirect_url:
            params["post_logout_redirect_uri"] = config.logout_redirect_url
        if config.tenant:
            params["tenant"] = config.tenant
        target = append_query(end_session, params)
    sso_event_record(
        portal=portal,
        config=config,
        outcome=SSOEvent.Outcome.LOGOUT,
        reason="signed_out",
        message="Signed out through the provider." if end_session else "Signed out.",
        request=request,
        email=getattr(request.user, "email", ""),
    )
    return target
