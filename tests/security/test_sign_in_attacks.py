"""Attacks on the sign-in that held (issue 8, section 9): replay, login CSRF, mix-up, foreign keys.

Each drives the real flow (our login start -> a loopback provider -> our callback) as the
attacker would, and asserts the portal refuses and signs nobody in.
"""

import pytest
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.test import Client

from sso.models import SSOEvent
from tests.accounts.helpers import code_from
from tests.factories import SSOConfigFactory
from tests.sso.conftest import Journey

pytestmark = pytest.mark.django_db


def last_reason(config) -> str:
    return SSOEvent.objects.filter(config=config).latest("id").reason


def acme_browser() -> Client:
    c = Client()
    c.defaults["HTTP_HOST"] = "acme.localhost"
    return c


def signed_in(response) -> bool:
    return SESSION_KEY in response.wsgi_request.session


# --- replay -------------------------------------------------------------------------------------


def test_replaying_a_callback_url_is_refused(journey, sso_config, op, contact):
    callback = journey.authorize(journey.start(sso_config))
    first = journey.callback(callback)
    assert first.status_code == 302

    again = journey.callback(callback)

    assert again.status_code == 400
    assert last_reason(sso_config) == "state_unknown"


def test_a_stolen_callback_url_is_useless_in_another_browser(journey, sso_config, op, contact):
    """The code and state leaked (history, log, Referer): the attacker's browser has no such state."""
    callback = journey.authorize(journey.start(sso_config))

    response = acme_browser().get(callback)

    assert response.status_code == 400
    assert not signed_in(response)
    assert last_reason(sso_config) == "state_unknown"
    assert not op.calls("/token")  # the code was never even exchanged


def test_a_login_code_works_once(client, contact, request_code):
    request_code("alice@example.com")
    code = code_from(mail.outbox[-1])
    assert client.post("/login/code/", {"code": code}).status_code == 302
    client.post("/logout/")

    request_code("alice@example.com")
    mail.outbox.clear()
    response = client.post("/login/code/", {"code": code})

    assert not signed_in(response)


# --- login CSRF -----------------------------------------------------------------------------------


def test_login_csrf_an_attackers_callback_does_not_sign_the_victim_in(sso_config, op, contact):
    """The attacker starts a sign-in as themselves and makes the victim's browser open the callback."""
    attacker = Journey(acme_browser(), op)
    op.knobs.user = {"sub": "attacker-1", "email": "mallory@example.com", "name": "Mallory"}
    callback = attacker.authorize(attacker.start(sso_config))

    victim = acme_browser()
    victim.get("/login/")
    response = victim.get(callback)

    assert response.status_code == 400
    assert not signed_in(response)
    assert last_reason(sso_config) == "state_unknown"


def test_the_code_login_form_needs_its_csrf_token(portal, contact):
    victim = Client(enforce_csrf_checks=True, HTTP_HOST="acme.localhost")

    response = victim.post("/login/", {"email": "alice@example.com"})

    assert response.status_code == 403
    assert not mail.outbox


# --- mix-up ------------------------------------------------------------------------------------


def test_a_state_of_one_config_with_another_configs_callback_is_refused(journey, sso_config, op, portal):
    other = SSOConfigFactory(portal=portal, issuer="https://other.halopsa.example/auth", client_id="x")
    callback = journey.authorize(journey.start(sso_config))

    response = journey.callback(callback.replace(f"iss={sso_config.key}", f"iss={other.key}"))

    assert response.status_code == 400
    assert last_reason(other) == "state_config_mismatch"
    assert not op.calls("/token")


def test_an_rfc9207_iss_of_another_issuer_is_refused(journey, sso_config, op):
    op.knobs.append_iss = "https://attacker.example/auth"

    response = journey.login(sso_config)

    assert response.status_code == 400
    assert last_reason(sso_config) == "callback_issuer_mismatch"
    assert not op.calls("/token")


def test_an_id_token_from_another_issuer_is_refused(journey, sso_config, op):
    op.knobs.claim_overrides = {"iss": "https://attacker.example/auth"}

    response = journey.login(sso_config)

    assert not signed_in(response)
    assert last_reason(sso_config) == "token_issuer_mismatch"


# --- foreign config keys ---------------------------------------------------------------------------


def test_another_portals_config_key_is_unknown_here(client, portal, other_portal, op):
    foreign = SSOConfigFactory(portal=other_portal, issuer=op.issuer, client_id=op.client_id)

    start = client.get(f"/sso/{foreign.key}/login/")
    callback = client.get(f"/callback?iss={foreign.key}&code=x&state=y")

    assert start.status_code == 404
    assert callback.status_code == 400
    assert not op.calls()  # no provider of the other portal was contacted
    assert set(SSOEvent.objects.values_list("portal_id", "reason")) == {(portal.pk, "unknown_config")}
