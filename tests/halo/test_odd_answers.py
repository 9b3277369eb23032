"""Calls a person waits on, and webhook re-reads, against a HaloPSA that answers oddly or throttles.

What HaloPSA cannot answer properly never takes anything away: the synced flag decides a sign-in, a
record is gone only on a 404, and a person gets an answer at once instead of waiting out retries.
"""

import time
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from halo.access import invoice_access_at_signin
from halo.client import HaloAPIError
from halo.connection_test import halo_connection_test
from halo.models import SyncRun, WebhookDelivery
from halo.refresh import halo_object_refresh_run
from halo.services import halo_webhook_register
from halo.sync import halo_sync_run
from portal.models import Contact, Invoice, Portal
from tests.docserver import docserver_fixture  # noqa: F401
from tests.factories import ContactFactory, CustomerFactory, InvoiceFactory, UserFactory
from tests.halo.fakehalo import answer, connect, paged

pytestmark = pytest.mark.django_db

ALICE = {
    "id": 201,
    "name": "Alice",
    "emailaddress": "alice@example.com",
    "client_id": 1,
    "canaccessinvoices": True,
}


@pytest.fixture
def halo_portal(portal, docserver):
    """A "HaloPSA decides" portal whose synced flag for alice (allowed) is an hour old: sign-in asks."""
    portal.invoice_access = Portal.InvoiceAccess.HALO
    portal.save(update_fields=["invoice_access"])
    customer = CustomerFactory(portal=portal, name="Client 1", halo_id=1)
    ContactFactory(
        customer=customer, email="alice@example.com", halo_id=201, can_view_invoices=True,
        halo_checked_at=timezone.now() - timedelta(hours=1),
    )  # fmt: skip
    connect(portal, docserver)
    return portal


def signin(portal):
    return invoice_access_at_signin(portal=portal, email="alice@example.com")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"record_count": 1}', id="no-users-list"),
        pytest.param(b'{"error": "Something went wrong"}', id="error-object-with-200"),
        pytest.param(b'"ok"', id="a-string"),
        pytest.param(b"[" * 5000 + b"]" * 5000, id="nested-too-deep"),
    ],
)
def test_an_unreadable_users_answer_lets_the_synced_flag_decide(halo_portal, docserver, body):
    docserver.set("/api/Users", 200, {"Content-Type": "application/json"}, body)
    access = signin(halo_portal)
    assert (access.allowed, access.source) == (True, "halo_unreachable")
    assert not Contact.objects.get(halo_id=201).inactive


def test_an_empty_users_list_is_an_answer_and_ends_access(halo_portal, docserver):
    docserver.routes["/api/Users"] = lambda query: answer({"users": []})
    access = signin(halo_portal)
    assert (access.allowed, access.source) == (False, "halo_live")


def test_a_throttled_halopsa_is_asked_once_at_sign_in(halo_portal, docserver):
    """503 with Retry-After: a sync waits it out; a person signing in is not made to."""
    docserver.routes["/api/Users"] = lambda query: answer({}, status=503, headers={"Retry-After": "3"})
    access = signin(halo_portal)
    assert (access.allowed, access.source) == (True, "halo_unreachable")
    assert len(docserver.requests_to("/api/Users")) == 1


def test_a_used_up_request_ceiling_does_not_hold_a_sign_in(halo_portal, docserver, settings):
    settings.HALO_REQUESTS_PER_MINUTE = 5
    for minute in (0, 1):  # this minute and the next, however the clock turns meanwhile
        key = f"halo:rpm:{halo_portal.pk}:{int(timezone.now().timestamp() // 60) + minute}"
        cache.set(key, 5, 180)  # a running sync's calls
    docserver.routes["/api/Users"] = lambda query: answer({"users": [ALICE]})
    access = signin(halo_portal)
    assert (access.allowed, access.source) == (True, "halo_unreachable")
    assert docserver.requests_to("/api/Users") == []  # it gave up at once, not after the minute


def test_a_token_that_never_expires_is_read_as_a_usual_one(halo_portal, docserver):
    docserver.set(
        "/auth/token", 200, {"Content-Type": "application/json"},
        b'{"access_token": "tok", "token_type": "Bearer", "expires_in": Infinity}',
    )  # fmt: skip
    docserver.routes["/api/Users"] = lambda query: answer({"users": [ALICE]})
    assert signin(halo_portal).source == "halo_live"


def test_a_user_deleted_and_created_again_keeps_access(halo_portal, docserver):
    """Same email, same client, a new HaloPSA id: sign-in and the full sync both move the row over."""
    again = {**ALICE, "id": 202}
    docserver.routes["/api/Users"] = lambda query: answer({"record_count": 1, "users": [again]})
    access = signin(halo_portal)
    assert (access.allowed, access.source) == (True, "halo_live")
    assert list(Contact.objects.values_list("halo_id", "inactive")) == [(202, False)]


def test_a_full_sync_moves_a_recreated_users_contact_over(portal, docserver):
    conn = connect(portal, docserver)
    docserver.routes["/api/Client"] = paged([{"id": 1, "name": "Client 1"}], "clients")
    docserver.routes["/api/Users"] = paged([ALICE], "users")
    docserver.routes["/api/Invoice"] = paged([], "invoices")
    docserver.routes["/api/InvoicePayment"] = paged([], "payments")
    assert halo_sync_run(connection=conn).status == SyncRun.Status.OK
    docserver.routes["/api/Users"] = paged([{**ALICE, "id": 202}], "users")
    run = halo_sync_run(connection=conn, full=True)
    assert run.status == SyncRun.Status.OK, run.error
    assert list(Contact.objects.values_list("halo_id", "inactive", "can_view_invoices")) == [
        (202, False, True)
    ]


@pytest.mark.parametrize(
    "body", [b"[]", b'[{"id": 1001}]', b'"ok"'], ids=["empty-list", "a-list", "a-string"]
)
def test_a_re_read_answered_with_no_record_voids_nothing(portal, docserver, body):
    customer = CustomerFactory(portal=portal, name="Client 1", halo_id=1)
    InvoiceFactory(customer=customer, halo_id=1001)
    ContactFactory(customer=customer, email="a@example.com", halo_id=201, can_view_invoices=True)
    conn = connect(portal, docserver)
    docserver.set("/api/Invoice/1001", 200, {"Content-Type": "application/json"}, body)
    docserver.set("/api/Users/201", 200, {"Content-Type": "application/json"}, body)
    assert halo_object_refresh_run(connection=conn, kind="invoice", object_id=1001).startswith("error:")
    assert halo_object_refresh_run(connection=conn, kind="user", object_id=201).startswith("error:")
    assert Invoice.objects.get(halo_id=1001).status != Invoice.Status.VOID
    assert not Contact.objects.get(halo_id=201).inactive


def test_a_re_read_answered_404_marks_the_record_gone(portal, docserver):
    customer = CustomerFactory(portal=portal, name="Client 1", halo_id=1)
    InvoiceFactory(customer=customer, halo_id=1001)
    conn = connect(portal, docserver)
    assert halo_object_refresh_run(connection=conn, kind="invoice", object_id=1001) == "gone"
    assert Invoice.objects.get(halo_id=1001).status == Invoice.Status.VOID


@pytest.mark.parametrize(
    "body",
    [
        pytest.param('{"object": "invoice", "id": Infinity}', id="id-Infinity"),
        pytest.param('{"object": "invoice", "id": 1e400}', id="id-1e400"),
        pytest.param("[" * 30000 + "]" * 30000, id="nested-too-deep"),
    ],
)
def test_an_odd_webhook_body_is_accepted_as_no_hint(client, portal, docserver, body):
    conn = connect(portal, docserver)
    response = client.post(
        f"/halo/webhook/{conn.key}/", data=body, content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {conn.webhook_secret}",
    )  # fmt: skip
    assert response.status_code == 202
    delivery = WebhookDelivery.objects.get(connection=conn)
    assert (delivery.accepted, delivery.object_id) == (True, None)


def test_a_throttled_pdf_gets_the_friendly_page_after_one_request(client, portal, docserver):
    customer = CustomerFactory(portal=portal, name="Client 1", halo_id=1)
    ContactFactory(customer=customer, email="alice@example.com")
    invoice = InvoiceFactory(customer=customer, halo_id=1001)
    connect(portal, docserver)
    docserver.routes["/api/Invoice/PDF/1001"] = lambda query: answer(
        {}, status=503, headers={"Retry-After": "3"}
    )
    user = UserFactory(portal=portal, email="alice@example.com")
    client.force_login(user, backend="accounts.backends.PortalPasswordBackend")
    response = client.get(f"/invoices/{invoice.pk}/pdf/")
    assert response.status_code == 503
    assert b"could not provide the PDF just now" in response.content
    assert len(docserver.requests_to("/api/Invoice/PDF/1001")) == 1


def test_registering_the_webhook_over_an_unreadable_list_adds_none(portal, docserver):
    conn = connect(portal, docserver)
    docserver.routes["/api/Webhook"] = lambda query: answer({"error": "busy"})
    with pytest.raises(HaloAPIError, match="did not answer with a list of webhooks"):
        halo_webhook_register(connection=conn)
    assert [r.method for r in docserver.requests_to("/api/Webhook")] == ["GET"]


def _every_step_slow(docserver, seconds: float = 0.4) -> None:
    """Each API step of the connection test answers (correctly) after ``seconds``."""

    def slow(doc):
        def route(query):
            time.sleep(seconds)
            return answer(doc)

        return route

    docserver.routes["/api/AuthInfo"] = slow({"tenant_id": "demo"})
    for path, key in (("Client", "clients"), ("Users", "users"), ("Invoice", "invoices")):
        docserver.routes[f"/api/{path}"] = slow({key: [], "record_count": 0})


def test_the_connection_test_shares_one_budget_across_its_steps(portal, docserver, settings):
    """Each step answers in 0.4 s; with a 1 s budget the admin gets the result after about a second."""
    settings.HALO_INTERACTIVE_SECONDS = 1.0
    conn = connect(portal, docserver)
    _every_step_slow(docserver)
    result = halo_connection_test(connection=conn)
    assert not result.ok
    assert [step.ok for step in result.steps][:2] == [True, True]  # the token and AuthInfo fit
    assert not result.steps[-1].ok


def test_an_admin_action_over_several_connections_shares_one_budget(
    portal, other_portal, docserver, settings, client
):
    """A superuser testing two portals' connections against a slow HaloPSA waited 8 s per connection."""
    settings.HALO_INTERACTIVE_SECONDS = 1.5
    connections = [connect(portal, docserver), connect(other_portal, docserver)]
    _every_step_slow(docserver)
    client.force_login(UserFactory(portal=None, email="root@example.com", is_staff=True, is_superuser=True))
    began = time.monotonic()
    response = client.post(
        "/admin/halo/haloconnection/",
        {"action": "test_connection", "_selected_action": [c.pk for c in connections]},
        follow=True,
    )
    assert response.status_code == 200 and response.content.decode().count("failed") >= 1
    assert time.monotonic() - began < settings.HALO_INTERACTIVE_SECONDS + 0.9  # not one budget each
