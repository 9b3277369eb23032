"""Where a returning login's callback spends its time: cProfile and the SQL of one callback.

In the benchmark only (never in production code): Django in-process with the test client on a fresh
PostgreSQL database, the tests' provider on loopback, ``--rounds`` warm callbacks under cProfile.
Prints the queries of one callback (in order) and the functions by cumulative time.
Run: ``.venv/bin/python bench/profile_callback.py`` (``BENCH_DATABASE_URL`` as for ``make bench``).
"""

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sort", default="cumulative", help="pstats order: cumulative, tottime, ...")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portal_bench"),
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
        help="the cache (and sessions, as in production); 'none' keeps the tests' local-memory cache",
    )
    parser.add_argument("--show-redis", action="store_true", help="print each Redis round trip")
    args = parser.parse_args()
    from bench.run import fresh_postgres_database

    os.environ["DATABASE_URL"] = fresh_postgres_database(args.database_url, "profile")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("CONN_MAX_AGE", "60")
    import django

    django.setup()
    import requests
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment

    from bench.scale import seed
    from tests.oidc_op import TinyOP

    setup_test_environment()
    if args.redis_url != "none":  # as in production: Redis cache, sessions on it (portal.sessions)
        from django.test import override_settings

        override_settings(
            CACHES={
                "default": {
                    "BACKEND": os.environ.get("BENCH_CACHE_BACKEND", "portal.redis_cache.RedisCache"),
                    "LOCATION": args.redis_url,
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

        for _ in range(5):
            assert client.get(callback_path()).status_code == 302
        import redis.connection

        sends = [0]
        original_send = redis.connection.AbstractConnection.send_packed_command

        def counting_send(self, command, *a, **kw):
            sends[0] += 1
            if args.show_redis:
                packed = b"".join(command) if isinstance(command, list) else command
                words = [w for w in packed.split(b"\r\n") if w and w[:1] not in b"*$"]
                print("  redis:", b" ".join(words)[:120].decode(errors="replace"))
            return original_send(self, command, *a, **kw)

        redis.connection.AbstractConnection.send_packed_command = counting_send
        client.cookies.clear()
        with CaptureQueriesContext(connection) as started:
            authorize = client.get(f"/sso/{config.key}/login/")["Location"]
        print(f"login start: {sends[0]} redis round trips, {len(started)} queries")
        location = urlsplit(requests.get(authorize, allow_redirects=False, timeout=5).headers["Location"])
        path, sends[0] = f"{location.path}?{location.query}", 0
        with CaptureQueriesContext(connection) as captured:
            assert client.get(path).status_code == 302
        redis.connection.AbstractConnection.send_packed_command = original_send
        print(f"redis round trips in one callback: {sends[0]}")
        commits = sum(q["sql"] == "COMMIT" for q in captured.captured_queries)
        print(f"queries in one callback: {len(captured)} ({commits} commits)")
        for n, query in enumerate(captured.captured_queries, 1):
            print(f"  {n:2}. {query['sql'][:150]}")
        plain = 0.0
        for _ in range(args.rounds):
            path = callback_path()
            began = time.process_time()
            assert client.get(path).status_code == 302
            plain += time.process_time() - began
        print(
            f"{args.rounds} callbacks unprofiled: {plain * 1000 / args.rounds:.1f} ms CPU each (this process)"
        )
        profiler, elapsed = cProfile.Profile(), 0.0
        for _ in range(args.rounds):
            path = callback_path()
            began = time.perf_counter()
            profiler.enable()
            response = client.get(path)
            profiler.disable()
            elapsed += time.perf_counter() - began
            assert response.status_code == 302
        print(
            f"\n{args.rounds} callbacks under cProfile: {elapsed * 1000 / args.rounds:.1f} ms each (profiled)"
        )
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.top)
        print(out.getvalue())
    finally:
        op.stop()


if __name__ == "__main__":
    main()
