"""The one guarded door for every outbound HTTP call (identity providers, HaloPSA's API, Stripe).

Staff choose the URLs these calls go to, and whatever answers is untrusted, so every call here:

- goes only where the address policy allows (``portal.outbound_policy``: https, public addresses
  or ``SSO_PROVIDER_ALLOWED_NETWORKS``), connecting to the address it checked;
- never follows a redirect and never uses proxy settings from the environment;
- has ONE total deadline (connect and every read, ``OUTBOUND_DEADLINE_SECONDS``), further cut by
  the current request's ``budget`` so a login callback that makes four calls still answers in time;
- reads at most ``max_bytes`` of the answer and stops reading there;
- with a ``breaker_key`` (e.g. portal + issuer), shares a circuit breaker in the cache: after a
  failure, calls with that key fail at once for ``OUTBOUND_BREAKER_SECONDS`` instead of each
  waiting for a broken provider again; and a bound on concurrent calls (``OUTBOUND_MAX_CONCURRENT``)
  so one slow provider cannot hold every worker thread. ``limit_key`` gives the bound alone.

Each call is timed into the current ``CallLog`` (Try sign-in shows it) and logged by URL only:
never bodies, headers, codes or tokens.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import html
import logging
import re
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

import requests
from django.conf import settings

from . import outbound_slots, safe_cache
from .outbound_policy import OutboundError, Target, check_scheme, check_url, insecure_http_allowed
from .outbound_transport import GuardedAdapter, GuardedSession, budget_deadline, process_slot

__all__ = [
    "Call",
    "CallLog",
    "OutboundError",
    "Target",
    "append_query",
    "breaker_close",
    "breaker_open",
    "budget",
    "check_scheme",
    "check_url",
    "get_json",
    "guarded_session",
    "insecure_http_allowed",
    "request",
    "safe_text",
    "start_call_log",
    "visible_text",
]

logger = logging.getLogger(__name__)


@dataclass
class Call:
    method: str
    url: str
    status: int | None
    duration_ms: int
    bytes_read: int = 0
    reason: str = ""


@dataclass
class CallLog:
    calls: list[Call] = field(default_factory=list)


_current_log: contextvars.ContextVar[CallLog | None] = contextvars.ContextVar(
    "outbound_call_log", default=None
)


def start_call_log() -> CallLog:
    log = CallLog()
    _current_log.set(log)
    return log


def append_query(url: str, params: dict) -> str:
    """``url`` with ``params`` added to whatever query string the endpoint already has."""
    if not params:
        return url
    return f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"


def safe_text(value, limit: int = 200) -> str:
    """Text from an answer made fit to show staff: a string, printable characters only, one
    line, at most ``limit`` characters. Use it on the few fields a diagnosis checks (issuer,
    endpoints, key ids, OAuth error codes), never on whole bodies or headers."""
    text = value if isinstance(value, str) else str(value)
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


_INVISIBLE = re.compile(r"<(script|style|head|template|noscript)\b.*?</\1\s*>", re.I | re.S)
_TAG = re.compile(r"<[^>]*>", re.S)


def visible_text(body: bytes | str, limit: int = 160) -> str:
    """The words a person would see on an HTML or text error page: scripts, styles and tags
    removed, entities decoded, whitespace collapsed, capped. Markup never reaches staff."""
    if isinstance(body, bytes):
        body = body[:65536].decode("utf-8", "replace")
    text = _TAG.sub(" ", _INVISIBLE.sub(" ", body[:65536]))
    return safe_text(html.unescape(text), limit)


@contextlib.contextmanager
def budget(seconds: float | None = None):
    """Every outbound call inside shares one deadline of ``seconds`` (default
    ``OUTBOUND_DEADLINE_SECONDS``): a login start or callback answers in time however many
    provider calls it makes. A budget already running is only ever shortened, never extended."""
    seconds = settings.OUTBOUND_DEADLINE_SECONDS if seconds is None else seconds
    deadline = time.monotonic() + seconds
    outer = budget_deadline.get()
    token = budget_deadline.set(deadline if outer is None else min(outer, deadline))
    try:
        yield
    finally:
        budget_deadline.reset(token)


# --- circuit breaker and concurrency bound (shared cache, so all workers agree) -------------------


def _key(kind: str, key: str) -> str:
    return f"outbound:{kind}:{hashlib.sha256(key.encode()).hexdigest()[:32]}"


def _breaker_check(key: str) -> None:
    entry = safe_cache.get(_key("breaker", key))  # cache down: the breaker counts as closed
    if entry:
        left = max(int(entry["until"] - time.time()), 1)
        raise OutboundError(
            "circuit_open",
            f"Not calling again for {left} s: the last call failed moments ago ({entry['message']}).",
            status=entry.get("status"),
        )


def breaker_open(key: str, exc: OutboundError) -> None:
    """Make calls with ``key`` fail at once for OUTBOUND_BREAKER_SECONDS (after ``exc``)."""
    seconds = settings.OUTBOUND_BREAKER_SECONDS
    if seconds <= 0:
        return
    entry = {"message": exc.message[:300], "status": exc.status, "until": time.time() + seconds}
    safe_cache.set(_key("breaker", key), entry, timeout=seconds)
    logger.warning("outbound circuit opened", extra={"reason": exc.reason, "seconds": seconds})


def breaker_close(key: str) -> None:
    """Forget a failure (e.g. after a passing connection test), so the next call goes out."""
    safe_cache.delete(_key("breaker", key))


SLOT_POLL_SECONDS = 0.05


def _take(counter: str) -> int | None:
    """Count one more call in flight; None while the cache is down (not bounded then)."""
    timeout = int(settings.OUTBOUND_DEADLINE_SECONDS) + 5
    safe_cache.add(counter, 0, timeout=timeout)
    try:
        return safe_cache.incr(counter)
    except ValueError:  # expired between add and incr
        safe_cache.add(counter, 1, timeout=timeout)
        return 1


def _give_back(counter: str) -> None:
    with contextlib.suppress(ValueError):  # the counter expired: nothing to give back
        left = safe_cache.decr(counter)
        if left is not None and left < 0:
            # It expired under calls still in flight and was started again; below 0 it would
            # let more than the bound through, so it restarts from 0 instead.
            safe_cache.set(counter, 0, timeout=int(settings.OUTBOUND_DEADLINE_SECONDS) + 5)


@contextlib.contextmanager
def _slot(key: str | None, *, give_up: float):
    """At most OUTBOUND_MAX_CONCURRENT calls with this key at once, across every worker.

    A counter in the shared cache rather than a per-process semaphore: the attack is many
    requests spread over every worker. The counter expires a little after the longest call, so
    a worker killed mid-call cannot leak a slot for longer than that.

    A call that finds every slot taken waits for one until ``give_up`` (monotonic) before it is refused
    as ``busy``: a burst of first logins at a healthy provider (calls of a fraction of a second)
    queues for a moment instead of being turned away, while a hanging provider, whose calls hold
    their slots for the whole deadline, still gets no more than the bound. The waiting thread
    holds a process slot (``outbound_transport.process_slot``), so waiting can never take more
    threads than the per-process bound allows.
    """
    if key is None:
        yield
        return
    limit = settings.OUTBOUND_MAX_CONCURRENT
    counter = _key("inflight", key)
    ttl = int(settings.OUTBOUND_DEADLINE_SECONDS) + 5
    while True:
        held = outbound_slots.take(counter, limit=limit, ttl=ttl)  # one round trip on Redis
        if held is None:  # no Redis, or it failed: the cache API, which degrades as documented
            count = _take(counter)
            held = count is None or count <= limit
            if count is not None and not held:
                _give_back(counter)
            via_api = True
        else:
            count, via_api = 0, False
        if held:
            break
        if time.monotonic() + SLOT_POLL_SECONDS > give_up:
            raise OutboundError(
                "busy",
                f"{limit} calls to this provider are already waiting for an answer; not adding another.",
            )
        time.sleep(SLOT_POLL_SECONDS)
    try:
        yield
    finally:
        if not via_api:
            if not outbound_slots.give_back(counter, ttl=ttl):
                _give_back(counter)
        elif count is not None:
            _give_back(counter)


def _seconds_left(deadline: float | None) -> float:
    """What this call may still spend: its deadline, cut by the current request's budget."""
    seconds = settings.OUTBOUND_DEADLINE_SECONDS if deadline is None else deadline
    outer = budget_deadline.get()
    if outer is not None:
        seconds = min(seconds, outer - time.monotonic())
    return seconds


# --- the calls ------------------------------------------------------------------------------------


def _adapter(*, deadline: float | None, max_bytes: int | None, what: str) -> GuardedAdapter:
    return GuardedAdapter(
        deadline=settings.OUTBOUND_DEADLINE_SECONDS if deadline is None else deadline,
        max_bytes=settings.OUTBOUND_MAX_BYTES if max_bytes is None else max_bytes,
        connect_timeout=settings.SSO_HTTP_CONNECT_TIMEOUT,
        read_timeout=settings.SSO_HTTP_READ_TIMEOUT,
        what=what,
    )


def guarded_session(
    *, deadline: float | None = None, max_bytes: int | None = None, what: str = "The URL"
) -> requests.Session:
    """A requests session with the same policy, deadline (per request) and byte cap, for
    third-party SDKs (e.g. Stripe's ``RequestsClient(session=guarded_session())``). Network
    failures surface as requests' own exceptions, policy refusals as OutboundError."""
    return GuardedSession(_adapter(deadline=deadline, max_bytes=max_bytes, what=what))


_BREAKING = {"timeout", "unreachable", "response_too_large", "policy", "http_error"}


def request(
    method: str,
    url: str,
    *,
    deadline: float | None = None,
    max_bytes: int | None = None,
    breaker_key: str | None = None,
    limit_key: str | None = None,
    what: str = "The URL",
    **kwargs,
) -> requests.Response:
    """Send one request and return the response with its body read (capped).

    Raises OutboundError for refusals and network failures only; an HTTP error status is an
    answer and is returned. ``what`` names the URL in refusals ("jwks_uri points at ...").
    """
    kwargs.pop("allow_redirects", None)
    kwargs.pop("timeout", None)
    kwargs.pop("stream", None)
    log = _current_log.get()
    started = time.monotonic()
    status, reason, adapter = None, "", None
    try:
        check_scheme(url, what=what)
        if breaker_key is not None:
            _breaker_check(breaker_key)
        # One wait for both slots (this process's, then the provider's): at most
        # OUTBOUND_SLOT_WAIT_SECONDS and half of what is left, the other half is for the call.
        give_up = time.monotonic() + min(settings.OUTBOUND_SLOT_WAIT_SECONDS, _seconds_left(deadline) / 2)
        with process_slot(give_up - time.monotonic()), _slot(breaker_key or limit_key, give_up=give_up):
            if breaker_key is not None:
                _breaker_check(breaker_key)  # again: it may have opened while this call waited
            adapter = _adapter(deadline=deadline, max_bytes=max_bytes, what=what)
            try:
                try:
                    with GuardedSession(adapter) as session:
                        response = session.request(method, url, allow_redirects=False, **kwargs)
                except requests.RequestException as exc:
                    raise _network_error(exc, url) from exc
            except OutboundError as exc:
                # Open the breaker while still holding the slot, so no caller waiting for the
                # slot slips through to the broken provider in between.
                if breaker_key is not None and exc.reason in _BREAKING:
                    breaker_open(breaker_key, exc)
                raise
        status = response.status_code
        return response
    except OutboundError as exc:
        reason = exc.reason
        raise
    finally:
        duration_ms = int((time.monotonic() - started) * 1000)
        bytes_read = adapter.last_bytes_read if adapter is not None else 0
        if log is not None:
            log.calls.append(Call(method, url, status, duration_ms, bytes_read=bytes_read, reason=reason))
        logger.info(
            "outbound call",
            extra={
                "method": method,
                "url": url.split("?", 1)[0],
                "status": status,
                "duration_ms": duration_ms,
                "bytes_read": bytes_read,
                "reason": reason,
            },
        )


def _network_error(exc: requests.RequestException, url: str) -> OutboundError:
    if isinstance(exc, requests.Timeout):
        return OutboundError("timeout", f"{url} did not answer within the timeout.")
    if isinstance(exc, requests.ConnectionError):
        return OutboundError("unreachable", f"Could not connect to {url}.")
    return OutboundError("http_error", f"The request to {url} failed: {exc.__class__.__name__}.")


def get_json(url: str, *, breaker_key: str | None = None, **kwargs) -> dict:
    """GET a JSON object; raise OutboundError with a precise reason when it is not one.
    With a ``breaker_key``, a wrong status or a non-JSON answer also opens the breaker."""
    headers = {"Accept": "application/json", **kwargs.pop("headers", {})}
    response = request("GET", url, headers=headers, breaker_key=breaker_key, **kwargs)
    try:
        if response.status_code != 200:
            raise OutboundError(
                "bad_status", f"{url} answered HTTP {response.status_code}.", status=response.status_code
            )
        try:
            data = response.json()
        except ValueError as exc:
            raise OutboundError("not_json", f"{url} did not answer with JSON.", status=200) from exc
        if not isinstance(data, dict):
            raise OutboundError("not_json", f"{url} did not answer with a JSON object.", status=200)
    except OutboundError as exc:
        if breaker_key is not None:
            breaker_open(breaker_key, exc)
        raise
    return data
