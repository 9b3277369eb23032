"""HaloPSA's webhook: authenticated by the connection's secret, answered 202, the record re-read via the API."""

import base64

import pytest
import requests

from halo.models import HaloConnection, WebhookDelivery
from halo.sync import halo_sync_run
from portal.models import Invoice
from tests.factories import PortalFactory
from tests.halo.conftest import clients, invoices, users

pytestmark = pytest.mark.django_db


def post(client, connection, body, *, auth=None, **extra):
    headers = {"HTTP_AUTHORIZATION": auth} if auth is not None else {}
    return client.post(
        f"/halo/webhook/{connection.key}/", data=body, content_type="application/json", **headers, **extra
    )


def bearer(connection):
    return f"Bearer {connection.webhook_secret}"


def test_webhook_rereads_the_invoice_through_the_api(
    client, connection, halo, django_capture_on_commit_callbacks
):
    halo.seed_api(clients=clients(1), users=users(1), invoices=invoices(2))
    halo_sync_run(connection=connection)
    halo.change("invoice", 1001, notify=False, invoicenumber="INV-1-NEW", amountpaid="100")
    # The payload is only a hint: even a wrong number in it is never stored.
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, connection, '{"object": "invoice", "id": 1001, "invoicenumber": "FORGED"}',
                        auth=bearer(connection))  # fmt: skip
    assert response.status_code == 202
    invoice = Invoice.objects.get(halo_id=1001)
    assert invoice.number == "INV-1-NEW" and invoice.status == Invoice.Status.PAID
    assert WebhookDelivery.objects.get().accepted is True


def test_replayed_and_deleted(client, connection, halo, django_capture_on_commit_callbacks):
    halo.seed_api(clients=clients(1), users=users(1), invoices=invoices(2))
    halo_sync_run(connection=connection)
    halo.delete("invoice", 1002)
    for _ in range(2):  # a replay is harmless
        with django_capture_on_commit_callbacks(execute=True):
            assert (
                post(
                    client, connection, '{"object": "invoice", "id": 1002}', auth=bearer(connection)
                ).status_code
                == 202
            )
    invoice = Invoice.objects.get(halo_id=1002)
    assert (
        invoice.status == Invoice.Status.VOID and Invoice.objects.filter(halo_id__isnull=False).count() == 2
    )


def test_basic_auth_is_accepted(client, connection, halo):
    token = base64.b64encode(f"{connection.webhook_username}:{connection.webhook_secret}".encode()).decode()
    assert post(client, connection, "{}", auth=f"Basic {token}").status_code == 202


@pytest.mark.parametrize(
    "auth",
    [
        None,
        "Bearer wrong",
        "Basic !!!notbase64",
        "Basic " + base64.b64encode(b"halopsa:wrong").decode(),
        "Token x",
        "Basic é",  # not ASCII: a 500 before
        "Basic " + base64.b64encode("halopsa:é".encode("latin-1")).decode(),  # not UTF-8 once decoded
    ],
)
def test_bad_secret_is_401(client, connection, halo, auth):
    response = post(client, connection, '{"object": "invoice", "id": 1}', auth=auth)
    assert response.status_code == 401
    assert WebhookDelivery.objects.get().reason == "bad_secret"


def test_garbage_unknown_key_other_host_and_big_bodies_are_4xx(client, connection, halo, settings):
    assert post(client, connection, "not json at all \x00", auth=bearer(connection)).status_code == 202
    assert client.post("/halo/webhook/nope/", data="{}", content_type="application/json").status_code == 404
    assert client.get(f"/halo/webhook/{connection.key}/").status_code == 405
    big = "x" * (settings.HALO_WEBHOOK_MAX_BYTES + 1)
    assert post(client, connection, big, auth=bearer(connection)).status_code == 413
    PortalFactory(name="Globex", url="http://globex.localhost:8000")
    other = post(client, connection, "{}", auth=bearer(connection), HTTP_HOST="globex.localhost")
    assert other.status_code == 404  # a connection's key works only on its own portal's host


@pytest.mark.django_db(transaction=True)
def test_standin_delivers_its_webhook_to_the_portal(live_server, halo):
    portal = PortalFactory(name="Live", url=live_server.url)
    connection = HaloConnection.objects.create(
        portal=portal, api_url=halo.api_url, auth_url=f"{halo.base_url}/auth", client_id="portal-sync",
        client_secret="sync-secret", tenant="demo",
    )  # fmt: skip
    halo.seed_api(clients=clients(1), users=users(1), invoices=invoices(1))
    halo_sync_run(connection=connection)
    access = requests.post(
        f"{halo.base_url}/auth/token?tenant=demo",
        data={"grant_type": "client_credentials", "client_id": "portal-sync", "client_secret": "sync-secret",
              "scope": "all"},
        timeout=10,
    ).json()["access_token"]  # fmt: skip
    requests.post(
        f"{halo.api_url}/Webhook",
        json=[{"url": connection.webhook_url, "events": ["invoice_updated"], "authentication_type": "basic",
               "basic_username": connection.webhook_username, "basic_password": connection.webhook_secret}],
        headers={"Authorization": f"Bearer {access}"},
        timeout=10,
    ).raise_for_status()  # fmt: skip
    result = halo.change("invoice", 1001, invoicenumber="INV-LIVE")
    assert [d["status"] for d in result["deliveries"]] == [202]
    assert Invoice.objects.get(halo_id=1001).number == "INV-LIVE"
