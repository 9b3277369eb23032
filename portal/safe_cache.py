"""Cache calls that survive a cache that raises (Redis down or hung).

In production the cache is Redis, shared by every worker. When it is unreachable, Django's Redis
backend raises ``redis.exceptions.ConnectionError`` (or ``TimeoutError`` after
``CACHE_SOCKET_TIMEOUT``) out of every call. A cache outage must not be a portal outage, so every
cache use on a request path goes through here and decides what a failure means for it:

- ``get`` answers the default (a miss), ``set``/``add``/``delete`` report ``False``: for caches of
  something kept elsewhere (discovery documents have a copy in PostgreSQL), circuit breakers (an
  unknown breaker is closed) and concurrency bounds (unbounded while the cache is down);
- ``CacheUnavailable`` is raised by ``strict`` callers that must fail in a safe direction
  instead (rate limits: refuse rather than allow unlimited).

After a failure the process does not touch the cache for ``PAUSE_SECONDS``: a hung Redis costs
one request ``CACHE_SOCKET_TIMEOUT``, not every cache call of every request. Failures are logged
at most once per ``LOG_EVERY_SECONDS`` per process, so an outage does not flood the logs.
"""

import logging
import time

import redis
from django.core.cache import cache

logger = logging.getLogger("portal.cache")

#: What a cache that is down raises (redis-py errors; OSError for other backends' sockets).
CACHE_ERRORS = (redis.exceptions.RedisError, OSError)
LOG_EVERY_SECONDS = 30.0
PAUSE_SECONDS = 5.0
_last_logged = [0.0]
_paused_until = [0.0]


class CacheUnavailable(Exception):
    """The cache could not be used; the caller fails in its safe direction."""


def reset() -> None:
    """Forget a past failure (tests; a process that knows the cache is back)."""
    _paused_until[0] = 0.0


def paused() -> bool:
    """True for PAUSE_SECONDS after a failure: callers with their own cache calls skip the cache too."""
    return time.monotonic() < _paused_until[0]


def note_cache_failure(exc: BaseException, *, operation: str) -> None:
    now = time.monotonic()
    _paused_until[0] = now + PAUSE_SECONDS
    if now - _last_logged[0] >= LOG_EVERY_SECONDS:
        _last_logged[0] = now
        logger.warning(
            "cache unavailable; degrading", extra={"operation": operation, "error": type(exc).__name__}
        )


def _call(operation: str, *args, default, strict: bool, **kwargs):
    try:
        if time.monotonic() < _paused_until[0]:
            raise CacheUnavailable(operation)
        try:
            return getattr(cache, operation)(*args, **kwargs)
        except CACHE_ERRORS as exc:
            note_cache_failure(exc, operation=operation)
            raise CacheUnavailable(operation) from exc
    except CacheUnavailable:
        if strict:
            raise
        return default


def get(key: str, default=None, *, strict: bool = False):
    return _call("get", key, default, default=default, strict=strict)


_FAILED = object()


def set(key: str, value, timeout=None, *, strict: bool = False) -> bool:
    """True when stored."""
    return _call("set", key, value, timeout=timeout, default=_FAILED, strict=strict) is not _FAILED


def add(key: str, value, timeout=None, *, default: bool = False, strict: bool = False) -> bool:
    return _call("add", key, value, timeout=timeout, default=default, strict=strict)


def incr(key: str, delta: int = 1, *, strict: bool = False):
    """``cache.incr``; ``ValueError`` (no such key) still reaches the caller."""
    return _call("incr", key, delta, default=None, strict=strict)


def decr(key: str, delta: int = 1, *, strict: bool = False):
    return _call("decr", key, delta, default=None, strict=strict)


def delete(key: str, *, strict: bool = False) -> bool:
    return bool(_call("delete", key, default=False, strict=strict))


def delete_many(keys, *, strict: bool = False) -> None:
    _call("delete_many", keys, default=None, strict=strict)


def get_many(keys, *, strict: bool = False) -> dict:
    """The keys found (a dict); ``{}`` when the cache is down, as if none were."""
    return _call("get_many", keys, default={}, strict=strict)


def set_many(values: dict, timeout=None, *, strict: bool = False) -> bool:
    """True when every value was stored (Django's ``set_many`` answers the keys that failed)."""
    failed = _call("set_many", values, timeout, default=_FAILED, strict=strict)
    return failed is not _FAILED and not failed
