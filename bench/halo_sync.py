"""Benchmark: syncing a big HaloPSA instance from the stand-in's real HTTP API on loopback.

10,000 invoices across 1,000 clients and 5,000 users (``BENCH_HALO_INVOICES`` etc. to change): a full
sync's time, rows per second, API calls and the peak RSS of this process (the worker); then an
incremental run after 10 invoices changed upstream: its API calls and time. Run: ``make bench``.
Numbers depend on the machine; this is for comparing changes, not a test.
"""

import os
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ.setdefault("DATABASE_URL", "sqlite:///:memory:")
os.environ.setdefault("LOG_LEVEL", "WARNING")
warnings.filterwarnings("ignore", message="No directory at")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.test.utils import setup_databases, setup_test_environment  # noqa: E402

from halo.models import HaloConnection  # noqa: E402
from halo.sync import halo_sync_run  # noqa: E402
from tests.factories import PortalFactory  # noqa: E402
from tests.standin import start_standin  # noqa: E402

N_CLIENTS = int(os.environ.get("BENCH_HALO_CLIENTS", "1000"))
N_USERS = int(os.environ.get("BENCH_HALO_USERS", "5000"))
N_INVOICES = int(os.environ.get("BENCH_HALO_INVOICES", "10000"))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    setup_test_environment()
    setup_databases(verbosity=0, interactive=False)
    settings.HALO_REQUESTS_PER_MINUTE = 0  # measure the sync, not the politeness ceiling
    settings.HALO_SYNC_OVERLAP_SECONDS = 0
    with tempfile.TemporaryDirectory() as tmp:
        standin = start_standin(Path(tmp))
        try:
            standin.add_api_client("bench", "bench-secret")
            standin.generate_api(clients=N_CLIENTS, users=N_USERS, invoices=N_INVOICES)
            portal = PortalFactory(url="http://acme.localhost:8000")
            connection = HaloConnection.objects.create(
                portal=portal, api_url=standin.api_url, auth_url=f"{standin.base_url}/auth",
                client_id="bench", client_secret="bench-secret", tenant="demo",
            )  # fmt: skip
            rss_before = peak_rss_mb()
            started = time.perf_counter()
            run = halo_sync_run(connection=connection, full=True)
            elapsed = time.perf_counter() - started
            assert run.status == "ok", run.error
            rows = N_CLIENTS + N_USERS + N_INVOICES
            print(f"HaloPSA full sync: {N_CLIENTS} clients, {N_USERS} users, {N_INVOICES} invoices "
                  f"(page size {settings.HALO_PAGE_SIZE})")  # fmt: skip
            print(f"  time {elapsed:.1f} s, {rows / elapsed:.0f} rows/s, {run.api_calls} API calls, "
                  f"{run.pages} pages, peak RSS {peak_rss_mb():.0f} MB (before the sync {rss_before:.0f} MB)")  # fmt: skip
            time.sleep(1.1)  # the changes must be newer than the watermark (second resolution upstream)
            for invoice_id in range(1, 11):
                standin.change("invoice", invoice_id * 97, notify=False, amountpaid="1.00")
            started = time.perf_counter()
            incremental = halo_sync_run(connection=connection)
            elapsed = time.perf_counter() - started
            assert incremental.status == "ok", incremental.error
            print(f"HaloPSA incremental sync after 10 changed invoices: {elapsed:.2f} s, "
                  f"{incremental.api_calls} API calls, invoices {incremental.counts['invoices']}")  # fmt: skip
        finally:
            standin.stop()


if __name__ == "__main__":
    main()
