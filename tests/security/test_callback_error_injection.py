"""Issue 8 item 8b: nobody can write text into a config's "Last attempts" through the callback.

``/callback?iss=<key>&error=…&error_description=…`` is open to anyone. A provider's error is
recorded only when it answers a login this browser started with that config; otherwise it is
counted, and its text is kept nowhere.
"""

import pytest

from sso.models import SSOEvent
from sso.views import unsolicited_provider_error_count
from tests.factories import SSOConfigFactory
from tests.oidc_op import TinyOP

pytestmark = pytest.mark.django_db

INJECTED = "Your+account+is+suspended.+Call+0900-SCAM+now"


@pytest.fixture
def op():
    provider = TinyOP()
    yield provider
    provider.stop()


@pytest.mark.parametrize("state", ["", "&state=made-up-state"])
def test_an_error_without_a_pending_state_writes_nothing(client, portal, state):
    config = SSOConfigFactory(portal=portal)

    response = client.get(
        f"/callback?iss={config.key}&error=server_error&error_description={INJECTED}{state}"
    )

    assert response.status_code == 400
    assert b"0900-SCAM" not in response.content
    assert not SSOEvent.objects.filter(config=config).exists()
    assert unsolicited_provider_error_count(config=config) == 1


def test_a_state_of_another_config_does_not_make_it_solicited(client, portal, op):
    config = SSOConfigFactory(portal=portal, issuer=op.issuer, client_id=op.client_id)
    victim = SSOConfigFactory(portal=portal)
    authorize = client.get(f"/sso/{config.key}/login/")["Location"]
    state = authorize.split("state=")[1].split("&")[0]

    client.get(f"/callback?iss={victim.key}&error=server_error&error_description={INJECTED}&state={state}")

    assert not SSOEvent.objects.filter(config=victim).exists()
    assert unsolicited_provider_error_count(config=victim) == 1


def test_an_error_answering_a_pending_login_is_recorded(client, portal, op):
    config = SSOConfigFactory(portal=portal, issuer=op.issuer, client_id=op.client_id)
    authorize = client.get(f"/sso/{config.key}/login/")["Location"]
    state = authorize.split("state=")[1].split("&")[0]

    response = client.get(
        f"/callback?iss={config.key}&error=access_denied&error_description=User+cancelled&state={state}"
    )

    assert response.status_code == 403
    event = SSOEvent.objects.get(config=config, reason="provider_error")
    assert "access_denied" in event.message and "User cancelled" in event.message
    assert unsolicited_provider_error_count(config=config) == 0
