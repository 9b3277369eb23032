"""The shared concurrency bound of ``portal.outbound`` in one Redis round trip per step.

Taking a slot with Django's cache API costs three round trips (``add``, then ``incr``, which is
``EXISTS`` + ``INCRBY``) and giving it back two more; every token call of every login paid them.
On Redis the same counter is kept by two small Lua scripts instead, each one round trip and
atomic on the server:

- ``take``: count one more call in flight (the counter expires ``ttl`` seconds after it was
  started, as before, so a worker killed mid-call leaks a slot for no longer than that); over
  the bound it gives the count back at once and answers "full";
- ``give_back``: count one call less, and restart a counter that went below 0 from 0 (it expired
  under calls still in flight and was started again).

The counter is the very key and integer encoding the cache API uses (Django's Redis serializer
keeps integers as plain Redis integers), so processes on either path share one bound. Without a
Redis cache, during a cache pause, or when the script call raises, these answer ``None`` and the
caller takes the cache-API path (``portal.outbound._take``), which degrades as it always did.
"""

from __future__ import annotations

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

from . import safe_cache

_TAKE_LUA = """
local n = redis.call('INCR', KEYS[1])
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
if n > tonumber(ARGV[1]) then
  redis.call('DECR', KEYS[1])
  return 0
end
return 1
"""

_GIVE_BACK_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local n = redis.call('DECR', KEYS[1])
if n < 0 then redis.call('SET', KEYS[1], 0, 'EX', ARGV[1]) end
return 1
"""

_scripts: dict[str, object] = {}


def _script(client, source: str):
    """The registered script (EVALSHA, with EVAL when the server does not know it yet); it is
    always called with an explicit ``client``, so one object per source serves every client."""
    script = _scripts.get(source)
    if script is None:
        script = _scripts[source] = client.register_script(source)
    return script


def _redis(counter: str):
    """(client, full key) when the Lua path may be used now, else None."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache) or safe_cache.paused():
        return None
    key = backend.make_and_validate_key(counter)
    return backend._cache.get_client(key, write=True), key


def take(counter: str, *, limit: int, ttl: int) -> bool | None:
    """True: a slot is held (give it back with ``give_back``); False: all ``limit`` are taken;
    None: the Lua path is not available, use the cache API."""
    target = _redis(counter)
    if target is None:
        return None
    client, key = target
    try:
        return bool(_script(client, _TAKE_LUA)(keys=[key], args=[limit, ttl], client=client))
    except safe_cache.CACHE_ERRORS as exc:
        safe_cache.note_cache_failure(exc, operation="outbound_slot_take")
        return None


def give_back(counter: str, *, ttl: int) -> bool:
    """Give one slot back; False when the Lua path is not available (the caller falls back)."""
    target = _redis(counter)
    if target is None:
        return False
    client, key = target
    try:
        _script(client, _GIVE_BACK_LUA)(keys=[key], args=[ttl], client=client)
    except safe_cache.CACHE_ERRORS as exc:
        safe_cache.note_cache_failure(exc, operation="outbound_slot_give_back")
        return False
    return True
