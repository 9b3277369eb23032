"""What counts as "a service is down" (PostgreSQL, Redis) rather than a bug.

The 500 handler answers such errors with a 503 "try again in a minute" page; views that catch
every exception to show their own error page (the SSO callback) let these through to it.
"""

from __future__ import annotations

import redis
from django.db import InterfaceError, OperationalError

#: Errors meaning "a service is down", not "a bug": answered 503 "try again" rather than 500.
UNAVAILABLE_ERRORS = (
    OperationalError,
    InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)


def caused_by_an_outage(exc: BaseException | None) -> bool:
    """True when ``exc`` or what it was raised from is a dependency being down (e.g. Django's
    session ``UpdateError`` raised while PostgreSQL restarts)."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, UNAVAILABLE_ERRORS):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False
