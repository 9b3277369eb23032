"""Where a returning login's callback spends its time: cProfile and the SQL of one callback.

In the benchmark only (never in production code): Django in-process with the test client on a fresh
PostgreSQL database, the tests' provider on loopback, ``--rounds`` warm callbacks under cProfile.
Prints the queries of one callback (in order) and the functions by cumulative time.
Run: ``.venv/bin/python bench/profile_callback.py`` (``BENCH_DATABASE_URL`` as for ``make bench``).
"""

import argparse
import cProfile
import io
import pstats
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.inprocess import add_database_arguments, portal_in_process  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sort", default="cumulative", help="pstats order: cumulative, tottime, ...")
    add_database_arguments(parser)
    parser.add_argument("--show-redis", action="store_true", help="print each Redis round trip")
    args = parser.parse_args()
    with portal_in_process(
        database_url=args.database_url, redis_url=args.redis_url, suffix="profile"
    ) as portal:
        import requests
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        client, config, callback_path = portal.client, portal.config, portal.callback_path
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


if __name__ == "__main__":
    main()
