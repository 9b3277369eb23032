"""A cache that is down: Django's real Redis cache backend pointed at a loopback port nobody listens
on, so every cache call raises ``redis.exceptions.ConnectionError`` as in a Redis outage."""

import contextlib
import socket

from django.test import override_settings

from portal import safe_cache


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def redis_cache_down():
    dead = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": f"redis://127.0.0.1:{closed_port()}/8",
        "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.25},
    }
    safe_cache.reset()
    try:
        with override_settings(CACHES={"default": dead}):  # Django's setting_changed resets the caches
            yield
    finally:
        safe_cache.reset()
