"""``make bench`` (second part): the customer pages at scale, against the small case, on PostgreSQL.

Two fresh databases: *small* (1 portal with an SSO config, one customer with 10 invoices) and
*large* (10,000 portals each with an SSO config, and one customer with 10,000 invoices, half of
them unpaid). For the login page, login start, callback, dashboard, invoice list (first and last
page) and invoice detail: p50 over ``--rounds`` requests and the number of queries. Runs each case
in its own process (Django in-process, the test client, a loopback provider), then prints the
table and the large/small ratios and writes JSON. Aim: every page within 1.2x, same query counts.

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


def measure_case(*, portals: int, invoices: int, rounds: int) -> dict:
    import django

    django.setup()
    import requests
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment

    from tests.oidc_op import TinyOP

    setup_test_environment()
    call_command("migrate", verbosity=0, interactive=False)
    op = TinyOP()
    try:
        config, invoice = seed(portals=portals, invoices=invoices, issuer=op.issuer)
        per_page = 25
        last_page = max(1, -(-invoices // per_page))
        client = Client(HTTP_HOST="acme.localhost")

        def sign_in() -> tuple:
            client.cookies.clear()
            authorize = client.get(f"/sso/{config.key}/login/")["Location"]
            location = urlsplit(requests.get(authorize, allow_redirects=False, timeout=5).headers["Location"])
            return f"{location.path}?{location.query}"

        def timed(path_or_fn) -> tuple[float, int, int]:
            path = path_or_fn() if callable(path_or_fn) else path_or_fn
            with CaptureQueriesContext(connection) as queries:
                began = time.perf_counter()
                response = client.get(path)
                elapsed = (time.perf_counter() - began) * 1000
            return elapsed, len(queries), response.status_code

        def anonymous(path: str):
            def go():
                client.cookies.clear()
                return path

            return go

        sign_in_then = sign_in
        pages = {
            "login page": anonymous("/login/"),
            "login start": anonymous(f"/sso/{config.key}/login/"),
            "callback": sign_in_then,
        }
        results = {}
        for name, target in pages.items():
            samples = [timed(target) for _ in range(rounds + 3)][3:]
            results[name] = samples
        client.get(sign_in())  # signed in for the customer pages
        signed_in = {
            "dashboard": "/",
            "invoice list": "/invoices/",
            "invoice list, last page": f"/invoices/?page={last_page}",
            "invoice detail": f"/invoices/{invoice.pk}/",
        }
        for name, path in signed_in.items():
            results[name] = [timed(path) for _ in range(rounds + 3)][3:]
    finally:
        op.stop()
    out = {}
    for name, samples in results.items():
        statuses = sorted({s[2] for s in samples})
        out[name] = {
            "p50_ms": round(statistics.median(s[0] for s in samples), 2),
            "queries": max(s[1] for s in samples),
            "status": statuses,
        }
    return out


def child_main(args) -> None:
    print(json.dumps(measure_case(portals=args.portals, invoices=args.invoices, rounds=args.rounds)))


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
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--portals", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--invoices", type=int, default=10, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child_main(args)

    from bench.run import fresh_postgres_database

    cases = {"small": (1, 10), "full_page": (1, 25), "large": (10_000, 10_000)}
    results = {}
    for case, (portals, invoices) in cases.items():
        print(f"scale: {case} ({portals} portals, {invoices} invoices) ...", flush=True)
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": fresh_postgres_database(args.database_url, f"scale_{case}"),
            "CONN_MAX_AGE": "60",
            "LOG_LEVEL": "WARNING",
        }
        done = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                f"--portals={portals}",
                f"--invoices={invoices}",
                f"--rounds={args.rounds}",
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        if done.returncode != 0:
            raise SystemExit(f"scale: the {case} case failed:\n{done.stderr[-3000:]}")
        results[case] = json.loads(done.stdout.strip().splitlines()[-1])
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
