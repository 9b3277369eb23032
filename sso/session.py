"""What an SSO sign-in leaves in the session: the config it came through and its ID token.

Both are needed at logout (RP-initiated logout wants ``id_token_hint``). A first login does not
sign in at once: the ID token waits in the session until the person confirms the emailed link,
and is adopted only if that happens in this same browser (another browser has no ID token, so
its logout still goes to the provider, just without a hint).
"""

SESSION_CONFIG_KEY = "sso_config_key"
SESSION_ID_TOKEN = "oidc_id_token"
SESSION_PENDING = "sso_pending_login"


def sso_session_start(request, *, config, id_token: str) -> None:
    request.session[SESSION_CONFIG_KEY] = config.key
    request.session[SESSION_ID_TOKEN] = id_token


def sso_session_hold(request, *, config, id_token: str) -> None:
    """Keep a first login's ID token until its email is verified."""
    request.session[SESSION_PENDING] = {"config_key": config.key, "id_token": id_token}


def sso_session_adopt(request, *, identity) -> None:
    """After a verification link signed this browser in: remember the SSO config (and, when this
    browser started that login, its ID token) so that logout also ends the provider's session."""
    pending = request.session.pop(SESSION_PENDING, None)
    config = identity.sso_config if identity is not None else None
    if config is None:
        return
    request.session[SESSION_CONFIG_KEY] = config.key
    if isinstance(pending, dict) and pending.get("config_key") == config.key and pending.get("id_token"):
        request.session[SESSION_ID_TOKEN] = pending["id_token"]


def sso_session_persist(request) -> None:
    """Write the session now, so a popped state is gone even if what follows fails.

    Only a browser that already has a session is written: an anonymous visitor who started no
    sign-in (a forged or replayed callback URL) must not get a new session row for each request.
    """
    if request.session.session_key is not None:
        request.session.save()
