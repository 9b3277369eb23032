"""What counts as "a service is down" (PostgreSQL, Redis) rather than a bug.

The 500 handler answers such errors with a 503 "try again in a minute" page; views that catch
every exception to show their own error page (the SSO callback) let these through to it.
"""

from __future__ import annotations

import redis
from django.db import InterfaceError, OperationalError


class ServiceUnavailable(Exception):
    """Raised where our code finds out itself that what it needs is on a service that is down (not
    by the service's own error: e.g. the cache is paused after failures, so nothing was even tried)."""


#: Errors meaning "a service is down", not "a bug": answered 503 "try again" rather than 500.
UNAVAILABLE_ERRORS = (
    OperationalError,
    InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    ServiceUnavailable,
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


def database_reconnect_if_dropped(using: str = "default") -> None:
    """Replace a PostgreSQL connection that went away while this request waited on something else.

    ``CONN_HEALTH_CHECKS`` checks a persistent connection once, at the start of a request. An SSO
    callback then waits up to the login deadline on the provider; a PostgreSQL restart during that
    wait would fail the sign-in at its first write. Called after such a wait (outside a
    transaction), one ``SELECT 1`` finds out, and the next query connects afresh (retrying the
    connect while PostgreSQL starts, ``portal.dbbackend``).
    """
    from django.db import connections

    connection = connections[using]
    if connection.connection is None or connection.in_atomic_block:
        return
    if not connection.is_usable():
        connection.close()
