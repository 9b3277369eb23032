"""Content-Security-Policy on every response: scripts, styles and frames only from the portal itself.

Why: the portal shows text that others control (portal names, provider messages in the event log,
customer names synced from HaloPSA). Escaping already keeps it inert; the policy is the second
wall, so that one missed escape cannot run script in a signed-in customer's or an admin's browser.
The one inline style (the portal's brand colour) carries a per-request nonce.

The policy is ``CONTENT_SECURITY_POLICY`` in settings (directive -> sources); a feature that needs
another origin (Stripe.js, say) adds it there. ``form-action`` is deliberately absent: signing out
posts to the portal, which redirects to the provider's end-session URL, and browsers apply
``form-action`` to that redirect too.
"""

import secrets

from django.conf import settings

HEADER = "Content-Security-Policy"


def csp_header_value(nonce: str) -> str:
    parts = []
    for directive, sources in settings.CONTENT_SECURITY_POLICY.items():
        sources = list(sources)
        if directive in ("script-src", "style-src"):
            sources.append(f"'nonce-{nonce}'")
        parts.append(" ".join([directive, *sources]))
    return "; ".join(parts)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.csp_nonce = secrets.token_urlsafe(18)
        response = self.get_response(request)
        if HEADER in response:
            return response  # a view that set its own policy knows better
        if settings.DEBUG and response.status_code in (404, 500):
            return response  # Django's debug pages use inline styles and scripts
        response[HEADER] = csp_header_value(request.csp_nonce)
        return response


def csp_nonce(request) -> dict:
    """Context processor: ``{{ csp_nonce }}`` for the few inline ``<style>`` elements."""
    return {"csp_nonce": getattr(request, "csp_nonce", "")}
