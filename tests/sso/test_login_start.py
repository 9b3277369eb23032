import base64
import hashlib

import pytest

from sso.models import SSOEvent
from tests.factories import PortalFactory, SSOConfigFactory
from tests.sso.conftest import query_of


def pending_states(client) -> dict:
    return client.session.get("oidc_states", {})


def test_redirects_to_the_authorization_endpoint_with_pkce_state_and_nonce(client, sso_config, op):
    response = client.get(f"/sso/{sso_config.key}/login/")

    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(f"{op.issuer}/authorize?")
    params = query_of(location)
    assert params["response_type"] == "code"
    assert params["client_id"] == sso_config.client_id
    assert params["redirect_uri"] == f"http://acme.localhost:8000/callback?iss={sso_config.key}"
    assert params["scope"] == "openid profile email"
    assert params["code_challenge_method"] == "S256"
    assert "tenant" not in params
    entry = pending_states(client)[params["state"]]
    assert 43 <= len(entry["code_verifier"]) <= 128
    expected = base64.urlsafe_b64encode(hashlib.sha256(entry["code_verifier"].encode()).digest()).rstrip(b"=")
    assert params["code_challenge"] == expected.decode()
    assert entry["nonce"] == params["nonce"]
    assert entry["config_key"] == sso_config.key


def test_sends_the_halopsa_tenant_when_set(client, sso_config):
    sso_config.tenant = "acme"
    sso_config.save()

    params = query_of(client.get(f"/sso/{sso_config.key}/login/")["Location"])

    assert params["tenant"] == "acme"


def test_each_start_gets_a_fresh_state_nonce_and_verifier_and_all_stay_pending(client, sso_config):
    first = query_of(client.get(f"/sso/{sso_config.key}/login/")["Location"])
    second = query_of(client.get(f"/sso/{sso_config.key}/login/")["Location"])

    assert first["state"] != second["state"]
    assert first["nonce"] != second["nonce"]
    assert first["code_challenge"] != second["code_challenge"]
    assert {first["state"], second["state"]} <= set(pending_states(client))


@pytest.mark.parametrize(
    ("next_url", "kept"),
    [
        ("/invoices/42/", "/invoices/42/"),
        ("/invoices/?status=open", "/invoices/?status=open"),
        ("https://evil.example/phish", ""),
        ("//evil.example/phish", ""),
        ("/\\evil.example", ""),
        ("javascript:alert(1)", ""),
    ],
)
def test_only_a_local_next_is_remembered(client, sso_config, next_url, kept):
    params = query_of(client.get(f"/sso/{sso_config.key}/login/", {"next": next_url})["Location"])

    assert pending_states(client)[params["state"]]["next"] == kept


def test_disabled_config_shows_a_page_and_does_not_redirect(client, sso_config):
    sso_config.enabled = False
    sso_config.save()

    response = client.get(f"/sso/{sso_config.key}/login/")

    assert response.status_code == 403
    assert b"turned off" in response.content
    assert SSOEvent.objects.get(config=sso_config).reason == "config_disabled"


def test_another_portals_key_is_not_found_here(client, portal, op):
    elsewhere = SSOConfigFactory(portal=PortalFactory(url="http://globex.localhost"), issuer=op.issuer)

    response = client.get(f"/sso/{elsewhere.key}/login/")

    assert response.status_code == 404
    assert b"set up for this portal" in response.content
    event = SSOEvent.objects.get()
    assert (event.portal, event.reason, event.config) == (portal, "unknown_config", None)
    assert op.calls() == []


def test_discovery_issuer_mismatch_refuses_before_any_redirect(client, sso_config, op):
    op.knobs.discovery_overrides = {"issuer": op.issuer + "/"}

    response = client.get(f"/sso/{sso_config.key}/login/")

    assert response.status_code == 502
    event = SSOEvent.objects.get(config=sso_config)
    assert event.reason == "issuer_mismatch"
    assert op.issuer + "/" in event.message


def test_provider_without_s256_is_refused(client, sso_config, op):
    op.knobs.discovery_overrides = {"code_challenge_methods_supported": ["plain"]}

    response = client.get(f"/sso/{sso_config.key}/login/")

    assert response.status_code == 502
    assert SSOEvent.objects.get(config=sso_config).reason == "pkce_s256_unsupported"


def test_unreachable_provider_gives_a_friendly_page(client, portal):
    config = SSOConfigFactory(portal=portal, issuer="http://127.0.0.1:9/auth")

    response = client.get(f"/sso/{config.key}/login/")

    assert response.status_code == 503
    assert b"answering right now" in response.content
    assert SSOEvent.objects.get(config=config).reason == "discovery_unreachable"


def test_a_provider_the_portal_may_not_call_is_not_set_up_not_down(client, sso_config, settings):
    """An address the portal's own rules refuse (here: loopback, no networks allowed) is a setup
    problem: "try again in a few minutes" would never help."""
    settings.SSO_PROVIDER_ALLOWED_NETWORKS = []

    response = client.get(f"/sso/{sso_config.key}/login/")

    assert response.status_code == 502
    assert b"not set up correctly" in response.content and b"answering right now" not in response.content
    assert SSOEvent.objects.get(config=sso_config).reason == "discovery_policy"


def test_discovery_is_cached_between_logins(client, sso_config, op):
    client.get(f"/sso/{sso_config.key}/login/")
    client.get(f"/sso/{sso_config.key}/login/")

    assert len(op.calls("/openid-configuration")) == 1


@pytest.mark.parametrize(
    ("key", "status"), [("%00", 400), ("abc%00def", 400), ("k" * 41, 404), ("ÄÖÜ", 404), ("a b", 404)]
)
def test_malformed_keys_are_refused(client, portal, key, status):
    response = client.get(f"/sso/{key}/login/")

    assert response.status_code == status
