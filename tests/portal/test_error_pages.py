"""The portal's own 404, 403 (CSRF too), 400 and 500 pages in every mode, DEBUG included."""

import pytest
from django.test import Client
from django.urls import path

from portal import urls as portal_urls
from tests.factories import InvoiceFactory

pytestmark = pytest.mark.django_db

TECHNICAL_MARKERS = (
    "URLconf",
    "DEBUG = True",
    "Traceback",
    "Request Method:",
    "Django tried these URL patterns",
)


def boom(request):
    raise RuntimeError("a crash with a secret detail")


def suspicious(request):
    from django.core.exceptions import SuspiciousOperation

    raise SuspiciousOperation("weird input")


urlpatterns = [
    path("_boom/", boom),
    path("_suspicious/", suspicious),
    *portal_urls.urlpatterns,
]
handler400, handler403, handler404, handler500 = (
    portal_urls.handler400,
    portal_urls.handler403,
    portal_urls.handler404,
    portal_urls.handler500,
)


def assert_portal_page(response, status: int, title: str) -> str:
    assert response.status_code == status
    body = response.content.decode()
    assert title in body
    assert 'class="card narrow"' in body  # the portal's layout
    for marker in TECHNICAL_MARKERS:
        assert marker not in body, marker
    return body


@pytest.fixture(params=[True, False], ids=["debug", "production"])
def mode(request, settings):
    settings.DEBUG = request.param
    settings.ROOT_URLCONF = __name__
    return request.param


def test_unknown_url_is_the_portal_404(client, portal, mode):
    assert_portal_page(client.get("/no/such/page/"), 404, "Page not found")


def test_another_customers_invoice_is_the_portal_404(client, user, mode):
    from tests.factories import CustomerFactory

    foreign = InvoiceFactory(customer=CustomerFactory(portal=user.portal))
    client.force_login(user)
    assert_portal_page(client.get(f"/invoices/{foreign.pk}/"), 404, "Page not found")


def test_a_crash_is_the_portal_500(portal, mode, caplog):
    crashing = Client(raise_request_exception=False, HTTP_HOST="acme.localhost")
    body = assert_portal_page(crashing.get("/_boom/"), 500, "Something went wrong")
    assert "secret detail" not in body
    assert any("secret detail" in str(record.exc_info) for record in caplog.records if record.exc_info)


def test_a_suspicious_request_is_the_portal_400(portal, mode):
    client = Client(HTTP_HOST="acme.localhost")
    assert_portal_page(client.get("/_suspicious/"), 400, "Bad request")


def test_a_stale_csrf_token_offers_a_reload(portal, mode):
    client = Client(enforce_csrf_checks=True, HTTP_HOST="acme.localhost")
    body = assert_portal_page(
        client.post("/login/?next=/invoices/", {"email": "a@example.com"}), 403, "Please reload the page"
    )
    assert 'href="/login/?next=/invoices/"' in body and "Reload and try again" in body


def test_the_reload_link_never_leaves_the_site(portal, settings):
    client = Client(enforce_csrf_checks=True, HTTP_HOST="acme.localhost")
    body = client.post("//evil.example/login/", {}).content.decode()
    assert 'href="//evil.example' not in body


def test_a_developer_can_ask_for_the_technical_pages(client, portal, settings):
    settings.DEBUG = True
    settings.DEBUG_TECHNICAL_PAGES = True
    settings.ROOT_URLCONF = __name__
    response = client.get("/no/such/page/")
    assert response.status_code == 404 and "URLconf" in response.content.decode()
