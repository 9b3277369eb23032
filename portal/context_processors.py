import re

from django.conf import settings

DEFAULT_BRAND_COLOUR = "#1a56db"
_HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")

# Pages whose URL carries a one-time code or token. The <meta name="referrer"> in base.html
# overrides the Referrer-Policy header, so it must not undo the header's no-referrer there.
# The callback page says no-referrer outright. The verification page posts its form back to its
# own URL, and a browser sends "Origin: null" and no Referer for a POST from a no-referrer page,
# which Django's CSRF check (rightly) refuses; so that page keeps same-origin, and base.html keeps
# every subresource (stylesheet, logo) at no-referrer on every page: the URL goes to no one but
# the portal itself, whose access log redacts it (portal/access_log.py).
NO_REFERRER_URL_NAMES = frozenset({"sso:callback"})
SAME_ORIGIN_URL_NAMES = frozenset({"accounts:verify"})


def portal(request):
    """Branding for every template: the portal's name, colour and logo.

    ``brand_colour`` goes into a ``<style>`` element, where HTML escaping does not stop CSS: only
    a plain ``#rrggbb`` is ever put there, whatever the database holds.
    """
    current = getattr(request, "portal", None)
    colour = getattr(current, "primary_colour", "") or ""
    return {
        "portal": current,
        "brand_colour": colour if _HEX_COLOUR.fullmatch(colour) else DEFAULT_BRAND_COLOUR,
    }


def referrer_policy(request):
    """The page's referrer policy for base.html's meta tag: ``no-referrer`` on the callback and on
    pages answered before routing (their URL is unchecked), see above for the verification page."""
    match = getattr(request, "resolver_match", None)
    if match is None or match.view_name in NO_REFERRER_URL_NAMES:
        return {"referrer_policy": "no-referrer"}
    if match.view_name in SAME_ORIGIN_URL_NAMES:
        return {"referrer_policy": "same-origin"}
    return {"referrer_policy": settings.SECURE_REFERRER_POLICY}
