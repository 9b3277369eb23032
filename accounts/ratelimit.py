"""Fixed-window rate limits kept in Django's cache (Redis in production, shared by all workers).

Keys hold a hash of the email or IP, never the value itself, so the cache holds no personal data.
The windows are deliberately simple: they bound abuse (mail bombing, code guessing), and a person
who hits one gets a friendly "wait a few minutes" message.
"""

import hashlib
from dataclasses import dataclass

from django.core.cache import cache


@dataclass(frozen=True)
class Limit:
    scope: str
    limit: int
    window_seconds: int


# Sign-in code requests (POST /login/).
CODE_REQUESTS_PER_EMAIL = Limit("code-email", 5, 15 * 60)
CODE_REQUESTS_PER_IP = Limit("code-ip", 20, 15 * 60)
# Code guesses from one address across all emails (each code also dies after 5 wrong tries).
CODE_ATTEMPTS_PER_IP = Limit("code-try-ip", 50, 15 * 60)
# Verification mail resends from one address (per identity limits are counted in the database).
VERIFICATION_RESENDS_PER_IP = Limit("verify-resend-ip", 10, 60 * 60)


def _key(limit: Limit, value: str) -> str:
    digest = hashlib.sha256(value.strip().lower().encode()).hexdigest()[:40]
    return f"accounts:rl:{limit.scope}:{digest}"


def rate_limit_hit(*, limit: Limit, value: str | None) -> bool:
    """Counts one event for ``value``; True when this event is over the limit.

    A missing value (no client IP) is never limited here: the other limits still apply.
    """
    if not value:
        return False
    key = _key(limit, value)
    if cache.add(key, 1, timeout=limit.window_seconds):
        return limit.limit < 1
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add() and incr()
        cache.set(key, 1, timeout=limit.window_seconds)
        count = 1
    return count > limit.limit


def rate_limit_reset(*, limit: Limit, value: str) -> None:
    cache.delete(_key(limit, value))
