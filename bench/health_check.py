"""Benchmark: the per-request connection check, ours (``portal.dbbackend``) against Django's ``SELECT 1``.

Every request that uses the database checks its persistent connection first (``CONN_HEALTH_CHECKS``);
an SSO login is two requests. Measured on a live connection back to back and after 50 ms idle (as
between a person's requests, when the database server's CPU has gone quiet). Run: ``make bench``.
Machine-dependent; not a test.
"""

import os
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
os.environ.setdefault("LOG_LEVEL", "WARNING")
warnings.filterwarnings("ignore", message="No directory at")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.db.backends.postgresql.base import DatabaseWrapper as DjangosWrapper  # noqa: E402

ROUNDS = 100


def _p50(check, idle: float) -> float:
    times = []
    for _ in range(ROUNDS):
        if idle:
            time.sleep(idle)
        started = time.perf_counter()
        if not check():
            raise SystemExit("the connection was reported unusable")
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    if connection.vendor != "postgresql":
        raise SystemExit("needs PostgreSQL (DATABASE_URL)")
    connection.ensure_connection()
    checks = {"ours": connection.is_usable, "Django's SELECT 1": lambda: DjangosWrapper.is_usable(connection)}
    for name, check in checks.items():
        hot, idle = _p50(check, 0.0), _p50(check, 0.05)
        print(f"connection check, {name}: p50 {hot:.3f} ms back to back, {idle:.3f} ms after 50 ms idle")


if __name__ == "__main__":
    main()
