"""Where to send a browser after sign-in: a same-host ``next`` or the dashboard, never elsewhere."""

from django.http import HttpRequest
from django.shortcuts import resolve_url
from django.utils.http import url_has_allowed_host_and_scheme

MAX_NEXT_LENGTH = 2000


def safe_next_url(*, request: HttpRequest, url: str | None) -> str:
    """``url`` when it is a path on this portal, else "".

    Open redirects after a login are a phishing tool, so anything doubtful is dropped: only
    relative paths are kept (``/invoices/42/``); absolute URLs, scheme-relative ``//evil``,
    backslash tricks and control characters are refused. The SSO login URL and the email-code
    login share this one rule.
    """
    if not url or len(url) > MAX_NEXT_LENGTH:
        return ""
    if not url.startswith("/") or url.startswith("//") or any(ord(ch) < 32 or ch == "\\" for ch in url):
        return ""
    if url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return ""


def redirect_target(*, request: HttpRequest, url: str | None) -> str:
    return safe_next_url(request=request, url=url) or resolve_url("portal:dashboard")
