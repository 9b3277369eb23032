"""The HaloPSA connection's admin form and its "Test API connection" action with odd input or answers."""

from urllib.parse import parse_qs

import pytest
from django.contrib.auth.models import Permission

from halo.models import HaloConnection
from tests.docserver import docserver_fixture  # noqa: F401
from tests.factories import HaloConnectionFactory, UserFactory

pytestmark = pytest.mark.django_db

HALO_URL = "/admin/halo/haloconnection/"


@pytest.fixture
def staff(client, portal):
    user = UserFactory(portal=portal, email="it@example.com", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label__in=["halo", "portal"]))
    client.force_login(user)
    client.raise_request_exception = False
    return client


def form(portal, **over):
    return {
        "portal": portal.pk, "api_url": "https://acme.halopsa.example/api",
        "auth_url": "https://acme.halopsa.example/auth", "client_id": "portal-sync",
        "client_secret": "new-sync-secret", "tenant": "demo", "scope": "all", "enabled": "on",
        "sync_interval_minutes": "15", **over,
    }  # fmt: skip


def run_connection_test(staff, connection):
    return staff.post(
        HALO_URL, {"action": "test_connection", "_selected_action": [connection.pk]}, follow=True
    )


@pytest.fixture
def at_docserver(portal, docserver):
    return HaloConnectionFactory(
        portal=portal, api_url=docserver.url("/api"), auth_url=docserver.url("/auth")
    )


@pytest.mark.parametrize("error", [["invalid_client"], {"code": "x"}])
def test_a_token_error_that_is_no_code_is_reported_not_a_500(staff, at_docserver, docserver, error):
    docserver.set_json("/auth/token", {"error": error}, status=400)
    response = run_connection_test(staff, at_docserver)
    assert response.status_code == 200
    assert "The token endpoint answered HTTP 400" in response.content.decode()


def test_what_halopsa_answers_is_shown_cleaned_and_capped(staff, at_docserver, docserver):
    docserver.set_json("/auth/token", {"error": "<b>x</b>" + "A" * 2000}, status=400)
    assert "A" * 65 not in run_connection_test(staff, at_docserver).content.decode()
    docserver.set_json("/auth/token", {"access_token": "tok", "expires_in": 3600})
    docserver.set_json("/api/AuthInfo", {"tenant_id": "demo\n" + "B" * 2000})
    body = run_connection_test(staff, at_docserver).content.decode()
    assert "The API answered (tenant demo B" in body and "B" * 65 not in body


def test_a_tenant_is_one_word_and_travels_encoded(staff, portal, at_docserver, docserver):
    smuggled = "demo&client_id=attacker&scope=admin"
    data = form(portal, api_url=docserver.url("/api"), auth_url=docserver.url("/auth"), tenant=smuggled)
    response = staff.post(f"{HALO_URL}{at_docserver.pk}/change/", data)
    assert response.status_code == 200 and "single word" in response.content.decode()
    HaloConnection.objects.filter(pk=at_docserver.pk).update(tenant=smuggled)  # stored before the rule
    docserver.set_json("/auth/token", {"error": "invalid_client"}, status=400)
    run_connection_test(staff, at_docserver)
    query = parse_qs(docserver.requests_to("/auth/token")[-1].query)
    assert query == {"tenant": [smuggled]}


@pytest.mark.parametrize(
    "field, value",
    [
        ("api_url", "https://169.254.169.254/api"),
        ("api_url", "https://10.0.0.5/api"),
        ("api_url", "https://127.0.0.1:6379/api"),
        ("api_url", "https://[::1]/api"),
        ("auth_url", "ftp://acme.halopsa.example/auth"),
        ("api_url", "https://acme.halopsa.example:99999/api"),
    ],
)
def test_addresses_the_portal_would_not_call_are_refused_on_save(staff, portal, settings, field, value):
    """As in production: no networks allowed beyond the public internet, https only."""
    settings.SSO_PROVIDER_ALLOWED_NETWORKS = []
    settings.SSO_ALLOW_INSECURE_HTTP = False
    response = staff.post(f"{HALO_URL}add/", form(portal, **{field: value}))
    assert response.status_code == 200
    assert not HaloConnection.objects.exists()


@pytest.mark.parametrize(
    "field, value",
    [
        ("api_url", "https://acme.halopsa.example/api?x=1"),
        ("auth_url", "https://acme.halopsa.example/auth#f"),
    ],
)
def test_a_url_with_a_query_or_fragment_is_refused_by_name(staff, portal, field, value):
    """Paths are appended to these URLs: "?x=1" would land in the middle of every call's URL."""
    response = staff.post(f"{HALO_URL}add/", form(portal, **{field: value}))
    assert response.status_code == 200
    assert "without “?…” or “#…”" in response.content.decode()
    assert not HaloConnection.objects.exists()


def test_a_public_host_name_is_saved_without_resolving_it(staff, portal, settings):
    settings.SSO_PROVIDER_ALLOWED_NETWORKS = []
    settings.SSO_ALLOW_INSECURE_HTTP = False
    response = staff.post(f"{HALO_URL}add/", form(portal))  # acme.halopsa.example resolves nowhere here
    assert response.status_code == 302
    assert HaloConnection.objects.get().api_url == "https://acme.halopsa.example/api"
