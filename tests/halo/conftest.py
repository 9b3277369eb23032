"""A HaloPSA stand-in for the halo tests (its own server: these tests change its data) and helpers."""

from datetime import date, timedelta

import pytest

from halo.models import HaloConnection
from tests.standin import start_standin

API_CLIENT_ID, API_SECRET = "portal-sync", "sync-secret"


@pytest.fixture(scope="module")
def halo_server(tmp_path_factory):
    server = start_standin(tmp_path_factory.mktemp("halo-api"), tenant="demo")
    server.add_api_client(API_CLIENT_ID, API_SECRET)
    yield server
    server.stop()


@pytest.fixture
def halo(halo_server, settings):
    """The stand-in with its API data wiped; retries fast so throttling tests take no real time."""
    halo_server.seed_api(reset=True)
    halo_server.reset_stats()
    settings.HALO_BACKOFF_BASE_SECONDS = 0.01
    settings.HALO_PAGE_SIZE = 2
    settings.HALO_SYNC_OVERLAP_SECONDS = 1
    return halo_server


@pytest.fixture
def connection(portal, halo) -> HaloConnection:
    return HaloConnection.objects.create(
        portal=portal,
        api_url=halo.api_url,
        auth_url=f"{halo.base_url}/auth",
        client_id=API_CLIENT_ID,
        client_secret=API_SECRET,
        tenant="demo",
    )


def clients(n: int) -> list[dict]:
    return [{"id": i, "name": f"Client {i}"} for i in range(1, n + 1)]


def users(n: int, **extra) -> list[dict]:
    return [
        {"id": 100 + i, "name": f"User {i}", "emailaddress": f"user{i}@example.com", "client_id": i, **extra}
        for i in range(1, n + 1)
    ]


def invoices(n: int, *, client_id: int = 1, start: int = 1) -> list[dict]:
    issued = date.today() - timedelta(days=5)
    return [
        {
            "id": 1000 + i,
            "invoicenumber": f"INV-{i}",
            "client_id": client_id,
            "invoice_date": issued.isoformat(),
            "duedate": (issued + timedelta(days=30)).isoformat(),
            "total": "100.00",
            "tax_total": "16.67",
            "lines": [
                {"item_shortdescription": "Support", "qty_order": 1, "unit_price": 100, "net_amount": 100}
            ],
        }
        for i in range(start, start + n)
    ]
