"""New configs are not live until they work: "Test it, then enable it"."""

import uuid

import pytest
from django.urls import reverse

from sso.connection_test import sso_connection_test
from sso.models import SSOConfig
from sso.selectors import sso_login_buttons
from sso.services import sso_config_create, sso_config_update
from tests.factories import SSOConfigFactory
from tests.sso.test_admin import form_data, staff_client  # noqa: F401

pytestmark = pytest.mark.django_db


def test_a_new_config_starts_disabled_and_off_the_login_page(portal):
    config = sso_config_create(portal=portal, issuer="https://acme.halopsa.com/auth", client_id="c1")
    assert not config.enabled and not config.last_test_passed and config.last_tested_at is None
    assert list(sso_login_buttons(portal=portal)) == []


def test_the_add_form_starts_unticked_and_says_test_it_first(staff_client):  # noqa: F811
    page = staff_client.get(reverse("admin:sso_ssoconfig_add")).content.decode()
    assert 'name="enabled"' in page and 'name="enabled" checked' not in page
    assert "Test it, then enable it" in page


def test_enabling_an_untested_config_asks_for_confirmation(staff_client, portal):  # noqa: F811
    data = form_data(portal=portal.pk, issuer="https://fresh.halopsa.com/auth")
    del data["confirm_enable"]
    response = staff_client.post(reverse("admin:sso_ssoconfig_add"), data)
    assert response.status_code == 200
    assert "has not passed a Test connection" in response.content.decode()
    assert not SSOConfig.objects.filter(issuer="https://fresh.halopsa.com/auth").exists()

    data["confirm_enable"] = "on"
    response = staff_client.post(reverse("admin:sso_ssoconfig_add"), data)
    assert response.status_code == 302
    assert SSOConfig.objects.get(issuer="https://fresh.halopsa.com/auth").enabled


def test_saving_disabled_needs_no_confirmation(staff_client, portal):  # noqa: F811
    data = form_data(portal=portal.pk, issuer="https://quiet.halopsa.com/auth")
    del data["confirm_enable"], data["enabled"]
    assert staff_client.post(reverse("admin:sso_ssoconfig_add"), data).status_code == 302
    assert not SSOConfig.objects.get(issuer="https://quiet.halopsa.com/auth").enabled


@pytest.fixture
def tested_config(portal, standin):
    config = SSOConfigFactory(
        portal=portal,
        issuer=standin.issuer,
        client_id=f"portal-{uuid.uuid4().hex[:10]}",
        tenant=standin.tenant,
        enabled=False,
    )
    standin.add_client(config.client_id, redirect_uris=[config.callback_url])
    return config


def test_a_passing_test_lets_the_admin_enable_without_confirmation(staff_client, tested_config):  # noqa: F811
    report = sso_connection_test(config=tested_config)
    assert report.passed, report.checks
    tested_config.refresh_from_db()
    assert tested_config.last_test_passed and tested_config.last_tested_at is not None
    change = reverse("admin:sso_ssoconfig_change", args=[tested_config.pk])
    assert "Passed" in staff_client.get(change).content.decode()

    data = form_data(tested_config)
    del data["confirm_enable"]
    assert staff_client.post(change, data).status_code == 302
    tested_config.refresh_from_db()
    assert tested_config.enabled


def test_changing_a_tested_value_needs_a_new_test(tested_config):
    sso_connection_test(config=tested_config)
    tested_config.refresh_from_db()
    assert tested_config.last_test_passed
    sso_config_update(config=tested_config, description="Renamed")
    assert tested_config.last_test_passed  # the label is not tested
    sso_config_update(config=tested_config, client_id="another-client")
    tested_config.refresh_from_db()
    assert not tested_config.last_test_passed


def test_a_failing_test_is_remembered(portal):
    config = SSOConfigFactory(portal=portal, issuer="http://127.0.0.1:9/auth", enabled=False)
    assert not sso_connection_test(config=config).passed
    config.refresh_from_db()
    assert config.last_tested_at is not None and not config.last_test_passed


def test_the_demo_standin_passes_clean_for_a_public_client(tested_config):
    """The demo's own config (a public PKCE client at the stand-in) gets no warning at all."""
    report = sso_connection_test(config=tested_config)
    assert report.passed and report.warnings == [], [c.as_dict() for c in report.warnings]
    assert "accepts that" in report.check("Client authentication").message
