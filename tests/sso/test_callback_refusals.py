"""Every check of the callback (issue 3, point 5): each refusal is a 4xx page (or 5xx gateway
page when the provider failed) and an event-log row naming the precise reason."""

import time

import pytest

from sso.models import SSOEvent
from tests.factories import SSOConfigFactory
from tests.oidc_op import public_jwk, rsa_key


def assert_refused(response, config, reason: str, status: int = 400):
    assert response.status_code == status, response.content[:300]
    assert response["Referrer-Policy"] == "no-referrer"
    assert "_auth_user_id" not in response.wsgi_request.session
    event = SSOEvent.objects.filter(config=config).latest("id")
    assert (event.outcome, event.reason) == ("failure", reason), event.message
    return event


def test_unknown_state_is_refused(journey, sso_config):
    journey.start(sso_config)

    response = journey.callback(f"/callback?iss={sso_config.key}&code=abc&state=not-a-pending-state")

    assert_refused(response, sso_config, "state_unknown")


def test_a_state_is_single_use(journey, sso_config):
    callback = journey.authorize(journey.start(sso_config))
    journey.op.knobs.user = {**journey.op.knobs.user, "email": ""}  # stop before accounts: no_email
    journey.callback(callback)

    replay = journey.callback(callback)

    assert_refused(replay, sso_config, "state_unknown")


def test_state_from_another_browser_is_refused(journey, sso_config, client, django_user_model):
    callback = journey.authorize(journey.start(sso_config))
    client.cookies.clear()

    assert_refused(journey.callback(callback), sso_config, "state_unknown")


def test_state_bound_to_another_config_is_refused(journey, sso_config, portal, op):
    other = SSOConfigFactory(portal=portal, issuer=op.issuer + "/other", client_id=op.client_id)
    callback = journey.authorize(journey.start(sso_config))

    mixed_up = callback.replace(f"iss={sso_config.key}", f"iss={other.key}")

    assert_refused(journey.callback(mixed_up), other, "state_config_mismatch")


def test_expired_state_is_refused(journey, sso_config, settings):
    callback = journey.authorize(journey.start(sso_config))
    settings.SSO_STATE_MAX_AGE = -1

    assert_refused(journey.callback(callback), sso_config, "state_expired")


def test_provider_error_is_shown_and_logged(journey, sso_config):
    authorize = journey.start(sso_config)
    state = authorize.split("state=")[1].split("&")[0]

    response = journey.callback(
        f"/callback?iss={sso_config.key}&error=access_denied&error_description=User+cancelled&state={state}"
    )

    event = assert_refused(response, sso_config, "provider_error", status=403)
    assert "access_denied" in event.message
    assert state not in journey.client.session.get("oidc_states", {})


def test_missing_code_is_refused(journey, sso_config):
    assert_refused(journey.callback(f"/callback?iss={sso_config.key}"), sso_config, "missing_code_or_state")


def test_unknown_key_in_callback_is_refused(journey, portal):
    response = journey.callback("/callback?iss=nope&code=x&state=y")

    assert response.status_code == 400
    assert SSOEvent.objects.get(portal=portal).reason == "unknown_config"


def test_rfc9207_iss_must_equal_the_issuer(journey, sso_config, op):
    op.knobs.append_iss = "https://attacker.example/auth"

    assert_refused(journey.login(sso_config), sso_config, "callback_issuer_mismatch")


def test_a_third_iss_is_refused(journey, sso_config, op):
    """Key, the right issuer, then something else: which one would be the provider's is unclear."""
    op.knobs.append_iss = sso_config.issuer
    callback = journey.authorize(journey.start(sso_config))
    assert_refused(
        journey.callback(f"{callback}&iss=https://attacker.example/auth"),
        sso_config,
        "callback_issuer_mismatch",
    )


def test_config_disabled_between_start_and_callback(journey, sso_config):
    callback = journey.authorize(journey.start(sso_config))
    sso_config.enabled = False
    sso_config.save()

    assert_refused(journey.callback(callback), sso_config, "config_disabled", status=403)


def test_token_endpoint_invalid_client_names_the_client_id(journey, sso_config, op):
    op.knobs.token_error = (401, {"error": "invalid_client", "error_description": "Unknown client"})

    event = assert_refused(journey.login(sso_config), sso_config, "token_endpoint_error")

    assert "401 invalid_client" in event.message
    assert "client ID" in event.message


def test_token_endpoint_garbage(journey, sso_config, op):
    op.knobs.token_raw = b"<html>oops</html>"

    assert_refused(journey.login(sso_config), sso_config, "token_endpoint_garbage", status=502)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"aud": "someone-else"}, "audience_mismatch"),
        ({"iss": "https://attacker.example/auth"}, "token_issuer_mismatch"),
        ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, "token_expired"),
        ({"iat": None}, "missing_claim"),
        ({"sub": None}, "missing_claim"),
        ({"sub": ""}, "missing_claim"),
        ({"nonce": "not-the-nonce"}, "nonce_mismatch"),
        ({"nonce": None}, "nonce_mismatch"),
        ({"aud": ["portal-client", "another"]}, "azp_missing"),
        ({"aud": ["portal-client", "another"], "azp": "another"}, "azp_mismatch"),
        ({"azp": "another"}, "azp_mismatch"),
        ({"iat": int(time.time()) + 3600}, "token_not_yet_valid"),
    ],
)
def test_id_token_claims_are_all_checked(journey, sso_config, op, overrides, reason):
    op.knobs.claim_overrides = overrides

    assert_refused(journey.login(sso_config), sso_config, reason)


def test_id_token_signed_by_another_key_is_refused(journey, sso_config, op):
    op.knobs.sign_with = "other_key"

    assert_refused(journey.login(sso_config), sso_config, "bad_signature")


def test_unsigned_id_token_is_refused(journey, sso_config, op):
    op.knobs.sign_with = "none"

    assert_refused(journey.login(sso_config), sso_config, "alg_none")


def test_hmac_token_is_refused_when_not_advertised(journey, sso_config, op):
    op.knobs.sign_with, op.knobs.hs256_secret = "hs256", "guessable-but-long-enough-for-hs256-keys"

    assert_refused(journey.login(sso_config), sso_config, "alg_not_advertised")


def test_hmac_token_is_refused_for_a_provider_with_rsa_keys(journey, sso_config, op):
    """The classic key-confusion attack: HS256 keyed with something the attacker knows."""
    sso_config.client_secret = "s3cret-that-is-long-enough-for-hs256-keys"
    sso_config.save()
    op.client_secret = "s3cret-that-is-long-enough-for-hs256-keys"
    op.knobs.discovery_overrides = {"id_token_signing_alg_values_supported": ["RS256", "HS256"]}
    op.knobs.sign_with, op.knobs.hs256_secret = "hs256", "s3cret-that-is-long-enough-for-hs256-keys"

    assert_refused(journey.login(sso_config), sso_config, "alg_hmac_refused")


def test_unknown_kid_refetches_the_jwks_once_then_refuses(journey, sso_config, op):
    op.knobs.header_overrides = {"kid": "rotated-away"}

    assert_refused(journey.login(sso_config), sso_config, "unknown_signing_key")
    assert len(op.calls("/jwks")) == 2  # the cached copy, then one forced refresh

    assert_refused(journey.login(sso_config), sso_config, "unknown_signing_key")
    assert len(op.calls("/jwks")) == 2  # refresh is rate-limited per issuer


def test_provider_that_lost_its_email_claim(journey, sso_config, op):
    op.knobs.user = {"sub": "halo-user-1", "name": "No Mail"}

    assert_refused(journey.login(sso_config), sso_config, "no_email")

    assert len(op.calls("/userinfo")) == 1  # email missing from the ID token: userinfo was asked


def test_userinfo_for_another_subject_is_refused(journey, sso_config, op):
    op.knobs.user = {"sub": "halo-user-1", "name": "No Mail"}
    op.knobs.userinfo = {"sub": "someone-else", "email": "victim@example.com"}

    assert_refused(journey.login(sso_config), sso_config, "userinfo_sub_mismatch")


def test_slow_provider_gives_a_gateway_timeout_page(journey, sso_config, op, settings):
    callback = journey.authorize(journey.start(sso_config))
    settings.SSO_HTTP_READ_TIMEOUT = 0.3
    op.knobs.delay = 1.0

    started = time.monotonic()
    response = journey.callback(callback)

    assert time.monotonic() - started < 5
    assert_refused(response, sso_config, "token_endpoint_timeout", status=504)


def test_keys_of_unknown_types_are_ignored(journey, sso_config, op):
    op.knobs.user = {**op.knobs.user, "email": ""}  # stop right after token validation
    op.knobs.header_overrides = {"kid": None}
    op.knobs.jwks_override = {
        "keys": [
            {
                "kty": "EC",
                "crv": "P-256",
                "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                "y": "x_FEzRjDwX2Y5FWZJG3vN6R6x4gS8K7d0b4y6jW7b3s",
                "use": "sig",
            },
            {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            {"kty": "made-up", "k": "???"},
            {"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB"},
            {k: v for k, v in public_jwk(rsa_key("default"), "ignored").items() if k != "kid"},
        ]
    }

    # Signature verified with the only usable RSA signing key; the next refusal is about email.
    assert_refused(journey.login(sso_config), sso_config, "no_email")


def test_control_characters_in_sub_are_refused(journey, sso_config, op):
    op.knobs.claim_overrides = {"sub": "user\x00one"}

    assert_refused(journey.login(sso_config), sso_config, "invalid_claim")


def test_provider_text_with_nul_bytes_is_stored_cleanly(sso_config):
    """PostgreSQL text cannot hold NUL: provider-controlled text is cleaned before it is logged."""
    from sso.events import sso_event_record

    event = sso_event_record(
        portal=sso_config.portal,
        config=sso_config,
        outcome="failure",
        reason="provider_error",
        message="error='bad\x00error'",
        sub="a\x00b",
        detail={"claims": {"name": "x\x00y"}},
    )
    event.refresh_from_db()

    assert (event.message, event.sub, event.detail) == ("error='baderror'", "ab", {"claims": {"name": "xy"}})


def test_the_database_going_away_mid_sign_in_is_the_try_again_page_not_an_error(
    journey, sso_config, client, monkeypatch
):
    """A PostgreSQL restart while a callback is signing someone in: the person gets the 503
    "temporarily unavailable" page (try again), not a 502 "unexpected error, see the log"."""
    from django.db import OperationalError

    import accounts.sso_login

    callback = journey.authorize(journey.start(sso_config))

    def database_gone(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(accounts.sso_login, "sso_identity_login", database_gone)
    client.raise_request_exception = False

    response = journey.callback(callback)

    assert response.status_code == 503
    assert b"Temporarily unavailable" in response.content
    assert not SSOEvent.objects.filter(config=sso_config, reason="unexpected_error").exists()
