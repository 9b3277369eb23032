"""Invoice PDFs: fetched from HaloPSA on first download, stored, re-fetched when the invoice changes."""

import pytest

from halo.sync import halo_sync_run
from portal.models import Invoice
from tests.factories import CustomerFactory, InvoiceFactory, UserFactory
from tests.halo.conftest import clients, invoices

pytestmark = pytest.mark.django_db

ALICE = {"id": 201, "name": "Alice", "emailaddress": "alice@example.com", "client_id": 1}


@pytest.fixture
def synced(portal, connection, halo, client):
    halo.seed_api(
        clients=clients(2), users=[ALICE], invoices=[*invoices(1), *invoices(1, client_id=2, start=2)]
    )
    halo_sync_run(connection=connection)
    client.force_login(
        UserFactory(portal=portal, email="alice@example.com"),
        backend="accounts.backends.PortalPasswordBackend",
    )
    return Invoice.objects.get(halo_id=1001)


def download(client, invoice):
    response = client.get(f"/invoices/{invoice.pk}/pdf/")
    body = b"".join(response.streaming_content) if response.status_code == 200 else response.content
    return response, body


def test_pdf_download_fetches_once_then_serves_the_stored_copy(client, synced, halo):
    halo.reset_stats()
    response, body = download(client, synced)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert body.startswith(b"%PDF-") and b"INV-1" in body
    download(client, synced)
    assert halo.count("/api/Invoice/PDF/1001") == 1
    page = client.get(f"/invoices/{synced.pk}/")
    assert f"/invoices/{synced.pk}/pdf/".encode() in page.content


def test_changed_invoice_gets_a_new_pdf(client, synced, halo, connection):
    download(client, synced)
    halo.change("invoice", 1001, notify=False, total="150.00")
    halo_sync_run(connection=connection)
    halo.reset_stats()
    _, body = download(client, synced)
    assert b"150.00" in body and halo.count("/api/Invoice/PDF/1001") == 1


def test_only_people_who_may_see_the_invoice_get_its_pdf(client, synced, halo, portal):
    other = Invoice.objects.get(halo_id=1002)  # Client 2's: Alice is no contact there
    assert download(client, other)[0].status_code == 404
    manual = InvoiceFactory(customer=CustomerFactory(portal=portal, name="Typed in"))
    assert download(client, manual)[0].status_code == 404
    client.logout()
    assert client.get(f"/invoices/{synced.pk}/pdf/").status_code == 302


def test_halopsa_down_without_a_stored_copy_is_a_friendly_503(client, synced, halo, settings):
    settings.HALO_MAX_RETRIES = 0
    halo.knobs(fail={"path": "/api/Invoice/PDF", "count": 1, "status": 500})
    response, body = download(client, synced)
    assert response.status_code == 503 and b"try again" in body
