import pytest

from sso.discovery import forget_provider, provider_jwks, provider_metadata
from sso.errors import SSOFlowError

pytestmark = pytest.mark.django_db


def test_metadata_is_read_from_discovery(op):
    metadata = provider_metadata(op.issuer)

    assert metadata.authorization_endpoint == f"{op.issuer}/authorize"
    assert metadata.token_endpoint == f"{op.issuer}/token"
    assert metadata.end_session_endpoint == f"{op.issuer}/logout"
    assert "S256" in metadata.code_challenge_methods_supported


def test_documents_are_cached_per_issuer(op):
    metadata = provider_metadata(op.issuer)
    provider_jwks(metadata)
    provider_metadata(op.issuer)
    provider_jwks(metadata)

    assert [c["path"].rsplit("/", 1)[-1] for c in op.calls()] == ["openid-configuration", "jwks"]


def test_a_failed_refresh_keeps_serving_the_last_good_copy(op, settings):
    provider_metadata(op.issuer)
    settings.SSO_DISCOVERY_TTL = 0  # every read now wants a refresh
    op.knobs.discovery_status = 500

    metadata = provider_metadata(op.issuer)

    assert metadata.token_endpoint == f"{op.issuer}/token"
    assert len(op.calls("/openid-configuration")) == 2


def test_without_a_good_copy_a_failure_is_an_error(op):
    op.knobs.discovery_status = 500

    with pytest.raises(SSOFlowError) as exc:
        provider_metadata(op.issuer)

    assert exc.value.reason == "discovery_bad_status"
    assert exc.value.status == 502


def test_garbage_discovery_is_an_error(op):
    op.knobs.discovery_raw = b"<html>login</html>"

    with pytest.raises(SSOFlowError) as exc:
        provider_metadata(op.issuer)

    assert exc.value.reason == "discovery_not_json"


def test_an_issuer_mismatch_is_never_cached(op):
    op.knobs.discovery_overrides = {"issuer": "https://elsewhere.example/auth"}
    with pytest.raises(SSOFlowError):
        provider_metadata(op.issuer)
    op.knobs.discovery_overrides = {}
    forget_provider(op.issuer)  # what a passing connection test or a config edit does

    assert provider_metadata(op.issuer).issuer == op.issuer


def test_a_failed_discovery_answers_from_the_breaker_until_the_config_is_fixed(op):
    """Login starts of a broken config fail at once instead of each calling the provider again."""
    op.knobs.discovery_overrides = {"issuer": "https://elsewhere.example/auth"}
    with pytest.raises(SSOFlowError):
        provider_metadata(op.issuer)
    op.knobs.discovery_overrides = {}

    with pytest.raises(SSOFlowError) as exc:
        provider_metadata(op.issuer)

    assert exc.value.reason == "discovery_circuit_open"
    assert exc.value.status == 503
    assert len(op.calls("/openid-configuration")) == 1


def test_incomplete_discovery_names_what_is_missing(op):
    op.knobs.discovery_overrides = {"jwks_uri": None}

    with pytest.raises(SSOFlowError) as exc:
        provider_metadata(op.issuer)

    assert exc.value.reason == "discovery_incomplete"
    assert "jwks_uri" in exc.value.message


def test_forget_provider_drops_the_cache(op):
    provider_jwks(provider_metadata(op.issuer))
    forget_provider(op.issuer)
    provider_jwks(provider_metadata(op.issuer))

    assert len(op.calls("/openid-configuration")) == 2
    assert len(op.calls("/jwks")) == 2
