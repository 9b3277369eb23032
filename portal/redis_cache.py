"""Django's Redis cache, with one ``redis.Redis`` client per connection pool instead of one per call.

Django's ``RedisCacheClient.get_client`` builds a new ``redis.Redis`` object for every cache call
(its constructor fills a table of ~170 response callbacks each time): four times per login
callback, a measurable part of its CPU. The client is only a thin handle on the connection pool and
safe to share between threads, and Django already keeps one cache object per thread, so keeping
the handle changes nothing else: same pools, same sockets, same timeouts, same errors.
``CACHES`` in ``portal.settings`` uses this class wherever it would use Django's Redis cache.
"""

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class ReusingRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusingRedisCacheClient
