"""Where a returning login's time goes inside gunicorn, as ``make bench`` runs it (bench only).

Starts the benchmark's provider and the production-shaped portal (PostgreSQL + Redis, DEBUG off,
one worker) behind ``bench/profiled_wsgi.py``, warms it up, then profiles ``--rounds`` logins
(login start and callback) and prints the functions by ``--sort``. Also prints the worker's CPU per
login unprofiled, measured the same way as ``bench/run.py``.
Run: ``.venv/bin/python bench/profile_gunicorn.py --sort tottime``.
"""

import argparse
import base64
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import Provider, RelyingParty, Server, fresh_postgres_database, portal_server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--top", type=int, default=60)
    parser.add_argument("--callers", default="", help="also print the callers of functions matching this")
    parser.add_argument("--callees", default="", help="also print what functions matching this call")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portal_bench"),
    )
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"))
    opts = parser.parse_args()
    log_dir = Path(tempfile.mkdtemp(prefix="portal-profile-"))
    provider = Provider()
    env = {
        "SSO_ALLOW_INSECURE_HTTP": "true",
        "SSO_PROVIDER_ALLOWED_NETWORKS": "127.0.0.1/32",
        "CONN_MAX_AGE": "60",
        "PYTHONDONTWRITEBYTECODE": "1",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "DATABASE_URL": fresh_postgres_database(opts.database_url, "profile"),
        "CACHE_URL": opts.redis_url,
        "CELERY_BROKER_URL": opts.redis_url,
        "EMAIL_URL": "consolemail://",
        "ALLOW_INSECURE_DEFAULTS": "true",
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_HSTS_SECONDS": "0",
    }
    plain: Server | None = None
    profiled: Server | None = None
    try:
        plain, key = portal_server("plain", env, issuer=provider.issuer, log_dir=log_dir)
        plain.workers = 1
        plain.start()
        rp = RelyingParty("plain", plain, f"/sso/{key}/login/", "/")
        for _ in range(20):
            rp.login()
        cpu, began = plain.cpu(), time.perf_counter()
        for _ in range(opts.rounds):
            rp.login()
        cpu, wall = plain.cpu() - cpu, time.perf_counter() - began
        print(
            f"unprofiled: {cpu * 1000 / opts.rounds:.2f} ms server CPU per login, "
            f"{wall * 1000 / opts.rounds:.2f} ms per whole login"
        )
        plain.stop()
        profiled = Server(
            "profiled", "bench.profiled_wsgi:application", plain.env, plain.host, "/login/", log_dir,
            workers=1, port=plain.port,
        )  # fmt: skip
        profiled.start()
        rp = RelyingParty("profiled", profiled, f"/sso/{key}/login/", "/")
        for _ in range(20):
            rp.login()
        headers = {"Host": profiled.host}
        requests.get(profiled.url("/__bench_profile__/reset"), headers=headers, timeout=5)
        for _ in range(opts.rounds):
            rp.login()
        params = {"sort": opts.sort, "top": opts.top}
        if opts.callers:
            params["callers"] = opts.callers
        if opts.callees:
            params["callees"] = opts.callees
        answer = requests.get(
            profiled.url("/__bench_profile__/dump"), params=params, headers=headers, timeout=30
        )
        print(f"{opts.rounds} logins (start + callback) profiled in the worker:")
        print(answer.text)
        packages = requests.get(profiled.url("/__bench_profile__/packages"), headers=headers, timeout=30)
        print(f"own time per package over the {opts.rounds} logins:")
        print(packages.text)
    finally:
        for server in (plain, profiled):
            if server is not None:
                server.stop()
        provider.stop()


if __name__ == "__main__":
    main()
