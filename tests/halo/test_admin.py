"""The HaloPSA admin: scoped per portal, write-only secret, actions, failure banner, read-only synced rows."""

import pytest
from django.contrib.auth.models import Permission

from halo.models import HaloConnection, SyncRun
from halo.sync import halo_sync_run
from halo.tasks import halo_sync_due
from portal.models import Invoice
from tests.factories import HaloConnectionFactory, InvoiceFactory, UserFactory
from tests.halo.conftest import clients, invoices, users

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, portal):
    user = UserFactory(portal=portal, email="it@example.com", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label__in=["halo", "portal"]))
    client.force_login(user)
    return client


def test_connection_page_shows_webhook_and_hides_the_secret(staff_client, connection, other_portal):
    page = staff_client.get(f"/admin/halo/haloconnection/{connection.pk}/change/")
    assert page.status_code == 200
    body = page.content.decode()
    assert connection.webhook_url in body and connection.webhook_secret in body
    assert "sync-secret" not in body  # the API secret is write-only
    assert "Bearer &lt;secret&gt;" in body  # shown as text, not swallowed as a tag
    foreign = HaloConnectionFactory(portal=other_portal)
    assert staff_client.get(f"/admin/halo/haloconnection/{foreign.pk}/change/").status_code == 404


def test_failed_run_shows_a_banner(staff_client, connection, halo, settings):
    settings.HALO_MAX_RETRIES = 0
    halo.knobs(fail={"path": "/api/Client", "count": 1})
    assert halo_sync_run(connection=connection).status == SyncRun.Status.FAILED
    page = staff_client.get(f"/admin/halo/haloconnection/{connection.pk}/change/")
    assert b"The last HaloPSA sync failed" in page.content


def test_actions_test_and_sync_now(staff_client, connection, halo):
    halo.seed_api(clients=clients(1), users=users(1), invoices=invoices(1))
    url = "/admin/halo/haloconnection/"
    response = staff_client.post(
        url, {"action": "test_connection", "_selected_action": [connection.pk]}, follow=True
    )
    assert b"works" in response.content
    staff_client.post(url, {"action": "sync_now", "_selected_action": [connection.pk]})
    assert SyncRun.objects.get().status == SyncRun.Status.OK  # tasks run inline in tests
    assert Invoice.objects.filter(halo_id=1001).exists()


def test_synced_invoice_is_read_only_with_a_link_to_halopsa(staff_client, connection, halo, customer):
    halo.seed_api(clients=clients(1), users=users(1), invoices=invoices(1))
    halo_sync_run(connection=connection)
    synced = Invoice.objects.get(halo_id=1001)
    page = staff_client.get(f"/admin/portal/invoice/{synced.pk}/change/").content.decode()
    assert "View in HaloPSA" in page and f"{halo.base_url}/invoices?id=1001" in page
    assert 'name="number"' not in page
    manual = InvoiceFactory(customer=customer)
    assert b'name="number"' in staff_client.get(f"/admin/portal/invoice/{manual.pk}/change/").content


def test_beat_dispatcher_queues_due_portals_only(connection, halo):
    halo.seed_api(clients=clients(1))
    assert halo_sync_due() == 1  # never synced: due (and a full reconcile)
    assert SyncRun.objects.get().mode == SyncRun.Mode.FULL
    assert halo_sync_due() == 0  # synced within its interval
    HaloConnection.objects.update(enabled=False)
    SyncRun.objects.all().delete()
    assert halo_sync_due() == 0


def test_register_webhook_action_registers_it_at_halopsa(staff_client, connection, halo):
    url = "/admin/halo/haloconnection/"
    for _ in range(2):  # registering again updates the same webhook
        response = staff_client.post(
            url, {"action": "register_webhook", "_selected_action": [connection.pk]}, follow=True
        )
        assert b"webhook registered in HaloPSA" in response.content
    hooks = halo.webhooks()
    assert [(h["url"], h["authentication_type"], h["basic_username"]) for h in hooks] == [
        (connection.webhook_url, "basic", connection.webhook_username)
    ]


def test_contacts_of_a_synced_customer_are_not_edited_inline(staff_client, connection, halo):
    from portal.models import Customer

    halo.seed_api(clients=clients(1), users=users(1))
    halo_sync_run(connection=connection)
    synced = Customer.objects.get(halo_id=1)
    page = staff_client.get(f"/admin/portal/customer/{synced.pk}/change/").content.decode()
    assert "user1@example.com" in page and 'name="contacts-0-email"' not in page


@pytest.mark.parametrize("action", ["test_connection", "sync_now", "register_webhook"])
def test_view_only_staff_cannot_run_the_connection_actions(client, portal, connection, halo, action):
    """The actions call HaloPSA or start a sync: they need change permission, not just view."""
    viewer = UserFactory(portal=portal, email="viewer@example.com", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_haloconnection"))
    client.force_login(viewer)
    client.raise_request_exception = False
    url = "/admin/halo/haloconnection/"
    page = client.get(url)
    assert page.status_code == 200 and f'value="{action}"' not in page.content.decode()
    response = client.post(url, {"action": action, "_selected_action": [connection.pk], "index": 0})
    assert response.status_code < 500
    assert not SyncRun.objects.exists()
    assert halo.webhooks() == []
    assert halo.stats()["counts"] == {}, "a view-only user's action reached HaloPSA"


def test_staff_with_change_permission_are_offered_the_connection_actions(staff_client, connection):
    page = staff_client.get("/admin/halo/haloconnection/").content.decode()
    for action in ("test_connection", "sync_now", "register_webhook"):
        assert f'value="{action}"' in page


def test_sync_runs_and_webhook_deliveries_cannot_be_deleted_even_by_a_superuser(
    client, portal, connection, halo
):
    run = halo_sync_run(connection=connection)
    client.force_login(UserFactory(portal=None, email="root@example.com", is_staff=True, is_superuser=True))
    assert client.post(f"/admin/halo/syncrun/{run.pk}/delete/", {"post": "yes"}).status_code == 403
    listing = client.post("/admin/halo/syncrun/", {"action": "delete_selected", "_selected_action": [run.pk]})
    assert listing.status_code == 200
    assert SyncRun.objects.filter(pk=run.pk).exists()


def test_synced_contact_and_payment_open_read_only(staff_client, connection, halo, customer):
    """Contacts and payments declare no fieldsets: their synced change pages were a RecursionError 500."""
    from tests.factories import ContactFactory, PaymentFactory

    contact = ContactFactory(customer=customer)
    payment = PaymentFactory(invoice=InvoiceFactory(customer=customer))
    type(contact).objects.filter(pk=contact.pk).update(halo_id=77)
    type(payment).objects.filter(pk=payment.pk).update(halo_id=78)
    for url, field in ((f"/admin/portal/contact/{contact.pk}/change/", 'name="email"'),
                       (f"/admin/portal/payment/{payment.pk}/change/", 'name="amount"')):  # fmt: skip
        response = staff_client.get(url)
        assert response.status_code == 200
        page = response.content.decode()
        assert "Synced from HaloPSA" in page or "View in HaloPSA" in page
        assert field not in page  # read-only: no input to edit
