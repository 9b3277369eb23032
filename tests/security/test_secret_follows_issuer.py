"""Item 7: a stored client secret never follows a config to another issuer or client ID.

The attack: staff point an existing config's issuer at a provider they run and press Try sign-in;
the token request then carried ``Basic <client>:<secret>`` of the real HaloPSA application there.
"""

import pytest

from accounts.models import AuditEvent
from sso.models import SSOConfig
from sso.services import sso_config_update
from tests.factories import SSOConfigFactory
from tests.sso.test_admin import form_data, sso_staff, url

pytestmark = pytest.mark.django_db

SECRET = "Sup3r-Secret-Value-42"


@pytest.fixture
def config(portal):
    return SSOConfigFactory(
        portal=portal, issuer="https://acme.halopsa.com/auth", client_id="real-app", client_secret=SECRET
    )


@pytest.mark.parametrize(
    "change",
    [{"issuer": "https://evil.example/auth"}, {"client_id": "other-app"}],
    ids=["issuer", "client_id"],
)
def test_a_new_issuer_or_client_id_clears_the_stored_secret(config, change):
    sso_config_update(config=config, **change)

    config.refresh_from_db()
    assert config.client_secret == ""
    audit = AuditEvent.objects.filter(kind="sso_config_updated").get()
    assert "client_secret" in audit.detail["fields"]


def test_a_secret_entered_in_the_same_save_is_kept(config):
    sso_config_update(config=config, issuer="https://new.halopsa.com/auth", client_secret="new-secret")

    config.refresh_from_db()
    assert config.client_secret == "new-secret"


def test_other_changes_keep_the_secret(config):
    sso_config_update(config=config, description="Sign in with Acme", tenant="acme")

    config.refresh_from_db()
    assert config.client_secret == SECRET


def test_admin_issuer_change_with_blank_secret_clears_it_and_says_so(client, portal, config):
    client.force_login(sso_staff(portal))

    response = client.post(
        url("ssoconfig_change", config.pk),
        form_data(config, issuer="https://evil.example/auth", client_secret=""),
        follow=True,
    )

    assert response.status_code == 200
    assert SSOConfig.objects.get(pk=config.pk).client_secret == ""
    assert "stored client secret was removed" in response.content.decode()
    assert SECRET not in response.content.decode()


def test_admin_description_change_with_blank_secret_keeps_it(client, portal, config):
    client.force_login(sso_staff(portal))

    client.post(url("ssoconfig_change", config.pk), form_data(config, description="Acme", client_secret=""))

    assert SSOConfig.objects.get(pk=config.pk).client_secret == SECRET
