"""mozilla-django-oidc's backend, extended per tenant.

Every provider setting comes from the ``SSOConfig`` chosen by the login state (passed in by the
callback view as ``sso_config``); none from global settings. ``__init__`` does no settings or
database work because Django builds backends often (e.g. on every ``get_user``). What the library
lacks is added here: discovery, cached JWKS, full ID-token validation (``sso.tokens``), public
clients, the ``tenant`` parameter, a per-config redirect URI, and userinfo only when needed.
The verified identity goes to ``accounts``: the key is (issuer, sub), never the email.
"""

import logging

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.views.decorators.debug import sensitive_variables
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from requests.auth import HTTPBasicAuth

from portal.outages import database_reconnect_if_dropped
from portal.outbound import safe_text

from . import http
from .discovery import ProviderMetadata, provider_metadata
from .errors import SSOFlowError, from_http_error
from .tokens import validate_id_token

logger = logging.getLogger(__name__)


class PortalOIDCBackend(OIDCAuthenticationBackend):
    def __init__(self, *args, **kwargs):
        # Deliberately not calling super().__init__: it reads OIDC_OP_* settings, which we never set.
        self.UserModel = get_user_model()

    def authenticate(self, request, sso_config=None, nonce=None, code_verifier=None, **kwargs):
        """Exchange the code and validate the ID token; returns the verified claims' owner.

        Returns a user only for a verified identity; otherwise None with the outcome left on
        ``request.sso_result`` for the callback view. Raises SSOFlowError with the precise reason.
        (The callback view calls the two halves itself, to keep the writes in its transaction.)
        """
        if request is None or sso_config is None:
            return None  # not an SSO callback: leave it to the other backends
        claims = self.verified_claims(
            request, sso_config=sso_config, nonce=nonce, code_verifier=code_verifier
        )
        return self.identity_login(claims)

    @sensitive_variables("code_verifier", "token_payload", "token_info")
    def verified_claims(self, request, *, sso_config, nonce, code_verifier) -> dict:
        """The provider's answer for this code, exchanged and checked (token, ID token, userinfo when
        needed, email): provider calls and checks only, no database writes, so that the callback's
        writes can follow in one short transaction that never waits on the provider."""
        self.request = request
        self.config = sso_config
        self.metadata: ProviderMetadata = provider_metadata(sso_config.issuer, portal_id=sso_config.portal_id)
        code = request.GET.get("code", "")
        token_payload = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": sso_config.callback_url,
            "code_verifier": code_verifier,
        }
        token_info = self.get_token(token_payload)
        id_token = token_info.get("id_token")
        access_token = token_info.get("access_token")
        claims = self.verify_token(id_token, nonce=nonce)
        self.store_tokens(access_token, id_token)
        claims = self.get_userinfo(access_token, id_token, claims)
        self.verify_claims(claims)
        if any(ord(ch) < 32 for ch in claims["sub"]):
            raise SSOFlowError("invalid_claim", "The 'sub' claim holds control characters.")
        request.sso_claims = claims
        return claims

    # --- token endpoint ---------------------------------------------------------------------
    def get_token(self, payload: dict) -> dict:
        """POST to the token endpoint, authenticating as the discovery allows.

        With a secret: ``client_secret_basic`` unless the provider only offers
        ``client_secret_post``. Without one: a public client (PKCE), ``client_id`` in the body.
        """
        config, methods = self.config, self.metadata.token_endpoint_auth_methods_supported
        data = dict(payload)
        auth = None
        if config.client_secret:
            if "client_secret_basic" in methods or "client_secret_post" not in methods:
                auth = HTTPBasicAuth(config.client_id, config.client_secret)
            else:
                data.update(client_id=config.client_id, client_secret=config.client_secret)
        else:
            data["client_id"] = config.client_id
        if config.tenant:
            data["tenant"] = config.tenant
        # HaloPSA's hosted instances want tenant= on the token URL (and on authorize).
        url = http.append_query(
            self.metadata.token_endpoint, {"tenant": config.tenant} if config.tenant else {}
        )
        try:
            response = http.request(
                "POST",
                url,
                data=data,
                auth=auth,
                headers={"Accept": "application/json"},
                limit_key=self.metadata.breaker or None,
                what="token_endpoint",
            )
        except http.ProviderHTTPError as exc:
            raise from_http_error(exc, what="token_endpoint") from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200:
            # Only the OAuth error fields are shown (Try sign-in), sanitised: never the raw body.
            error = body.get("error", "") if isinstance(body, dict) else ""
            description = body.get("error_description", "") if isinstance(body, dict) else ""
            error, description = safe_text(error or "", 60), safe_text(description or "", 200)
            hint = {
                "invalid_client": " Check the client ID (and secret) in the config.",
                "invalid_grant": " The code was rejected: check the login redirect URL registered at the provider.",
            }.get(error, "")
            raise SSOFlowError(
                "token_endpoint_error",
                f"The token endpoint answered {response.status_code} {error or '(no error code)'}"
                f"{': ' + description if description else ''}.{hint}",
                status=502 if response.status_code >= 500 else 400,
            )
        if not isinstance(body, dict):
            raise SSOFlowError(
                "token_endpoint_garbage", "The token endpoint did not answer with JSON.", status=502
            )
        return body

    def verify_token(self, token, **kwargs) -> dict:
        return validate_id_token(
            id_token=token, config=self.config, metadata=self.metadata, nonce=kwargs.get("nonce")
        )

    def store_tokens(self, access_token, id_token):
        """Keep the ID token for the callback view, which stores it in the session only when it
        signs the person in (it is the ``id_token_hint`` of RP-initiated logout)."""
        self.request.sso_id_token = id_token

    # --- claims -----------------------------------------------------------------------------
    def get_userinfo(self, access_token, id_token, payload) -> dict:
        """Claims about the person: the ID token's, plus userinfo only when email is missing.

        Saves a provider round trip on every login; when userinfo is fetched, its ``sub`` must
        equal the ID token's (Core §5.3.2), or the answer belongs to someone else.
        """
        if payload.get("email"):
            return payload
        if not self.metadata.userinfo_endpoint or not access_token:
            return payload
        try:
            response = http.request(
                "GET",
                self.metadata.userinfo_endpoint,
                headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
                limit_key=self.metadata.breaker or None,
                what="userinfo_endpoint",
            )
        except http.ProviderHTTPError as exc:
            raise from_http_error(exc, what="userinfo") from exc
        try:
            info = response.json() if response.status_code == 200 else None
        except ValueError:
            info = None
        if not isinstance(info, dict):
            raise SSOFlowError(
                "userinfo_error",
                f"The userinfo endpoint answered {response.status_code} without claims.",
                status=502,
            )
        if info.get("sub") != payload["sub"]:
            raise SSOFlowError("userinfo_sub_mismatch", "The userinfo 'sub' differs from the ID token's.")
        return {**info, **payload}

    def verify_claims(self, claims) -> bool:
        email = claims.get("email")
        if not isinstance(email, str) or not email:
            raise SSOFlowError(
                "no_email",
                "The provider sent no email for this person (is 'email' in the scope, and does the user have one?).",
                public_message="Your account at the sign-in provider has no email address, so we can't match it "
                "to your billing account. Please ask your provider to add one.",
            )
        try:
            validate_email(email)
        except ValidationError as exc:
            raise SSOFlowError("invalid_email", "The provider sent an email that is not valid.") from exc
        return True

    def identity_access_check(self, claims: dict) -> None:
        """Ask the portal's invoice-access rule for the claimed email now, before the sign-in's
        transaction (``accounts.sso_login.sso_login_invoice_access`` says why)."""
        from accounts.sso_login import sso_login_invoice_access

        email = claims.get("email") if isinstance(claims.get("email"), str) else ""
        self.known_access = sso_login_invoice_access(portal=self.config.portal, email=email.strip().lower())

    def identity_login(self, claims: dict):
        """Hand the verified identity to ``accounts``: a user for a verified identity, else None
        with the pending verification recorded on ``request.sso_result``."""
        from accounts.sso_login import sso_identity_login

        name = claims.get("name") if isinstance(claims.get("name"), str) else ""
        name = "".join(ch for ch in name if ord(ch) >= 32)
        database_reconnect_if_dropped()  # the provider calls may have taken seconds
        result = sso_identity_login(
            request=self.request,
            sso_config=self.config,
            issuer=self.config.issuer,
            sub=claims["sub"],
            email=claims["email"].strip().lower(),
            name=name[:200],
            next_url=getattr(self.request, "sso_next_url", ""),
            known_access=getattr(self, "known_access", None),
        )
        self.request.sso_result = result
        return result.user

    def filter_users_by_claims(self, claims):
        # Never match people by email alone: identities are (issuer, sub) and verified first.
        return self.UserModel.objects.none()

    def get_user(self, user_id):
        try:
            return self.UserModel.objects.get(pk=user_id, is_active=True)
        except self.UserModel.DoesNotExist:
            return None
