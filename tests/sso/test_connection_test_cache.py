from sso.connection_test import sso_connection_test
from sso.discovery import provider_metadata


def test_a_passing_connection_test_refreshes_the_login_cache(sso_config, op):
    provider_metadata(op.issuer)
    op.knobs.discovery_overrides = {"token_endpoint": f"{op.issuer}/token-v2"}
    assert provider_metadata(op.issuer).token_endpoint == f"{op.issuer}/token"  # still cached

    report = sso_connection_test(config=sso_config)

    assert report.passed, report.summary
    assert provider_metadata(op.issuer).token_endpoint == f"{op.issuer}/token-v2"


def test_a_failing_connection_test_keeps_the_last_good_copy(sso_config, op):
    provider_metadata(op.issuer)
    op.knobs.discovery_status = 500

    report = sso_connection_test(config=sso_config)

    assert not report.passed
    assert provider_metadata(op.issuer).token_endpoint == f"{op.issuer}/token"
