"""The OpenID provider part: ID token claims and HaloPSA's ``tenant`` check on authorize and token."""

import hmac
import json
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.http import JsonResponse, QueryDict
from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.views import AuthorizationView, ConnectDiscoveryInfoView, TokenView

from .stats import tenant_of


class StandInValidator(OAuth2Validator):
    """Adds ``email`` and ``name`` to ID tokens and userinfo, each only with its scope.

    The request-agnostic form (no ``request`` argument) also lists them in discovery's
    ``claims_supported``. ``sub`` (the user's id) and ``nonce`` come from django-oauth-toolkit.
    """

    def get_additional_claims(self):
        return {
            "email": lambda request: request.user.email,
            "name": lambda request: request.user.get_full_name() or request.user.email,
        }

    # prompt=none (OpenID Connect Core 3.1.2.1), as HaloPSA honours it: oauthlib asks these before
    # django-oauth-toolkit answers a visitor with no session by redirecting ``error=login_required``
    # to the registered redirect URI. The validator in django-oauth-toolkit leaves them unimplemented
    # (a 500); nothing extra is refused silently here.
    def validate_silent_login(self, request) -> bool:
        return True

    def validate_silent_authorization(self, request) -> bool:
        return True


class DiscoveryView(ConnectDiscoveryInfoView):
    """django-oauth-toolkit's discovery, plus RFC 9207's flag when ``iss`` responses are on."""

    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        if response.status_code != 200:
            return response
        data = json.loads(response.content)
        # Public (PKCE) clients, like HaloPSA's "Authorisation Code (Native application)", send no
        # secret; django-oauth-toolkit accepts them but does not advertise "none".
        methods = list(data.get("token_endpoint_auth_methods_supported") or [])
        if "none" not in methods:
            data["token_endpoint_auth_methods_supported"] = [*methods, "none"]
        if settings.HALOSTUB_ISS_PARAMETER:
            data["authorization_response_iss_parameter_supported"] = True
        response.content = json.dumps(data)
        return response


def tenant_ok(request) -> bool:
    """Hosted HaloPSA needs ``tenant=<instance tenant>``; with no tenant configured any value passes."""
    expected = settings.HALOSTUB_TENANT
    if not expected:
        return True
    given = tenant_of(request) or ""
    return hmac.compare_digest(given.encode(), expected.encode())


class TenantAuthorizationView(AuthorizationView):
    """Refuses a missing or wrong tenant before anything else, even before asking anyone to sign in."""

    def redirect(self, redirect_to, application):
        """With ``HALOSTUB_ISS_PARAMETER``, append RFC 9207's ``iss`` to the authorization response.

        Appended after the registered redirect URI's own query (the portal's ``?iss=<config key>``),
        not replacing it as django-oauth-toolkit's built-in option does: that is the shape the
        portal's callback must handle from a provider implementing RFC 9207.
        """
        if settings.HALOSTUB_ISS_PARAMETER:
            parts = urlsplit(redirect_to)
            query = parse_qsl(parts.query, keep_blank_values=True)
            if any(k in {"code", "error"} for k, _ in query):
                query.append(("iss", oauth2_settings.oidc_issuer(self.request)))
                redirect_to = urlunsplit(parts._replace(query=urlencode(query)))
        return super().redirect(redirect_to, application)

    def dispatch(self, request, *args, **kwargs):
        if not tenant_ok(request):
            return render(
                request,
                "halostub/error.html",
                {
                    "title": "Unknown tenant",
                    "message": "This sign-in link does not name this HaloPSA instance's tenant "
                    "(the “tenant” parameter is missing or wrong).",
                },
                status=400,
            )
        return super().dispatch(request, *args, **kwargs)


@method_decorator(csrf_exempt, name="dispatch")
class TenantTokenView(TokenView):
    """Accepts ``tenant`` in the query string or the form body, like HaloPSA's clients send it."""

    def dispatch(self, request, *args, **kwargs):
        if not tenant_ok(request):
            return JsonResponse(
                {"error": "invalid_request", "error_description": "unknown tenant"},
                status=400,
                headers={"Cache-Control": "no-store"},
            )
        if "tenant" in request.GET:
            # oauthlib refuses any query parameter on the token endpoint; once checked, the tenant
            # has done its job, so hand oauthlib the request without it.
            query = request.GET.copy()
            del query["tenant"]
            request.META["QUERY_STRING"] = query.urlencode()
            request.GET = QueryDict(request.META["QUERY_STRING"])
        return super().dispatch(request, *args, **kwargs)
