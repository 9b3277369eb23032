"""Client authentication at the token endpoint, and logout with and without an end-session endpoint."""

import base64
import re

import pytest
from django.core import mail

from tests.factories import ContactFactory

VERIFY_LINK = re.compile(r"(/accounts/verify/[^/\s\"<>]+/)")


def test_public_client_sends_its_id_in_the_body_and_no_secret(journey, sso_config, op):
    journey.login(sso_config)

    token_call = op.calls("/token")[0]
    assert token_call["form"]["client_id"] == sso_config.client_id
    assert "client_secret" not in token_call["form"]
    assert token_call["authorization"] == ""
    assert len(token_call["form"]["code_verifier"]) >= 43
    assert token_call["form"]["redirect_uri"] == sso_config.callback_url


def test_confidential_client_uses_basic_auth_by_default(journey, sso_config, op):
    sso_config.client_secret = "t0p-secret"
    sso_config.save()
    op.client_secret = "t0p-secret"

    journey.login(sso_config)

    token_call = op.calls("/token")[0]
    expected = base64.b64encode(f"{sso_config.client_id}:t0p-secret".encode()).decode()
    assert token_call["authorization"] == f"Basic {expected}"
    assert "client_secret" not in token_call["form"]


def test_confidential_client_posts_the_secret_when_that_is_all_the_provider_offers(journey, sso_config, op):
    sso_config.client_secret = "t0p-secret"
    sso_config.save()
    op.client_secret = "t0p-secret"
    op.knobs.discovery_overrides = {"token_endpoint_auth_methods_supported": ["client_secret_post"]}

    journey.login(sso_config)

    token_call = op.calls("/token")[0]
    assert token_call["form"]["client_secret"] == "t0p-secret"
    assert token_call["authorization"] == ""


def test_tenant_is_sent_to_the_token_endpoint(journey, sso_config, op):
    sso_config.tenant = "acme"
    sso_config.save()

    journey.login(sso_config)

    assert op.calls("/token")[0]["query"]["tenant"] == "acme"


@pytest.fixture
def signed_in(journey, sso_config, customer, django_capture_on_commit_callbacks):
    """An SSO session: first login, then the emailed link confirmed in this browser."""

    def sign_in():
        ContactFactory(customer=customer, email="alice@example.com")
        with django_capture_on_commit_callbacks(execute=True):
            journey.login(sso_config)
        link = VERIFY_LINK.search(mail.outbox[-1].body).group(1)
        journey.client.post(link)
        assert "_auth_user_id" in journey.client.session

    return sign_in


def test_logout_without_end_session_endpoint_goes_to_the_logout_redirect_url(
    journey, sso_config, op, signed_in
):
    op.knobs.discovery_overrides = {"end_session_endpoint": None}
    sso_config.logout_redirect_url = "https://support.acme.example/portal"
    sso_config.save()
    signed_in()

    response = journey.client.post("/logout/")

    assert response["Location"] == "https://support.acme.example/portal"
    assert "_auth_user_id" not in journey.client.session


def test_logout_with_nothing_configured_lands_on_the_login_page(journey, sso_config, op, signed_in):
    op.knobs.discovery_overrides = {"end_session_endpoint": None}
    signed_in()

    response = journey.client.post("/logout/")

    assert response["Location"] == "/login/"


def test_logout_get_only_asks(journey, sso_config, signed_in):
    signed_in()

    response = journey.client.get("/logout/")

    assert response.status_code == 200
    assert "_auth_user_id" in journey.client.session
