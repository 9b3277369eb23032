from django.conf import settings

# Pages whose URL carries a one-time code or token: the login callback (?code=…&state=…) and the
# email-verification link. The <meta name="referrer"> in base.html overrides the Referrer-Policy
# header, so it must say no-referrer on these pages too, or the URL leaks on the CSS request.
TOKEN_URL_NAMES = frozenset({"sso:callback", "accounts:verify"})


def portal(request):
    """Branding for every template: the portal's name, colour and logo."""
    return {"portal": getattr(request, "portal", None)}


def referrer_policy(request):
    """The page's referrer policy for base.html's meta tag: ``no-referrer`` on pages whose URL
    holds a code or token, and on pages answered before routing (their URL is unchecked)."""
    match = getattr(request, "resolver_match", None)
    if match is None or match.view_name in TOKEN_URL_NAMES:
        return {"referrer_policy": "no-referrer"}
    return {"referrer_policy": settings.SECURE_REFERRER_POLICY}
