"""The in-process set-up the callback profilers share (bench only): Django with the test client on a
fresh PostgreSQL database, Redis as cache and sessions as in production, one seeded portal and the
tests' provider on loopback in this process."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit


def add_database_arguments(parser) -> None:
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portal_bench"),
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
        help="the cache (and sessions, as in production); 'none' keeps the tests' local-memory cache",
    )


@dataclass
class Portal:
    client: object  # django.test.Client on the portal's host
    config: object  # its SSOConfig
    op: object  # tests.oidc_op.TinyOP
    callback_path: Callable[[], str]  # a fresh login started in a clean browser: its callback's path


@contextlib.contextmanager
def portal_in_process(*, database_url: str, redis_url: str, suffix: str) -> Iterator[Portal]:
    """Set Django up on ``<database>_<suffix>`` (made anew) and yield the seeded portal; stops the
    provider afterwards. Call before importing anything that needs Django's settings."""
    from bench.run import fresh_postgres_database

    os.environ["DATABASE_URL"] = fresh_postgres_database(database_url, suffix)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("CONN_MAX_AGE", "60")
    import django

    django.setup()
    import requests
    from django.core.management import call_command
    from django.test import Client, override_settings
    from django.test.utils import setup_test_environment

    from bench.scale import seed
    from tests.oidc_op import TinyOP

    setup_test_environment()
    if redis_url != "none":  # as in production: Redis cache, sessions on it (portal.sessions)
        override_settings(
            CACHES={
                "default": {
                    "BACKEND": os.environ.get("BENCH_CACHE_BACKEND", "portal.redis_cache.RedisCache"),
                    "LOCATION": redis_url,
                }
            },
            SESSION_ENGINE="portal.sessions",
        ).enable()
        from django.core.cache import cache

        cache.clear()
    call_command("migrate", verbosity=0, interactive=False)
    op = TinyOP()
    try:
        config, _invoice = seed(portals=1, invoices=10, issuer=op.issuer)
        client = Client(HTTP_HOST="acme.localhost")

        def callback_path() -> str:
            client.cookies.clear()
            authorize = client.get(f"/sso/{config.key}/login/")["Location"]
            location = urlsplit(requests.get(authorize, allow_redirects=False, timeout=5).headers["Location"])
            return f"{location.path}?{location.query}"

        yield Portal(client=client, config=config, op=op, callback_path=callback_path)
    finally:
        op.stop()
