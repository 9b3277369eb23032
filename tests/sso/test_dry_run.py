"""Try sign-in from the admin: a real login with one config that signs nobody in."""

from urllib.parse import parse_qs, urlsplit

import pytest

from sso.models import SSOEvent
from tests.factories import PortalFactory, UserFactory


def try_url(config) -> str:
    return f"/sso/{config.key}/try/"


def test_staff_sees_claims_checks_and_contact_match_without_losing_their_session(
    client, journey, sso_config, portal, contact
):
    admin = UserFactory(portal=portal, email="it@acme.example", is_staff=True)
    client.force_login(admin)
    session_key = client.session.session_key

    authorize = client.get(try_url(sso_config))["Location"]
    response = journey.callback(journey.authorize(authorize))

    assert response.status_code == 200
    report = response.context["report"]
    assert report.passed
    assert report.claims["sub"] == "halo-user-1"
    assert report.claims["email"] == "alice@example.com"
    assert report.contact_matches is True
    assert [c.url.rsplit("/", 1)[-1] for c in report.calls] == ["token", "jwks"]
    assert all(c.duration_ms >= 0 for c in report.calls)
    assert client.session.session_key == session_key
    assert client.session["_auth_user_id"] == str(admin.pk)
    event = SSOEvent.objects.get(config=sso_config, outcome="dry_run")
    assert event.reason == "dry_run_passed"
    assert event.sub == "halo-user-1"


def test_a_failing_check_is_named(client, journey, sso_config, portal, op):
    client.force_login(UserFactory(portal=portal, is_staff=True))
    op.knobs.claim_overrides = {"aud": "another-client"}

    response = journey.callback(journey.authorize(client.get(try_url(sso_config))["Location"]))

    report = response.context["report"]
    assert not report.passed
    failed = [s for s in report.steps if not s.ok]
    assert len(failed) == 1
    assert "audience_mismatch" in failed[0].message
    assert SSOEvent.objects.get(config=sso_config, outcome="dry_run").reason == "dry_run_failed"


def test_no_contact_for_that_email_is_reported(client, journey, sso_config, portal, op):
    client.force_login(UserFactory(portal=portal, is_staff=True))
    op.knobs.user = {"sub": "x", "email": "stranger@example.com"}

    response = journey.callback(journey.authorize(client.get(try_url(sso_config))["Location"]))

    assert response.context["report"].contact_matches is False


def test_people_who_are_not_staff_cannot_start_one(client, sso_config, portal, op):
    client.force_login(UserFactory(portal=portal))

    response = client.get(try_url(sso_config))

    assert response.status_code == 403
    assert op.calls() == []


def test_staff_of_another_portal_cannot_start_one(client, sso_config, op):
    client.force_login(UserFactory(portal=PortalFactory(), is_staff=True))

    assert client.get(try_url(sso_config)).status_code == 403


def test_anonymous_cannot_start_one(client, sso_config):
    assert client.get(try_url(sso_config)).status_code == 403


@pytest.mark.parametrize("error", ["access_denied", "login_required", "server_error"])
def test_a_try_sign_in_the_provider_refuses_is_reported_and_keeps_the_admin_signed_in(
    client, sso_config, portal, error
):
    """Cancelled at HaloPSA, or HaloPSA's own failure: the admin sees it in the report, still signed in."""
    admin = UserFactory(portal=portal, email="it@acme.example", is_staff=True)
    client.force_login(admin)
    authorize = client.get(try_url(sso_config))["Location"]
    state = parse_qs(urlsplit(authorize).query)["state"][0]
    response = client.get(
        f"/callback?iss={sso_config.key}&error={error}&error_description=No+thanks&state={state}"
    )
    assert response.status_code == 200
    report = response.context["report"]
    assert not report.passed
    assert report.steps[0].message == f"The provider answered error={error!r}: No thanks"
    assert client.session["_auth_user_id"] == str(admin.pk)
    assert SSOEvent.objects.get(config=sso_config, outcome="dry_run").reason == "dry_run_failed"
