"""Attacks that held: IdP mix-up (RFC 9207 and the config bound to the state).

Two providers are configured on one portal; one is hostile. The callback takes its config from the
URL's ``iss`` key, and must refuse when that key is not the config the pending state was started for,
or when the provider's appended ``iss`` (RFC 9207) is not that config's issuer. Neither provider's
token endpoint is called for a refused callback.
"""

import pytest
from django.contrib.auth import SESSION_KEY

from sso.models import SSOEvent
from tests.factories import SSOConfigFactory
from tests.oidc_op import TinyOP
from tests.sso import conftest as sso_fixtures

pytestmark = pytest.mark.django_db

# The SSO suite's fixtures (a loopback provider, a config on it, a sign-in driver), reused here.
journey = sso_fixtures.journey
op = sso_fixtures.op
sso_config = sso_fixtures.sso_config


@pytest.fixture
def hostile_op():
    provider = TinyOP(client_id="evil-client")
    yield provider
    provider.stop()


@pytest.fixture
def hostile_config(portal, hostile_op):
    return SSOConfigFactory(
        portal=portal, issuer=hostile_op.issuer, client_id=hostile_op.client_id, description="Other IdP"
    )


def _refused(response, config, reason):
    assert response.status_code == 400, response.content[:300]
    assert SESSION_KEY not in response.wsgi_request.session
    event = SSOEvent.objects.filter(config=config).latest("id")
    assert (event.outcome, event.reason) == ("failure", reason), event.message


def test_code_for_config_a_presented_under_config_b_key_is_refused(
    journey, sso_config, hostile_config, op, hostile_op
):
    callback = journey.authorize(journey.start(sso_config))
    op.reset_calls()
    hostile_op.reset_calls()

    response = journey.callback(callback.replace(f"iss={sso_config.key}", f"iss={hostile_config.key}"))

    _refused(response, hostile_config, "state_config_mismatch")
    assert hostile_op.calls("/token") == []  # A's code never reaches B's token endpoint
    assert op.calls("/token") == []


def test_state_of_config_b_with_a_code_under_config_a_key_is_refused(
    journey, sso_config, hostile_config, op, hostile_op
):
    """The hostile provider's own sign-in state, relabelled as the honest config's callback."""
    callback = journey.authorize(journey.start(hostile_config))
    op.reset_calls()

    response = journey.callback(callback.replace(f"iss={hostile_config.key}", f"iss={sso_config.key}"))

    _refused(response, sso_config, "state_config_mismatch")
    assert op.calls("/token") == []


def test_rfc9207_iss_of_another_provider_is_refused(journey, sso_config, hostile_config, op, hostile_op):
    op.knobs.append_iss = hostile_op.issuer  # the authorization response claims to come from B
    callback = journey.authorize(journey.start(sso_config))
    op.reset_calls()

    response = journey.callback(callback)

    _refused(response, sso_config, "callback_issuer_mismatch")
    assert op.calls("/token") == [] and hostile_op.calls("/token") == []


def test_rfc9207_iss_of_config_b_key_is_refused(journey, sso_config, hostile_config, op):
    """``iss`` set to B's *key* (not an issuer URL) is still not A's issuer."""
    op.knobs.append_iss = hostile_config.key
    callback = journey.authorize(journey.start(sso_config))

    _refused(journey.callback(callback), sso_config, "callback_issuer_mismatch")


def test_rfc9207_matching_iss_is_accepted(journey, sso_config, op, django_capture_on_commit_callbacks):
    """The control: the right appended issuer goes on to the token exchange."""
    op.knobs.append_iss = op.issuer
    callback = journey.authorize(journey.start(sso_config))
    with django_capture_on_commit_callbacks(execute=True):
        response = journey.callback(callback)

    assert response.status_code == 302, response.content[:300]
    assert len(op.calls("/token")) == 1
