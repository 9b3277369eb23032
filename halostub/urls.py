"""URL shape of a hosted HaloPSA: the authorisation server lives under ``/auth``.

django-oauth-toolkit's endpoints are mounted at ``auth/`` (namespace ``oauth2_provider``, which its
discovery view reverses), with authorize and token swapped for the tenant-checking views. Only what a
HaloPSA-like provider needs is exposed: no application management, device flow or registration.
"""

from django.conf import settings
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from oauth2_provider import views as dot

from . import api, api_control, control, oauth, views

oauth_patterns = (
    [
        # RFC 8414 metadata, also what django-oauth-toolkit derives RFC 9207's ``iss`` from.
        path(
            ".well-known/oauth-authorization-server",
            dot.OAuthServerMetadataView.as_view(),
            name="oauth-server-metadata",
        ),
        re_path(
            r"^\.well-known/openid-configuration$",
            oauth.DiscoveryView.as_view(),
            name="oidc-connect-discovery-info",
        ),
        path(".well-known/jwks.json", dot.JwksInfoView.as_view(), name="jwks-info"),
        path("authorize/", oauth.TenantAuthorizationView.as_view(), name="authorize"),
        path("token/", oauth.TenantTokenView.as_view(), name="token"),
        # HaloPSA's API clients post to ``{auth}/token`` with no trailing slash.
        path("token", oauth.TenantTokenView.as_view(), name="token-no-slash"),
        path("userinfo/", dot.UserInfoView.as_view(), name="user-info"),
        path("logout/", dot.RPInitiatedLogoutView.as_view(), name="rp-initiated-logout"),
        path("revoke_token/", dot.RevokeTokenView.as_view(), name="revoke-token"),
        path("introspect/", dot.IntrospectTokenView.as_view(), name="introspect"),
    ],
    "oauth2_provider",
)

site_patterns = (
    [
        path("login/", views.LoginView.as_view(), name="login"),
        path("logout/", views.LogoutView.as_view(), name="logout"),
        path("portal/", views.portal_home, name="portal"),
    ],
    "halostub",
)

api_patterns = [
    path("AuthInfo", api.auth_info),
    path("Client", api.clients),
    path("Users", api.users),
    path("Invoice", api.invoices),
    path("Invoice/<int:pk>", api.invoice_detail),
    path("Invoice/PDF/<int:pk>", api.invoice_pdf_view),
    path("InvoicePayment", api.invoice_payments),
    path("Webhook", api.webhooks),
]

urlpatterns = [
    path("auth/", include(oauth_patterns)),
    path("api/", include(api_patterns)),
    path("", include(site_patterns)),
    path("", RedirectView.as_view(pattern_name="halostub:portal", permanent=False)),
]

if settings.HALOSTUB_CONTROL:
    urlpatterns += [
        path("_control/stats", control.stats_view),
        path("_control/stats/reset", control.stats_reset),
        path("_control/clients", control.clients),
        path("_control/users", control.users),
        path("_control/links", control.links),
        path("_control/api/client", api_control.api_client),
        path("_control/api/seed", api_control.seed),
        path("_control/api/generate", api_control.generate),
        path("_control/api/change", api_control.change),
        path("_control/api/delete", api_control.delete),
        path("_control/api/knobs", api_control.knobs_view),
        path("_control/api/payments", api_control.posted_payments),
        path("_control/api/deliveries", api_control.deliveries),
        path("_control/api/webhooks", api_control.webhooks_list),
    ]
