"""Try sign-in never strands the admin (issue 10, item 2).

It probes first and shows what the provider would refuse instead of redirecting there; a discovery
404 says the issuer probably lacks /auth; the report is an admin page with dates, not epochs.
"""

import re
import uuid

import pytest

from sso.dry_run import DryRunReport
from tests.docserver import docserver_fixture  # noqa: F401
from tests.factories import SSOConfigFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client, portal):
    client.force_login(UserFactory(portal=portal, email="it@acme.example", is_staff=True))
    return client


def test_a_refused_client_is_shown_instead_of_sending_the_admin_off(staff, portal, standin):
    config = SSOConfigFactory(
        portal=portal, issuer=standin.issuer, client_id="never-registered-client", tenant=standin.tenant
    )
    response = staff.get(f"/sso/{config.key}/try/")
    assert response.status_code == 200  # not a 302 to the provider's error page
    body = response.content.decode()
    assert "Not started" in body
    assert "does not know client ID “never-registered-client”" in body
    assert 'class="breadcrumbs"' in body and f"/admin/sso/ssoconfig/{config.pk}/change/" in body


def test_good_values_go_straight_to_the_provider(staff, portal, standin):
    config = SSOConfigFactory(
        portal=portal,
        issuer=standin.issuer,
        client_id=f"portal-{uuid.uuid4().hex[:8]}",
        tenant=standin.tenant,
    )
    standin.add_client(config.client_id, redirect_uris=[config.callback_url])
    response = staff.get(f"/sso/{config.key}/try/")
    assert response.status_code == 302
    assert response["Location"].startswith(f"{standin.issuer}/authorize/")


def test_a_discovery_404_says_the_issuer_probably_lacks_auth(staff, portal, docserver):
    config = SSOConfigFactory(portal=portal, issuer=docserver.url(""))  # HaloPSA's host, without /auth
    body = staff.get(f"/sso/{config.key}/try/").content.decode()
    assert "Not found (HTTP 404)" in body
    assert f"try {docserver.url('')}/auth" in body
    assert "isn't answering" not in body


def test_the_login_flow_says_not_set_up_rather_than_down(client, portal, docserver):
    config = SSOConfigFactory(portal=portal, issuer=docserver.url("/wrong"))
    response = client.get(f"/sso/{config.key}/login/")
    assert response.status_code == 502
    body = response.content.decode()
    assert "not set up correctly" in body and "isn't answering" not in body
    from sso.models import SSOEvent

    assert SSOEvent.objects.get(config=config).reason == "discovery_not_found"


def test_claim_times_are_dates_not_epochs():
    report = DryRunReport(claims={"sub": "1", "iat": 1796126400, "exp": 1796130000, "acr": "1"})
    rows = {key: shown for key, shown, _raw in report.claim_rows}
    assert rows["iat"] == "2026-12-01 12:00:00 UTC"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", rows["exp"])
    assert rows["acr"] == "1"


def test_the_report_is_an_admin_page_with_a_way_back(staff, journey, sso_config):
    authorize = staff.get(f"/sso/{sso_config.key}/try/")["Location"]
    response = journey.callback(journey.authorize(authorize))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="site-name"' in body  # the admin header
    assert '<div class="breadcrumbs">' in body
    assert f'href="/admin/sso/ssoconfig/{sso_config.pk}/change/">Back to' in body
    assert re.search(
        r"<th scope=\"row\">iat</th><td><time title=\"\d+\">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", body
    )
