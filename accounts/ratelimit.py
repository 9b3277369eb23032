"""Fixed-window rate limits kept in Django's cache (Redis in production, shared by all workers).

Every key carries the portal: what happens on one MSP's portal never limits another's. Keys hold
a hash of the email or address, never the value itself, so the cache holds no personal data.
Addresses are grouped before counting: an IPv6 client usually owns a whole /64, so counting single
IPv6 addresses would give it 2^64 fresh budgets. Windows are aligned to the clock (minute 0, 15,
30...) so a refused person can be told exactly when the window ends.

When the cache is down, a limit cannot be counted: ``rate_limit_hit`` raises ``RateLimitUnavailable``
and each caller fails in the safe direction for what it guards. Everything limited here sends mail
or checks a guessable code, so the callers refuse ("try again in a minute") rather than run unlimited.
"""

import hashlib
import ipaddress
import math
import time
from dataclasses import dataclass

from django.conf import settings

from portal import safe_cache

#: What a person is told to wait when a limit cannot be counted (the cache is down).
UNAVAILABLE_RETRY_SECONDS = 60


class RateLimitUnavailable(Exception):
    """The cache holding the counters is down: the caller refuses, it must not allow unlimited."""


@dataclass(frozen=True)
class Limit:
    scope: str
    limit: int
    window_seconds: int
    #: The value is a client address: count per network (IPv6 /64), not per address.
    by_network: bool = False


# Sign-in code requests (POST /login/).
CODE_REQUESTS_PER_EMAIL = Limit("code-email", 5, 15 * 60)
CODE_REQUESTS_PER_IP = Limit("code-ip", 20, 15 * 60, by_network=True)
# Code guesses from one network across all emails (each code also dies after 5 wrong tries, and
# each email has a daily failure budget, see ``login_code``).
CODE_ATTEMPTS_PER_IP = Limit("code-try-ip", 50, 15 * 60, by_network=True)
# Verification mail resends from one network (per identity limits are counted in the database).
VERIFICATION_RESENDS_PER_IP = Limit("verify-resend-ip", 10, 60 * 60, by_network=True)


def code_mails_per_portal() -> Limit:
    """The global ceiling on code mails one portal sends a minute, whatever the emails and addresses:
    a botnet asking for codes for a portal's contacts cannot turn it into a mail cannon."""
    return Limit("code-portal", settings.LOGIN_CODE_MAILS_PER_PORTAL_PER_MINUTE, 60)


def client_network(ip: str | None) -> str:
    """The unit a per-address limit counts: the IPv4 address, or the IPv6 /64 it lies in.

    An IPv4-mapped IPv6 address counts as the IPv4 address it maps."""
    if not ip:
        return ""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False))
    return str(address)


def _portal_id(portal) -> str:
    if portal is None:
        return "-"
    return str(getattr(portal, "pk", portal))


def rate_limit_key(*, limit: Limit, portal, value: str, window: int) -> str:
    digest = hashlib.sha256(value.strip().lower().encode()).hexdigest()[:40]
    return f"accounts:rl:{limit.scope}:p{_portal_id(portal)}:{digest}:{window}"


def rate_limit_hit(*, limit: Limit, portal, value: str | None) -> int:
    """Counts one event for ``value`` on ``portal``; when it is over the limit, the seconds until
    the window ends (always at least 1), else 0.

    A missing value (no client IP) is never limited here: the other limits still apply. Raises
    ``RateLimitUnavailable`` when the cache is down.
    """
    if limit.by_network:
        value = client_network(value)
    if not value:
        return 0
    now = time.time()
    window = int(now // limit.window_seconds)
    key = rate_limit_key(limit=limit, portal=portal, value=value, window=window)
    # The key outlives its window a little so a slow clock on one worker cannot reopen it.
    timeout = limit.window_seconds + 60
    try:
        if safe_cache.add(key, 1, timeout=timeout, strict=True):
            count = 1
        else:
            try:
                count = safe_cache.incr(key, strict=True)
            except ValueError:  # expired between add() and incr()
                safe_cache.set(key, 1, timeout=timeout, strict=True)
                count = 1
    except safe_cache.CacheUnavailable as exc:
        raise RateLimitUnavailable(limit.scope) from exc
    if count <= limit.limit:
        return 0
    return max(1, math.ceil((window + 1) * limit.window_seconds - now))


def retry_phrase(seconds: int) -> str:
    """ "in 40 seconds" / "in 1 minute" / "in 12 minutes": what a refused person is told."""
    if seconds < 60:
        return f"in {seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    if minutes < 120:
        return f"in {minutes} minute{'s' if minutes != 1 else ''}"
    hours = math.ceil(minutes / 60)
    return f"in {hours} hours"
