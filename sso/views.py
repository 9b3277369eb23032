"""SSO endpoints: mozilla-django-oidc's request and callback views, extended per config.

The views are thin: the config comes from the URL key (login start) or from the state (callback),
discovery and token checks live in ``sso.discovery`` / ``sso.backend`` / ``sso.tokens``, and the
verified identity is handed to ``accounts``. Every refusal is a short friendly page (4xx, or
502/503/504 when the provider itself failed) plus an ``SSOEvent`` row naming the precise reason.
"""

import logging
from urllib.parse import parse_qs, urlsplit

from django.contrib import auth
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.http import HttpResponseRedirect
from django.shortcuts import render, resolve_url
from django.views.generic import View
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from accounts.redirects import safe_next_url
from portal import safe_cache
from portal.outages import ServiceUnavailable, caused_by_an_outage
from portal.sessions import session_save_in_transaction

from . import http
from .backend import PortalOIDCBackend
from .connection_test import sso_connection_test
from .discovery import provider_metadata
from .dry_run import dry_run_callback, dry_run_provider_error, may_dry_run
from .errors import SSOFlowError
from .events import sso_event_record
from .models import SSOEvent
from .selectors import sso_config_by_key
from .session import sso_session_hold, sso_session_start
from .state import annotate_state, pop_state, restart_sign_in, restarted_cookie_name, session_snapshot

logger = logging.getLogger(__name__)
BACKEND = f"{PortalOIDCBackend.__module__}.{PortalOIDCBackend.__qualname__}"


def sso_error_page(request, exc: SSOFlowError, *, config=None):
    return render(
        request,
        "sso/error.html",
        {"public_message": exc.public_message, "reason": exc.reason, "config": config},
        status=exc.status,
    )


def refuse(request, exc: SSOFlowError, *, config=None, config_key: str = "", sub: str = "", email: str = ""):
    """Log the precise reason, then show the person the friendly one."""
    sso_event_record(
        portal=request.portal,
        config=config,
        config_key=config_key,
        outcome=SSOEvent.Outcome.FAILURE,
        reason=exc.reason,
        message=exc.message,
        request=request,
        sub=sub,
        email=email,
    )
    return sso_error_page(request, exc, config=config)


class SSOLoginStartView(OIDCAuthenticationRequestView):
    """``GET /sso/<key>/login/?next=/path``: 302 to the provider's authorization endpoint.

    This is also the URL admins put in HaloPSA's customer portal as a custom link: a person
    already signed in at HaloPSA comes straight back with a code and lands on ``next``.
    """

    dry_run = False

    def __init__(self, **kwargs):
        # The library reads the authorization endpoint and client ID from settings here, before
        # any request exists; ours come from the config in ``get``.
        View.__init__(self, **kwargs)

    def get_settings(self, attr, *args):
        per_config = {
            "OIDC_RP_SCOPES": self.config.scope,
            "OIDC_REDIRECT_FIELD_NAME": "next",
            "OIDC_AUTHENTICATION_CALLBACK_URL": "sso:callback",
        }
        if attr in per_config:
            return per_config[attr]
        return import_from_settings(attr, *args)

    def get_extra_params(self, request) -> dict:
        # The redirect URI must be the registered login redirect URL exactly, key included.
        params = {"redirect_uri": self.config.callback_url}
        if self.config.tenant:
            params["tenant"] = self.config.tenant
        return params

    def get(self, request, key: str):
        # Every provider call of this request shares one deadline, so the person gets a page
        # (the redirect, or the friendly 502/503/504) in time whatever the provider does.
        with http.budget():
            return self.start(request, key)

    def start(self, request, key: str):
        config = sso_config_by_key(portal=request.portal, key=key)
        if config is None:
            return refuse(
                request,
                SSOFlowError(
                    "unknown_config",
                    f"No SSO config with key {key[:40]!r} on this portal.",
                    status=404,
                    public_message="This sign-in link isn't set up for this portal. Please use the login page.",
                ),
                config_key=key,
            )
        if not config.enabled:
            return refuse(request, config_disabled_error(), config=config)
        try:
            metadata = provider_metadata(config.issuer, portal_id=config.portal_id)
            if (
                metadata.code_challenge_methods_supported
                and "S256" not in metadata.code_challenge_methods_supported
            ):
                raise SSOFlowError(
                    "pkce_s256_unsupported", "The provider does not support PKCE with S256.", status=502
                )
        except SSOFlowError as exc:
            return refuse(request, exc, config=config)
        self.config = config
        self.OIDC_OP_AUTH_ENDPOINT = metadata.authorization_endpoint
        self.OIDC_RP_CLIENT_ID = config.client_id
        before = session_snapshot(request)
        response = super().get(request)
        state = parse_qs(urlsplit(response.url).query)["state"][0]
        next_url = safe_next_url(request=request, url=request.GET.get("next"))
        annotate_state(
            request,
            response,
            state=state,
            config=config,
            next_url=next_url,
            dry_run=self.dry_run,
            before=before,
        )
        request.session.pop("oidc_login_next", None)  # ours is per state, so parallel tabs don't clash
        return response


def config_disabled_error() -> SSOFlowError:
    return SSOFlowError(
        "config_disabled",
        "The SSO config is disabled.",
        status=403,
        public_message="Single sign-on with this provider is turned off for this portal. Please use the login page.",
    )


class SSOCallbackView(OIDCAuthenticationCallbackView):
    """``GET /callback?iss=<key>&code=…&state=…``: the login redirect URL registered at HaloPSA."""

    def get(self, request):
        with http.budget():  # token, keys and userinfo calls together: see SSOLoginStartView.get
            response = self.handle(request)
        # The URL holds a one-time code: never send it onwards in a Referer.
        response["Referrer-Policy"] = "no-referrer"
        restarted = restarted_cookie_name()
        if request.COOKIES.get(restarted) and restarted not in response.cookies:  # not the restart itself
            response.delete_cookie(restarted, samesite="Lax")
        return response

    @property
    def success_url(self):
        return self.pending.next_url or resolve_url("portal:dashboard")

    def handle(self, request):
        iss_values = request.GET.getlist("iss")
        key = iss_values[0] if iss_values else ""
        config = sso_config_by_key(portal=request.portal, key=key)
        if config is None:
            return refuse(
                request,
                SSOFlowError("unknown_config", f"Callback for unknown config key {key[:40]!r}.", status=400),
                config_key=key,
            )
        state = request.GET.get("state", "")
        if request.GET.get("error"):
            return self.provider_error(request, config=config, state=state)
        if not request.GET.get("code") or not state:
            return refuse(
                request,
                SSOFlowError("missing_code_or_state", "The callback had no code or no state."),
                config=config,
            )
        try:
            pending = pop_state(request, state)  # single use, even if everything below fails
        except ServiceUnavailable:
            # The 503 "try again in a minute" page when it missed twice in a row, or for staff: theirs
            # may be a Try sign-in, which started again would sign them in as a customer instead.
            if request.COOKIES.get(restarted_cookie_name()) or request.user.is_staff:
                raise
            return restart_sign_in(request, config=config)
        try:
            self.check_pending(request, pending=pending, config=config, iss_values=iss_values)
        except SSOFlowError as exc:
            return refuse(request, exc, config=config)
        self.pending = pending
        if pending.dry_run:
            return self.dry_run(request, config=config, pending=pending)
        return self.sign_in(request, config=config, pending=pending)

    def sign_in(self, request, *, config, pending):
        """Exchange the code, then act on what ``accounts`` decided, all its writes in one transaction.

        The provider calls come first, outside any transaction (a transaction never waits on the
        provider, and SQLite's write lock is not held across them), and so does the invoice-access
        check, which may ask HaloPSA. Then the identity update, its
        audit row, the new session row (key rotation), ``last_login`` and the SSO event row commit
        together: one commit, and no event or identity change for a sign-in that did not happen.
        """
        request.sso_next_url = pending.next_url
        backend = PortalOIDCBackend()
        self.user = None
        try:
            backend.verified_claims(
                request, sso_config=config, nonce=pending.nonce, code_verifier=pending.code_verifier
            )
            if pending.from_session:
                # Parallel tabs' states are in the session too: reload it after the slow provider
                # calls, as the library does, so the sign-in's session save does not drop theirs.
                request.session = request.session.__class__(request.session.session_key)
            backend.identity_access_check(request.sso_claims)  # may ask HaloPSA: outside the transaction
            with transaction.atomic():
                return self.record_sign_in(request, backend=backend, config=config)
        except SSOFlowError as exc:
            self.forget_failed_login(request)
            return refuse(request, exc, config=config)
        except Exception as exc:
            if caused_by_an_outage(exc):
                raise  # PostgreSQL or Redis went away mid-sign-in: the 503 "try again" page
            logger.exception("unexpected error during SSO callback", extra={"config_key": config.key})
            self.forget_failed_login(request)
            return refuse(
                request,
                SSOFlowError(
                    "unexpected_error", "An unexpected error occurred; see the server log.", status=502
                ),
                config=config,
            )

    def forget_failed_login(self, request) -> None:
        """A sign-in that failed after ``auth.login()`` ran must not leave the browser signed in.

        Its writes were rolled back (no event, no identity update), but the session already holds the
        user, and SessionMiddleware saves the session of any answer under 500, so the refusal page would
        otherwise carry a working sign-in the records say was refused.
        """
        if self.user is not None and auth.SESSION_KEY in request.session:
            request.session.flush()
            request.user = AnonymousUser()

    def record_sign_in(self, request, *, backend, config):
        claims = request.sso_claims
        who = {"sub": claims.get("sub", ""), "email": claims.get("email", "")}
        self.user = backend.identity_login(claims)
        result = request.sso_result
        if self.user is None and result.error:
            error = SSOFlowError("account_refused", result.error, status=403, public_message=result.error)
            return refuse(request, error, config=config, **who)
        if self.user is None:
            sso_event_record(
                portal=request.portal,
                config=config,
                outcome=SSOEvent.Outcome.VERIFY,
                reason="verification_sent",
                message="First sign-in of this identity: a verification email was sent.",
                request=request,
                **who,
            )
            sso_session_hold(request, config=config, id_token=request.sso_id_token)
            return HttpResponseRedirect(result.check_email_url)
        self.user.backend = BACKEND  # what auth.authenticate() would have set
        response = self.login_success()
        sso_session_start(request, config=config, id_token=request.sso_id_token)
        sso_event_record(
            portal=request.portal,
            config=config,
            outcome=SSOEvent.Outcome.SUCCESS,
            reason="signed_in",
            request=request,
            **who,
        )
        session_save_in_transaction(request.session)  # the new session row commits with the rest
        return response

    def dry_run(self, request, *, config, pending):
        """An admin's Try sign-in: report what came back; sign nobody in."""
        if not may_dry_run(request.user, config):
            return refuse(request, dry_run_forbidden(), config=config)
        report = dry_run_callback(request=request, config=config, pending=pending)
        return admin_page(request, "sso/dry_run.html", {"config": config, "report": report})

    def check_pending(self, request, *, pending, config, iss_values: list[str]) -> None:
        if pending is None:
            raise SSOFlowError(
                "state_unknown",
                "The state is not pending in this browser's session (expired, already used, or another browser).",
                public_message="This sign-in attempt has expired or was already used. Please start again.",
            )
        if pending.config_key != config.key or pending.portal_id != request.portal.id:
            raise SSOFlowError(
                "state_config_mismatch", "The state belongs to another SSO config (possible mix-up)."
            )
        if pending.expired:
            raise SSOFlowError(
                "state_expired",
                "The sign-in took longer than allowed.",
                public_message="This sign-in attempt has expired. Please start again.",
            )
        if not config.enabled:
            raise config_disabled_error()
        # RFC 9207: a provider may append its issuer as a second ``iss``; it must be ours, and there
        # is no third (which of several would be the provider's is anyone's guess).
        if len(iss_values) > 1 and (iss_values[1] != config.issuer or len(iss_values) > 2):
            raise SSOFlowError(
                "callback_issuer_mismatch",
                f"The callback's iss parameter {iss_values[1][:200]!r} is not the config's issuer.",
            )

    def provider_error(self, request, *, config, state: str):
        """The provider sent the person back with ``error=``. Its text is recorded only for a login
        this browser started with this config: anyone can open ``/callback?iss=<key>&error=…``,
        and without that check they could write whatever they like into the config's "Last
        attempts". Unsolicited errors are only counted (``unsolicited_provider_errors``)."""
        pending = pop_state(request, state) if state else None
        solicited = (
            pending is not None
            and pending.config_key == config.key
            and pending.portal_id == request.portal.id
        )
        if not solicited:
            count = unsolicited_provider_error_count(config=config, increment=True)
            logger.info(
                "unsolicited provider error on the callback",
                extra={"portal": request.portal.host, "config_key": config.key, "count_today": count},
            )
            return sso_error_page(
                request,
                SSOFlowError(
                    "provider_error_unsolicited",
                    "A provider error arrived for no sign-in pending in this browser.",
                    public_message="This sign-in attempt has expired or was already used. Please start again.",
                ),
                config=config,
            )
        error = request.GET.get("error", "")[:100]
        description = request.GET.get("error_description", "")[:300]
        if pending.dry_run:  # an admin's Try sign-in: report it, and keep them signed in
            if not may_dry_run(request.user, config):
                return refuse(request, dry_run_forbidden(), config=config)
            report = dry_run_provider_error(
                request=request, config=config, error=error, description=description
            )
            return admin_page(request, "sso/dry_run.html", {"config": config, "report": report})
        if request.user.is_authenticated:
            auth.logout(request)
        cancelled = error in {"access_denied", "login_required", "consent_required", "interaction_required"}
        return refuse(
            request,
            SSOFlowError(
                "provider_error",
                f"The provider answered error={error!r}" + (f": {description}" if description else ""),
                status=403 if cancelled else 400,
                public_message="Sign-in was cancelled or not allowed by the provider."
                if cancelled
                else "The sign-in provider reported a problem. Please try again.",
            ),
            config=config,
        )


def unsolicited_provider_error_count(*, config, increment: bool = False) -> int:
    """Callback errors with no pending state for ``config`` in the last day (a counter in the
    shared cache, per portal and config: no text from the request is kept)."""
    key = f"sso:unsolicited-errors:{config.portal_id}:{config.key}"
    if not increment:
        return int(safe_cache.get(key) or 0)
    safe_cache.add(key, 0, timeout=24 * 3600)
    try:
        return safe_cache.incr(key) or 0  # the cache down: not counted, still not recorded
    except ValueError:
        safe_cache.add(key, 1, timeout=24 * 3600)
        return 1


def dry_run_forbidden() -> SSOFlowError:
    return SSOFlowError(
        "dry_run_forbidden",
        "Try sign-in is only for staff of this portal.",
        status=403,
        public_message="Try sign-in is only available to this portal's administrators. Sign in to the admin first.",
    )


class SSODryRunStartView(SSOLoginStartView):
    """``GET /sso/<key>/try/``: the admin's Try sign-in, a real login marked as a dry run."""

    dry_run = True

    def get(self, request, key: str):
        config = sso_config_by_key(portal=request.portal, key=key)
        if config is not None and not may_dry_run(request.user, config):
            return refuse(request, dry_run_forbidden(), config=config)
        if config is not None:
            # Probe first: a provider that refuses the client shows its own error page and never
            # comes back, which would strand the admin's tab there. Say what it will refuse instead.
            report = sso_connection_test(config=config, request=request)
            if not report.passed:
                return admin_page(request, "sso/dry_run_blocked.html", {"config": config, "report": report})
        return super().get(request, key)


def admin_page(request, template: str, context: dict):
    """Render an SSO page inside the admin's layout (header, breadcrumbs, themes)."""
    from django.contrib import admin

    from .models import SSOConfig

    return render(
        request,
        template,
        {**admin.site.each_context(request), "opts": SSOConfig._meta, "title": "Try sign-in", **context},
    )


login_start = SSOLoginStartView.as_view()
dry_run_start = SSODryRunStartView.as_view()
callback = SSOCallbackView.as_view()
