"""A sign-in that fails after the library's ``auth.login()`` ran leaves nobody signed in.

With sessions as in production (``portal.sessions`` on Redis): there the refusal page's session save
succeeds, so without the callback's own guard the browser would leave signed in. (With Django's
database sessions the save fails instead, because the rolled-back transaction took the new row.)
Needs ``TEST_BROKER_URL`` (the Makefile sets it).
"""

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import override_settings

import sso.views
from sso.errors import SSOFlowError
from sso.models import SSOEvent


@pytest.fixture(autouse=True)
def production_sessions(redis_cache):
    with override_settings(SESSION_ENGINE="portal.sessions"):
        yield


def test_a_refusal_after_login_leaves_the_browser_signed_out(
    journey, client, sso_config, returning_alice, monkeypatch
):
    """A 4xx refusal page is saved with its session (SessionMiddleware skips only 5xx): the user that
    ``auth.login()`` put there must be gone."""
    callback = journey.authorize(journey.start(sso_config))

    def session_start_refused(request, **kwargs):
        raise SSOFlowError("session_refused", "The provider's session could not be recorded.", status=400)

    monkeypatch.setattr(sso.views, "sso_session_start", session_start_refused)
    response = journey.callback(callback)

    assert response.status_code == 400
    assert SESSION_KEY not in client.session
    assert client.get("/").status_code == 302
    assert not SSOEvent.objects.filter(config=sso_config, reason="signed_in").exists()


def test_an_error_after_login_refuses_and_the_browser_is_not_signed_in(
    journey, client, sso_config, returning_alice, monkeypatch
):
    callback = journey.authorize(journey.start(sso_config))

    record = sso.views.sso_event_record

    def event_write_fails(**kwargs):
        if kwargs.get("reason") == "signed_in":  # the sign-in's own event row, after auth.login()
            raise RuntimeError("the event row could not be written")
        return record(**kwargs)

    monkeypatch.setattr(sso.views, "sso_event_record", event_write_fails)
    response = journey.callback(callback)

    assert response.status_code == 502
    assert SESSION_KEY not in client.session
    assert client.get("/").status_code == 302  # the dashboard sends them to sign in
    returning_alice.refresh_from_db()
    assert returning_alice.last_login is None  # the sign-in's writes were rolled back
    assert not SSOEvent.objects.filter(config=sso_config, reason="signed_in").exists()
