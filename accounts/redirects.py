"""Where to send a browser after sign-in: a same-host ``next`` or the dashboard, never elsewhere."""

from django.http import HttpRequest
from django.shortcuts import resolve_url
from django.utils.http import url_has_allowed_host_and_scheme

MAX_NEXT_LENGTH = 2000


def safe_next_url(*, request: HttpRequest, url: str | None) -> str:
    """``url`` when it stays on this request's host (https required when the request is secure),
    else "". Open redirects after a login are a phishing tool, so anything doubtful is dropped."""
    if not url or len(url) > MAX_NEXT_LENGTH:
        return ""
    if url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return ""


def redirect_target(*, request: HttpRequest, url: str | None) -> str:
    return safe_next_url(request=request, url=url) or resolve_url("portal:dashboard")
