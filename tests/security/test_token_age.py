"""Item 8: an ID token issued long ago is refused even while its ``exp`` is still ahead."""

import time

import pytest

from sso.models import SSOEvent

pytestmark = pytest.mark.django_db


def test_a_week_old_token_with_exp_ahead_is_refused(journey, sso_config, op):
    now = int(time.time())
    op.knobs.claim_overrides = {"iat": now - 7 * 24 * 3600, "exp": now + 3600}

    response = journey.login(sso_config)

    assert response.status_code == 400
    assert "_auth_user_id" not in response.wsgi_request.session
    event = SSOEvent.objects.filter(config=sso_config).latest("id")
    assert (event.outcome, event.reason) == ("failure", "token_too_old")
    assert "SSO_MAX_TOKEN_AGE" in event.message


def test_the_limit_is_a_setting(journey, sso_config, op, settings):
    settings.SSO_MAX_TOKEN_AGE = 30
    settings.SSO_CLOCK_LEEWAY = 0
    op.knobs.claim_overrides = {"iat": int(time.time()) - 120}

    journey.login(sso_config)

    assert SSOEvent.objects.filter(config=sso_config).latest("id").reason == "token_too_old"


def test_a_token_within_the_limit_is_accepted(journey, sso_config, op, contact):
    op.knobs.claim_overrides = {"iat": int(time.time()) - 300}

    response = journey.login(sso_config)

    assert response.status_code == 302
    event = SSOEvent.objects.filter(config=sso_config).latest("id")
    assert (event.outcome, event.reason) == ("verify", "verification_sent")
