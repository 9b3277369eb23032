"""``make bench`` (second part): the customer pages at scale, against the small case, on PostgreSQL.

Two fresh databases: *small* (1 portal with an SSO config, one customer with 10 invoices) and
*large* (10,000 portals each with an SSO config, and one customer with 10,000 invoices, half of
them unpaid). For the login page, login start, callback, dashboard, invoice list (first and last
page) and invoice detail: p50 over ``--rounds`` requests and the number of queries. Each case
lives in its own process (Django in-process, the test client, a loopback provider); the cases are
measured in turns of a few requests each (``Case``), with Redis as cache and sessions as in
production (``--redis-url``), then the table and the large/small ratios
are printed and written as JSON. Aim: every page within 1.2x, same query counts.

A third case, *full page* (1 portal, 25 invoices), renders as many invoice rows as every list
page of the large case does (25), which the 10-invoice case cannot: measured, those 15 extra rows
cost about as much as everything the 10,000 invoices add. The last column compares the large case
with it, so what is left is what scale itself costs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PAGES = [
    "login page",
    "login start",
    "callback",
    "dashboard",
    "invoice list",
    "invoice list, last page",
    "invoice detail",
]


def seed(*, portals: int, invoices: int, issuer: str):
    from django.db import connection
    from django.utils import timezone

    from accounts.models import Identity, User
    from portal.models import Contact, Customer, Invoice, Portal
    from sso.models import SSOConfig

    portal = Portal.objects.create(name="Acme", url="http://acme.localhost")
    config = SSOConfig.objects.create(
        portal=portal,
        description="HaloPSA",
        issuer=issuer,
        client_id="portal-client",
        enabled=True,  # configs start disabled until tested; the benchmark's provider is known good
    )
    others = Portal.objects.bulk_create(
        Portal(name=f"Portal {n}", url=f"http://p{n}.localhost", host=f"p{n}.localhost")
        for n in range(portals - 1)
    )
    SSOConfig.objects.bulk_create(
        SSOConfig(
            portal=other,
            key=f"p{n:05d}x-halopsa-bench{n % 10}",
            description="HaloPSA",
            issuer=f"https://instance{n}.halopsa.example/auth",
            client_id=f"client-{n}",
        )
        for n, other in enumerate(others)
    )
    customer = Customer.objects.create(portal=portal, name="Acme Ltd")
    Contact.objects.create(customer=customer, email="alice@example.com", name="Alice")
    today = timezone.localdate()
    statuses = [Invoice.Status.OPEN, Invoice.Status.PAID, Invoice.Status.OVERDUE, Invoice.Status.PAID]
    rows = []
    for n in range(invoices):
        status = statuses[n % 4] if n else Invoice.Status.OPEN
        total = Decimal(100 + n % 900) + Decimal("0.50")
        issued = today - datetime.timedelta(days=n // 3)
        rows.append(
            Invoice(
                customer=customer,
                number=f"INV-{100000 + n}",
                issued_on=issued,
                due_on=issued + datetime.timedelta(days=30),
                currency="EUR" if n % 10 == 0 else "USD",
                total=total,
                balance=Decimal("0") if status == Invoice.Status.PAID else total,
                status=status,
            )
        )
    Invoice.objects.bulk_create(rows, batch_size=2000)
    user = User.objects.create_user(email="alice@example.com", portal=portal)
    Identity.objects.create(
        portal=portal,
        sso_config=config,
        issuer=issuer,
        sub="halo-user-1",
        email=user.email,
        user=user,
        verified_at=timezone.now(),
    )
    with connection.cursor() as cursor:  # what autovacuum does after a bulk load
        cursor.execute("VACUUM ANALYZE")
    return config, Invoice.objects.filter(customer=customer).order_by("id")[invoices // 2]


BLOCK = 5  # requests per case in turn: every case sees the same moments of the machine's load


class Case:
    """One case's Django, database and provider in a process of its own, measuring on request.

    The parent starts every case, then asks them in turn for ``BLOCK`` samples of a page at a time,
    so the cases are measured interleaved rather than one after another: on a shared machine whose
    speed drifts by tens of percent over minutes, the ratios between cases then measure the cases,
    not the drift (measured one after another, a run showed the login start, which reads no
    invoice, at 1.61x the small case).
    """

    def __init__(self, *, portals: int, invoices: int, redis_url: str, name: str):
        import django

        django.setup()
        import redis
        import requests
        from django.core.management import call_command
        from django.test import Client, override_settings
        from django.test.utils import setup_test_environment

        # As in production: Redis as the cache (its own key prefix per case, emptied first), sessions
        # on it, the dashboard's figures cached in it.
        prefix = f"bench-scale-{name}"
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(f"{prefix}:*", count=1000):
            client.delete(key)
        override_settings(
            CACHES={
                "default": {
                    "BACKEND": "portal.redis_cache.RedisCache",
                    "LOCATION": redis_url,
                    "KEY_PREFIX": prefix,
                    "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
                }
            },
            SESSION_ENGINE="portal.sessions",
            DASHBOARD_FIGURES_CACHE_SECONDS=120,
        ).enable()

        from tests.oidc_op import TinyOP

        setup_test_environment()
        call_command("migrate", verbosity=0, interactive=False)
        self.requests = requests
        self.op = TinyOP()
        self.config, invoice = seed(portals=portals, invoices=invoices, issuer=self.op.issuer)
        last_page = max(1, -(-invoices // 25))  # 25 invoices a page
        self.anonymous = Client(HTTP_HOST="acme.localhost")
        self.customer = Client(HTTP_HOST="acme.localhost")
        self.customer.get(self._authorized(self.customer))  # signed in for the customer pages
        key = self.config.key
        self.pages = {
            "login page": (self.anonymous, lambda: "/login/"),
            "login start": (self.anonymous, lambda: f"/sso/{key}/login/"),
            "callback": (self.anonymous, lambda: self._authorized(self.anonymous)),
            "dashboard": (self.customer, lambda: "/"),
            "invoice list": (self.customer, lambda: "/invoices/"),
            "invoice list, last page": (self.customer, lambda: f"/invoices/?page={last_page}"),
            "invoice detail": (self.customer, lambda: f"/invoices/{invoice.pk}/"),
        }

    def _authorized(self, client) -> str:
        """A fresh login's callback URL: the start, then the provider's answer (not timed)."""
        client.cookies.clear()
        authorize = client.get(f"/sso/{self.config.key}/login/")["Location"]
        answer = self.requests.get(authorize, allow_redirects=False, timeout=5)
        location = urlsplit(answer.headers["Location"])
        return f"{location.path}?{location.query}"

    def samples(self, page: str, n: int) -> list[tuple[float, int, int]]:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        client, target = self.pages[page]
        out = []
        for _ in range(n):
            if client is self.anonymous and page != "callback":
                client.cookies.clear()
            path = target()
            with CaptureQueriesContext(connection) as queries:
                began = time.perf_counter()
                response = client.get(path)
                elapsed = (time.perf_counter() - began) * 1000
            out.append((elapsed, len(queries), response.status_code))
        return out


def child_main(args) -> None:
    """Seed, say ready, then answer ``{"page": ..., "n": ...}`` lines with samples until stdin ends."""
    case = Case(portals=args.portals, invoices=args.invoices, redis_url=args.redis_url, name=args.name)
    try:
        print(json.dumps({"ready": True}), flush=True)
        for line in sys.stdin:
            ask = json.loads(line)
            print(json.dumps(case.samples(ask["page"], ask["n"])), flush=True)
    finally:
        case.op.stop()


def _ask(child: subprocess.Popen, case: str, **message) -> object:
    child.stdin.write(json.dumps(message) + "\n")
    child.stdin.flush()
    line = child.stdout.readline()
    if not line:
        raise SystemExit(f"scale: the {case} case stopped:\n{_tail(child)}")
    return json.loads(line)


def _tail(child: subprocess.Popen) -> str:
    log = child.stderr_log  # set beside the Popen in ``measure``
    log.seek(0)
    return log.read()[-3000:]


def measure(cases: dict, *, rounds: int, database_url: str, redis_url: str) -> dict:
    """Start every case (one after another: seeding is not measured), then measure them in turns."""
    from bench.run import fresh_postgres_database

    children: dict[str, subprocess.Popen] = {}
    try:
        for case, (portals, invoices) in cases.items():
            print(f"scale: seeding {case} ({portals} portals, {invoices} invoices) ...", flush=True)
            env = {
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "tests.settings",
                "DATABASE_URL": fresh_postgres_database(database_url, f"scale_{case}"),
                "CONN_MAX_AGE": "60",
                "LOG_LEVEL": "WARNING",
            }
            log = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed with the process: a file, so a chatty child never blocks)
            child = subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    f"--name={case}",
                    f"--portals={portals}",
                    f"--invoices={invoices}",
                    f"--redis-url={redis_url}",
                ],
                cwd=REPO,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
            child.stderr_log = log
            children[case] = child
            line = child.stdout.readline()  # bounded: seeding ends or the child dies
            if not line or not json.loads(line).get("ready"):
                raise SystemExit(f"scale: the {case} case failed:\n{_tail(child)}")
        print(f"scale: measuring {len(cases)} cases in turns of {BLOCK} requests ...", flush=True)
        samples: dict[str, dict[str, list]] = {case: {} for case in cases}
        for page in PAGES:
            for case, child in children.items():
                _ask(child, case, page=page, n=3)  # warm-up, not kept
            for turn in range(-(-rounds // BLOCK)):
                order = list(children.items())
                order = order[turn % len(order) :] + order[: turn % len(order)]  # who goes first rotates
                for case, child in order:
                    samples[case].setdefault(page, []).extend(_ask(child, case, page=page, n=BLOCK))
    finally:
        for child in children.values():
            if child.stdin:
                child.stdin.close()
        for child in children.values():
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
            child.stderr_log.close()
    results = {}
    for case, pages in samples.items():
        results[case] = {
            name: {
                "p50_ms": round(statistics.median(s[0] for s in got), 2),
                "queries": max(s[1] for s in got),
                "status": sorted({s[2] for s in got}),
                "samples": len(got),
            }
            for name, got in pages.items()
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_SCALE_ROUNDS", "60")))
    parser.add_argument(
        "--json", default=os.environ.get("BENCH_SCALE_JSON", str(REPO / "var" / "bench-scale.json"))
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portal_bench"),
    )
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--name", default="small", help=argparse.SUPPRESS)
    parser.add_argument("--portals", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--invoices", type=int, default=10, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child_main(args)

    cases = {"small": (1, 10), "full_page": (1, 25), "large": (10_000, 10_000)}
    results = measure(cases, rounds=args.rounds, database_url=args.database_url, redis_url=args.redis_url)
    print()
    print(
        "| page | 1 portal / 10 invoices: p50, queries | 10,000 portals / 10,000 invoices: p50, queries "
        "| ratio | 1 portal / 25 invoices (one full page): p50 | ratio to it |"
    )
    print("|---|---|---|---|---|---|")
    summary = {}
    for page in PAGES:
        small, large, full = results["small"][page], results["large"][page], results["full_page"][page]
        ratio = large["p50_ms"] / small["p50_ms"] if small["p50_ms"] else float("nan")
        to_full = large["p50_ms"] / full["p50_ms"] if full["p50_ms"] else float("nan")
        summary[page] = {
            "ratio": round(ratio, 2),
            "ratio_to_full_page": round(to_full, 2),
            "same_queries": small["queries"] == large["queries"] == full["queries"],
        }
        flag = "" if ratio <= 1.2 and summary[page]["same_queries"] else "  ← over aim"
        print(
            f"| {page} | {small['p50_ms']:.1f} ms, {small['queries']} | {large['p50_ms']:.1f} ms, {large['queries']} "
            f"| {ratio:.2f}×{flag} | {full['p50_ms']:.1f} ms, {full['queries']} | {to_full:.2f}× |"
        )
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"cases": results, "summary": summary}, indent=2) + "\n")
    print(f"JSON: {args.json}")


if __name__ == "__main__":
    main()
