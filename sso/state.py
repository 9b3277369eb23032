"""Pending sign-ins, keyed by ``state`` and bound to the browser that started them.

mozilla-django-oidc keeps ``session["oidc_states"][state] = {code_verifier, nonce, added_on}``
and allows several at once (parallel tabs). We add what it lacks: which config the state belongs
to (mix-up defence: the callback takes the config from the state, and the URL's key must match),
the validated ``next``, the portal, and whether it is an admin's dry run. Entries are single use
(popped before anything else happens) and expire after ``SSO_STATE_MAX_AGE``.

Where they live. With Redis as the cache (production) each pending login is one cache entry whose
key is derived from the portal, a random cookie of the browser that started it (``ssobrowser``) and
the state, and the callback takes it with one atomic ``GETDEL``: two racing callbacks cannot both
get it, another browser (no cookie, or another one) finds nothing, and neither the login start nor
the callback writes the session just to keep or consume a state. Without Redis (the demo's
local-memory cache is per process, so another worker would not see the entry) and while Redis is
down, the entry stays in the session as the library keeps it; the callback looks there too, so a
login started during an outage still finishes after it, and the other way round.
"""

import copy
import hashlib
import json
import logging
import re
import secrets
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.http import HttpResponseRedirect
from django.urls import reverse

from portal import safe_cache
from portal.outages import ServiceUnavailable
from portal.safe_cache import CACHE_ERRORS, note_cache_failure

from .session import sso_session_persist

logger = logging.getLogger(__name__)

SESSION_KEY = "oidc_states"
_BROWSER_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)
#: Seconds a cache entry outlives SSO_STATE_MAX_AGE, so a late callback is told "expired", not "unknown".
EXPIRY_GRACE = 60


@dataclass(frozen=True)
class PendingLogin:
    state: str
    config_key: str
    portal_id: int
    nonce: str
    code_verifier: str
    next_url: str
    added_on: float
    dry_run: bool = False
    #: Taken from the session (no Redis, or Redis was down at the start): parallel tabs' states
    #: live there too, so the callback reloads the session before it writes it.
    from_session: bool = False

    @property
    def expired(self) -> bool:
        return time.time() - self.added_on > settings.SSO_STATE_MAX_AGE


def _host_prefixed(name: str) -> str:
    """``__Host-<name>`` wherever the session cookie is ``__Host-`` (production, https)."""
    return ("__Host-" if settings.SESSION_COOKIE_NAME.startswith("__Host-") else "") + name


def browser_cookie_name() -> str:
    return _host_prefixed("ssobrowser")


def restarted_cookie_name() -> str:
    """Set (for a minute) on the redirect that starts a sign-in again because its state was on Redis
    while Redis was down (``sso.views``): a second miss in a row is the 503 page, not another round."""
    return _host_prefixed("ssorestarted")


def restart_sign_in(request, *, config) -> HttpResponseRedirect:
    """This browser's pending sign-in is on Redis, which is down: start it again instead of an error.

    The new state is kept in the session while Redis is down, and the person is still signed in at
    the provider, so they are back signed in within a couple of redirects. Once only: the redirect
    sets ``restarted_cookie_name()`` for a minute, and a second miss is the 503 page. The ``next``
    of the lost state is lost with it (the dashboard).
    """
    logger.warning(
        "SSO callback could not read its pending state (Redis down): sign-in started again",
        extra={"config_key": config.key},
    )
    response = HttpResponseRedirect(reverse("sso:login", kwargs={"key": config.key}))
    response.set_cookie(
        restarted_cookie_name(),
        "1",
        max_age=60,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
    return response


def _shared_cache() -> RedisCache | None:
    """The Redis cache when it may be used now; None without Redis or during a cache outage."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache) or safe_cache.paused():
        return None
    return backend


def _entry_key(backend: RedisCache, *, portal_id, browser: str, state: str) -> str:
    digest = hashlib.sha256(f"{portal_id}\0{browser}\0{state}".encode()).hexdigest()
    return backend.make_and_validate_key(f"sso:state:{digest}")


def _browser_token(request) -> str | None:
    token = request.COOKIES.get(browser_cookie_name(), "")
    return token if _BROWSER_TOKEN.match(token) else None


def session_snapshot(request) -> tuple[dict, bool]:
    """What the session holds before the library's login start writes its state into it."""
    return copy.deepcopy(dict(request.session)), request.session.modified


def annotate_state(
    request, response, *, state: str, config, next_url: str, dry_run: bool = False, before: tuple[dict, bool]
) -> None:
    """Complete the library's state entry (config, portal, destination) and keep it: in the shared
    cache, bound to this browser's cookie, when Redis is there; else in the session where the
    library put it. ``before`` (``session_snapshot``) lets a session the move leaves as it was
    stay unwritten, so a visitor who only starts a sign-in gets no session row."""
    entry = request.session[SESSION_KEY][state]
    entry.update(config_key=config.key, portal_id=config.portal_id, next=next_url, dry_run=dry_run)
    request.session.modified = True
    backend = _shared_cache()
    if backend is None:
        return
    browser = _browser_token(request) or secrets.token_urlsafe(32)
    key = _entry_key(backend, portal_id=config.portal_id, browser=browser, state=state)
    try:
        client = backend._cache.get_client(key, write=True)
        client.set(key, json.dumps(entry), ex=settings.SSO_STATE_MAX_AGE + EXPIRY_GRACE)
    except CACHE_ERRORS as exc:
        note_cache_failure(exc, operation="sso_state_store")
        return  # kept in the session instead
    del request.session[SESSION_KEY][state]
    content, was_modified = before
    if not request.session[SESSION_KEY] and SESSION_KEY not in content:
        del request.session[SESSION_KEY]
    response.set_cookie(
        browser_cookie_name(),
        browser,
        max_age=settings.SSO_STATE_MAX_AGE,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
    request.session.pop("oidc_login_next", None)  # ours is per state, so parallel tabs don't clash
    if dict(request.session) == content:
        request.session.modified = was_modified


class _CacheDown(Exception):
    """This browser's pending logins are on Redis, and Redis is down (or paused after failures)."""


def _pop_cached(request, state: str) -> dict | None:
    browser = _browser_token(request)
    if browser is None:
        return None  # this browser never kept a state on the cache
    if not isinstance(caches["default"], RedisCache):
        return None
    backend = _shared_cache()
    if backend is None:
        raise _CacheDown("the cache is paused after failures")
    key = _entry_key(backend, portal_id=request.portal.id, browser=browser, state=state)
    try:
        raw = backend._cache.get_client(key, write=True).getdel(key)
    except CACHE_ERRORS as exc:
        note_cache_failure(exc, operation="sso_state_pop")
        raise _CacheDown("the state could not be read") from exc
    if raw is None:
        return None
    try:
        entry = json.loads(raw)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None


def _pop_from_session(request, state: str) -> tuple[bool, object]:
    states = request.session.get(SESSION_KEY)
    if not isinstance(states, dict) or state not in states:
        return False, None
    entry = states.pop(state)
    request.session.modified = True
    sso_session_persist(request)  # single use, even if everything after this fails
    return True, entry


def pop_state(request, state: str) -> PendingLogin | None:
    """Remove and return a pending login; None when this browser has no such state.

    Raises ``ServiceUnavailable`` when the state is in neither place and this browser keeps its states
    on Redis, which is down: the sign-in was most likely started just before the outage, and "this
    sign-in has expired" would be untrue. The callback starts it again (``sso.views``); nothing was
    consumed, so the same callback would also finish once Redis is back.
    """
    if not isinstance(state, str) or not state or len(state) > 200:
        return None
    try:
        entry, down = _pop_cached(request, state), None
    except _CacheDown as exc:
        entry, down = None, exc
    from_session = False
    if entry is None:
        from_session, entry = _pop_from_session(request, state)
    if down is not None and not isinstance(entry, dict):
        raise ServiceUnavailable("Pending sign-ins are kept on Redis, which is unavailable.") from down
    if not isinstance(entry, dict) or "config_key" not in entry:
        return None
    return PendingLogin(
        state=state,
        config_key=entry["config_key"],
        portal_id=entry.get("portal_id"),
        nonce=entry.get("nonce") or "",
        code_verifier=entry.get("code_verifier") or "",
        next_url=entry.get("next") or "",
        added_on=float(entry.get("added_on") or 0),
        dry_run=bool(entry.get("dry_run")),
        from_session=from_session,
    )
