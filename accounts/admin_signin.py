"""Admin password sign-in: back-off per (portal, email, client network), superusers on ADMIN_HOSTS.

Passwords can be guessed as fast as the server answers, so every (portal, email, network) gets
``ADMIN_SIGNIN_FREE_FAILURES`` free failures; after that each failure locks that pair for twice as
long as the last (``ADMIN_SIGNIN_BACKOFF_SECONDS`` doubling up to the maximum), and a locked pair
is refused without the password even being checked. Counting an attempt *before* checking the
password (and forgetting it on success) means parallel guesses cannot slip past the count.

State lives in the shared cache (Redis in production) so every worker sees it. The owner lifts a
lockout with ``manage.py admin_unlock EMAIL``: each email has an epoch that is part of every key,
and bumping it forgets every counter and lock of that email on every portal and network at once
(the keys hold hashes, so they could not be listed).

While the cache is down nothing can be counted, so every admin password attempt is refused
("try again in a minute"): unlimited password guessing is the unsafe direction.
"""

import contextlib
import hashlib
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django.http.request import split_domain_port, validate_host

from portal.safe_cache import CACHE_ERRORS, note_cache_failure

from .audit import AuditKind, audit_record, client_ip
from .ratelimit import UNAVAILABLE_RETRY_SECONDS, client_network

#: Failure counters are forgotten a day after the last one.
FAILURE_MEMORY_SECONDS = 24 * 3600


@dataclass(frozen=True)
class _Keys:
    failures: str
    locked_until: str


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:40]


def _epoch_key(email: str) -> str:
    return f"accounts:admin-signin:epoch:{_digest(email)}"


def _keys(*, portal, email: str, ip: str | None) -> _Keys:
    epoch = cache.get(_epoch_key(email), 0)
    portal_part = str(portal.pk) if portal is not None else "-"
    base = f"accounts:admin-signin:p{portal_part}:{_digest(email)}:{epoch}:{_digest(client_network(ip))}"
    return _Keys(failures=f"{base}:failures", locked_until=f"{base}:locked-until")


def _backoff_seconds(failures: int) -> int:
    extra = max(0, failures - settings.ADMIN_SIGNIN_FREE_FAILURES)
    seconds = settings.ADMIN_SIGNIN_BACKOFF_SECONDS * (2 ** min(extra, 20))
    return min(seconds, settings.ADMIN_SIGNIN_BACKOFF_MAX_SECONDS)


def _seconds_locked(keys: _Keys) -> int:
    until = cache.get(keys.locked_until)
    if not until:
        return 0
    return max(0, math.ceil(until - time.time()))


def _try_lock(*, keys: _Keys, failures: int) -> bool:
    """Take the lock for this attempt's back-off; False when another attempt holds one already.

    ``cache.add`` is atomic (SET NX on Redis), so of parallel attempts past the free failures
    exactly one goes on to have its password checked."""
    seconds = _backoff_seconds(failures)
    return cache.add(keys.locked_until, time.time() + seconds, timeout=seconds)


def admin_host_allowed(*, request: HttpRequest) -> bool:
    """Whether superusers may sign in on this request's host (``ADMIN_HOSTS``; empty: anywhere)."""
    allowed = settings.ADMIN_HOSTS
    if not allowed:
        return True
    domain, _port = split_domain_port(request.get_host())
    return validate_host(domain.lower(), allowed)


@dataclass
class AdminSigninGate:
    """One password attempt in progress: ``refused_for`` is set when it may not go ahead."""

    request: HttpRequest
    email: str
    keys: _Keys
    failures: int = 0
    refused_for: int = 0

    def succeeded(self, *, user) -> None:
        with contextlib.suppress(*CACHE_ERRORS):
            cache.delete_many([self.keys.failures, self.keys.locked_until])
        audit_record(
            kind=AuditKind.SIGNED_IN,
            portal=getattr(self.request, "portal", None),
            user=user,
            email=self.email,
            ip=client_ip(self.request),
            detail={"method": "password"},
        )

    def failed(self, *, reason: str, user=None) -> None:
        try:
            locked_for = _seconds_locked(self.keys)
        except CACHE_ERRORS:
            locked_for = 0
        audit_record(
            kind=AuditKind.ADMIN_SIGNIN_FAILED,
            portal=getattr(self.request, "portal", None),
            user=user,
            email=self.email,
            ip=client_ip(self.request),
            detail={"reason": reason, "failures": self.failures, "locked_seconds": locked_for},
        )
        if locked_for:
            self.request.admin_signin_wait = locked_for


def admin_signin_begin(*, request: HttpRequest, email: str) -> AdminSigninGate:
    """Count one attempt for (portal, email, network); refuse it while that pair is locked.

    An attempt beyond the free failures takes the lock *before* its password is checked (a
    success lifts it again), so the next attempt waits out the back-off whatever this one's
    outcome, and parallel attempts are refused. An attempt refused by an existing lock is not
    counted: waiting out the lock is enough.
    """
    portal = getattr(request, "portal", None)
    try:
        gate = _count_attempt(request=request, portal=portal, email=email)
    except CACHE_ERRORS as exc:  # nothing can be counted: refuse (see the module docstring)
        note_cache_failure(exc, operation="admin_signin")
        gate = AdminSigninGate(request=request, email=email, keys=_Keys("", ""))
        gate.refused_for = UNAVAILABLE_RETRY_SECONDS
    if gate.refused_for:
        request.admin_signin_wait = gate.refused_for
        audit_record(
            kind=AuditKind.ADMIN_SIGNIN_THROTTLED,
            portal=portal,
            email=email,
            ip=client_ip(request),
            detail={"retry_after_seconds": gate.refused_for},
        )
    return gate


def _count_attempt(*, request: HttpRequest, portal, email: str) -> AdminSigninGate:
    keys = _keys(portal=portal, email=email, ip=client_ip(request))
    gate = AdminSigninGate(request=request, email=email, keys=keys)
    locked_for = _seconds_locked(keys)
    if locked_for:
        gate.refused_for = locked_for
    else:
        cache.add(keys.failures, 0, timeout=FAILURE_MEMORY_SECONDS)
        try:
            gate.failures = cache.incr(keys.failures)
        except ValueError:  # expired between add() and incr()
            cache.set(keys.failures, 1, timeout=FAILURE_MEMORY_SECONDS)
            gate.failures = 1
        if gate.failures >= settings.ADMIN_SIGNIN_FREE_FAILURES and not _try_lock(
            keys=keys, failures=gate.failures
        ):
            gate.refused_for = max(1, _seconds_locked(keys))
    return gate


def admin_unlock(*, email: str) -> None:
    """Forget every failure and lock of ``email`` (all portals, all networks); audited."""
    address = (email or "").strip().lower()
    key = _epoch_key(address)
    if not cache.add(key, 1, timeout=None):
        try:
            cache.incr(key)
        except ValueError:
            cache.set(key, 1, timeout=None)
    audit_record(kind=AuditKind.ADMIN_UNLOCKED, email=address, detail={"via": "admin_unlock"})
