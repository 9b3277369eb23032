"""``next`` handling: only ever a path on this same portal."""

from django.utils.http import url_has_allowed_host_and_scheme

MAX_NEXT_LENGTH = 2000


def safe_next(request, value: str | None) -> str:
    """A local path to land on after sign-in, or "" when ``value`` is missing or off-site.

    Only relative paths are kept (``/invoices/42``): absolute URLs, scheme-relative ``//evil``,
    backslash tricks and control characters are all refused, so a crafted SSO login URL can never
    bounce a freshly signed-in person to another site.
    """
    if not value or len(value) > MAX_NEXT_LENGTH:
        return ""
    if not value.startswith("/") or value.startswith(("//", "/\\")):
        return ""
    if any(ord(ch) < 32 or ch == "\\" for ch in value):
        return ""
    if not url_has_allowed_host_and_scheme(value, allowed_hosts={request.get_host()}, require_https=False):
        return ""
    return value
