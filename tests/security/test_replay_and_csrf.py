"""Attacks that held: replaying a used callback, and login CSRF (a callback this browser never started).

A callback URL carries a one-time ``code`` and the ``state`` of a pending sign-in kept in the browser's
own session. These are regression tests: each fails if the single-use pop of the state, or the binding of
the state to the browser's session, is removed from ``sso.views`` / ``sso.state``.
"""

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.utils import timezone

from accounts.models import Identity
from sso.models import SSOEvent
from tests.sso import conftest as sso_fixtures
from tests.sso.conftest import Journey

pytestmark = pytest.mark.django_db

# The SSO suite's fixtures (a loopback provider, a config on it, a sign-in driver), reused here.
journey = sso_fixtures.journey
op = sso_fixtures.op
sso_config = sso_fixtures.sso_config


def _last_reason(config) -> str:
    return SSOEvent.objects.filter(config=config).latest("id").reason


def _signed_in(response) -> bool:
    return SESSION_KEY in response.wsgi_request.session


def test_replayed_callback_in_the_same_browser_is_refused(
    journey, sso_config, op, django_capture_on_commit_callbacks
):
    callback = journey.authorize(journey.start(sso_config))
    with django_capture_on_commit_callbacks(execute=True):
        first = journey.callback(callback)
    assert first.status_code == 302  # the first use goes on (to "check your email" on a first sign-in)
    token_calls = len(op.calls("/token"))

    replay = journey.callback(callback)

    assert replay.status_code == 400
    assert _last_reason(sso_config) == "state_unknown"
    assert not _signed_in(replay)
    assert len(op.calls("/token")) == token_calls  # the code was not presented to the provider again


def test_replayed_callback_after_a_real_sign_in_does_not_sign_in_again(
    journey, sso_config, op, user, django_capture_on_commit_callbacks
):
    """Alice's verified identity signs her in; the same callback URL, replayed, is refused unredeemed."""
    Identity.objects.create(
        portal=user.portal,
        sso_config=sso_config,
        issuer=sso_config.issuer,
        sub="halo-user-1",
        email="alice@example.com",
        user=user,
        verified_at=timezone.now(),
    )
    callback = journey.authorize(journey.start(sso_config))
    with django_capture_on_commit_callbacks(execute=True):
        ok = journey.callback(callback)
    assert ok.status_code == 302 and _signed_in(ok), ok.content[:300]
    token_calls = len(op.calls("/token"))

    replay = journey.callback(callback)

    assert replay.status_code == 400
    assert _last_reason(sso_config) == "state_unknown"
    assert len(op.calls("/token")) == token_calls
    assert SSOEvent.objects.filter(config=sso_config, reason="signed_in").count() == 1


def test_stolen_callback_replayed_from_another_browser_is_refused(journey, sso_config, op, portal):
    callback = journey.authorize(journey.start(sso_config))
    journey.callback(callback)  # the victim uses it
    attacker = Client(HTTP_HOST="acme.localhost")
    token_calls = len(op.calls("/token"))

    response = attacker.get(callback)

    assert response.status_code == 400
    assert not _signed_in(response)
    assert _last_reason(sso_config) == "state_unknown"
    assert len(op.calls("/token")) == token_calls


def test_login_csrf_callback_started_in_another_browser_is_refused(journey, sso_config, op, portal):
    """The attacker starts a sign-in as themselves and sends the victim the callback link."""
    attacker = Journey(Client(HTTP_HOST="acme.localhost"), op)
    forged = attacker.authorize(attacker.start(sso_config))
    victim = Client(HTTP_HOST="acme.localhost")
    victim.get(f"/sso/{sso_config.key}/login/")  # the victim even has a pending sign-in of their own
    op.reset_calls()

    response = victim.get(forged)

    assert response.status_code == 400
    assert not _signed_in(response)
    assert _last_reason(sso_config) == "state_unknown"
    assert op.calls("/token") == []  # the attacker's code was never redeemed in the victim's session
    assert Identity.objects.count() == 0


def test_login_csrf_with_no_session_at_all_is_refused(sso_config, op, portal):
    attacker = Journey(Client(HTTP_HOST="acme.localhost"), op)
    forged = attacker.authorize(attacker.start(sso_config))
    op.reset_calls()

    response = Client(HTTP_HOST="acme.localhost").get(forged)

    assert response.status_code == 400
    assert not _signed_in(response)
    assert op.calls("/token") == []


def test_code_injected_under_this_browsers_own_fresh_state_is_refused(journey, sso_config, op):
    """A code obtained for one sign-in, grafted onto another pending state of this same browser."""
    stolen = journey.authorize(journey.start(sso_config))
    own_state = journey.start(sso_config).split("state=")[1].split("&")[0]
    stolen_code = stolen.split("code=")[1].split("&")[0]

    response = journey.callback(f"/callback?iss={sso_config.key}&code={stolen_code}&state={own_state}")

    assert response.status_code in (400, 403, 502)
    assert not _signed_in(response)
    assert SSOEvent.objects.filter(config=sso_config).latest("id").outcome == "failure"
    assert Identity.objects.count() == 0
