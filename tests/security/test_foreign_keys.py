"""Attacks that held: another portal's SSO config key used on this portal's host.

Keys are public (they are in the login URLs registered at HaloPSA). A key of portal B presented on
portal A's host is "not found": 404 at login start and Try sign-in, 400 at the callback, and the
provider of B's config is never called (no discovery, no token exchange), so one tenant cannot make
another tenant's provider work for it, nor learn whether the key exists.
"""

import re

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client

from sso.models import SSOEvent
from tests.factories import SSOConfigFactory, UserFactory
from tests.sso import conftest as sso_fixtures
from tests.sso.conftest import Journey

pytestmark = pytest.mark.django_db

# The SSO suite's fixtures (a loopback provider, a config on it, a sign-in driver), reused here.
op = sso_fixtures.op


@pytest.fixture
def foreign_config(portal, other_portal, op):
    """Globex's config (host globex.localhost), pointing at a working provider; Acme exists too."""
    return SSOConfigFactory(portal=other_portal, issuer=op.issuer, client_id=op.client_id)


def test_foreign_key_login_start_is_404_and_calls_no_provider(client, foreign_config, op):
    response = client.get(f"/sso/{foreign_config.key}/login/", {"next": "/invoices/"})

    assert response.status_code == 404
    assert op.calls() == []
    event = SSOEvent.objects.latest("id")
    assert (event.reason, event.config, event.portal.host) == ("unknown_config", None, "acme.localhost")


def test_the_same_key_works_on_its_own_portal(foreign_config, op):
    """The control: on Globex's host the key starts a sign-in (so the 404 above is the scoping)."""
    response = Client(HTTP_HOST="globex.localhost").get(f"/sso/{foreign_config.key}/login/")

    assert response.status_code == 302
    assert response["Location"].startswith(op.issuer + "/authorize")


def test_foreign_key_answers_like_a_key_that_never_existed(client, foreign_config):
    foreign = client.get(f"/sso/{foreign_config.key}/login/")
    missing = client.get("/sso/no-such-key-0000/login/")

    assert foreign.status_code == missing.status_code == 404

    def page(response, key: str) -> bytes:  # the per-request CSP nonce aside
        return re.sub(rb'nonce="[^"]*"', b"", response.content.replace(key.encode(), b"K"))

    assert page(foreign, foreign_config.key) == page(missing, "no-such-key-0000")


def test_foreign_key_try_sign_in_is_404_even_for_this_portals_staff(client, portal, foreign_config, op):
    client.force_login(UserFactory(portal=portal, email="staff@example.com", is_staff=True))

    response = client.get(f"/sso/{foreign_config.key}/try/")

    assert response.status_code == 404
    assert op.calls() == []


def test_foreign_key_callback_is_refused_without_a_token_exchange(client, foreign_config, op):
    """A real code and state from a Globex sign-in, replayed at Acme's callback."""
    globex = Journey(Client(HTTP_HOST="globex.localhost"), op)
    callback = globex.authorize(globex.start(foreign_config))
    op.reset_calls()
    client.cookies = globex.client.cookies  # even with Globex's session cookie copied over

    response = client.get(callback)

    assert response.status_code == 400
    assert SESSION_KEY not in response.wsgi_request.session
    assert op.calls() == []
    assert SSOEvent.objects.latest("id").reason == "unknown_config"
