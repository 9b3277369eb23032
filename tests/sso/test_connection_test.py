"""The admin's Test connection, against a real HTTP server on loopback (no HTTP mocks)."""

import socket

import pytest

from sso.connection_test import FAIL, OK, WARN, _issuer_hint, sso_connection_test
from sso.models import SSOEvent
from tests.docserver import discovery_path, docserver_fixture, oidc_provider  # noqa: F401
from tests.factories import SSOConfigFactory


@pytest.fixture
def make_config(portal):
    def make(issuer, **kwargs):
        return SSOConfigFactory(portal=portal, issuer=issuer, **kwargs)

    return make


def test_a_good_provider_passes_and_logs_an_event(docserver, make_config):
    issuer = oidc_provider(docserver)
    config = make_config(issuer, client_secret="s3cret-value")

    report = sso_connection_test(config=config)

    assert report.passed, report.checks
    assert {check.status for check in report.checks} == {OK}
    names = [check.name for check in report.checks]
    for name in (
        "Discovery document",
        "Issuer",
        "Authorization endpoint",
        "Token endpoint",
        "JWKS endpoint",
        "PKCE (S256)",
        "Signing keys",
        "Signing algorithms",
        "Client authentication",
        "End-session endpoint",
    ):
        assert name in names
    assert "1 usable signing key" in report.check("Signing keys").message
    event = SSOEvent.objects.get(config=config)
    assert event.outcome == SSOEvent.Outcome.TEST
    assert event.reason == "connection_test_passed"
    assert event.message.startswith("Connection test passed")
    assert "s3cret-value" not in str(event.detail) + event.message
    # Exactly four provider calls, straight to the provider (no cache in between): the documents,
    # then the client-side probes (authorize with prompt=none, a token request with a fake code).
    assert [r.path for r in docserver.requests] == [
        "/auth/.well-known/openid-configuration",
        "/auth/.well-known/jwks",
        "/auth/authorize",
        "/auth/token",
    ]
    assert "prompt=none" in docserver.requests_to("/auth/authorize")[0].query
    assert b"portal-connection-test-not-a-code-" in docserver.requests_to("/auth/token")[0].body


def test_every_run_asks_the_provider_afresh(docserver, make_config):
    config = make_config(oidc_provider(docserver))
    sso_connection_test(config=config)
    sso_connection_test(config=config)
    assert len(docserver.requests_to(discovery_path())) == 2


def test_wrong_issuer_path_gets_a_404_hint(docserver, make_config):
    oidc_provider(docserver)  # the provider lives at /auth
    config = make_config(docserver.url(""))  # the admin entered the bare host

    report = sso_connection_test(config=config)

    assert not report.passed
    check = report.check("Discovery document")
    assert check.status == FAIL
    assert "Not found (HTTP 404)" in check.message
    assert "issuer path is probably wrong" in check.message
    assert f"try {docserver.url('')}/auth" in check.message
    event = SSOEvent.objects.get(config=config)
    assert event.reason == "connection_test_failed"
    assert "HTTP 404" in event.message


def test_issuer_differing_by_a_trailing_slash(docserver, make_config):
    issuer = oidc_provider(docserver)
    doc = docserver.json_of(discovery_path())
    doc["issuer"] = issuer + "/"
    docserver.set_json(discovery_path(), doc)
    config = make_config(issuer)

    report = sso_connection_test(config=config)

    check = report.check("Issuer")
    assert check.status == FAIL
    assert f"the issuer is “{issuer}/”" in check.message
    assert "only difference is a trailing slash" in check.message
    assert not report.passed


def test_configured_issuer_with_a_trailing_slash(docserver, make_config):
    issuer = oidc_provider(docserver)
    config = make_config(issuer + "/")  # stored around the validators, e.g. by an old import

    check = sso_connection_test(config=config).check("Issuer")

    assert check.status == FAIL
    assert "remove the “/” at the end of the issuer URL" in check.message


def test_issuer_differing_by_http_vs_https(docserver, make_config):
    issuer = oidc_provider(docserver)
    doc = docserver.json_of(discovery_path())
    doc["issuer"] = issuer.replace("http://", "https://")
    docserver.set_json(discovery_path(), doc)
    config = make_config(issuer)

    check = sso_connection_test(config=config).check("Issuer")

    assert check.status == FAIL
    assert "only difference is http vs https" in check.message
    assert f"change the issuer URL to {doc['issuer']}" in check.message


def test_hint_for_a_provider_that_believes_it_is_on_http():
    """Behind a TLS-terminating proxy that hides the scheme, the provider reports http."""
    hint = _issuer_hint("https://acme.halopsa.com/auth", "http://acme.halopsa.com/auth")
    assert "only difference is http vs https" in hint
    assert "X-Forwarded-Proto" in hint


def test_a_document_whose_issuer_is_another_path_or_host(docserver, make_config):
    issuer = oidc_provider(docserver)
    doc = docserver.json_of(discovery_path())
    doc["issuer"] = docserver.url("/identity")
    docserver.set_json(discovery_path(), doc)
    config = make_config(issuer)

    check = sso_connection_test(config=config).check("Issuer")
    assert check.status == FAIL
    assert f"says the issuer is “{docserver.url('/identity')}”" in check.message
    assert "The path differs" in check.message
    assert f"Change the issuer URL to {docserver.url('/identity')}" in check.message

    doc["issuer"] = "https://other.example.com/auth"
    docserver.set_json(discovery_path(), doc)
    check = sso_connection_test(config=config).check("Issuer")
    assert "another host (other.example.com)" in check.message


def test_unreachable_host(make_config):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on that port now.
    config = make_config(f"http://127.0.0.1:{port}/auth")

    report = sso_connection_test(config=config)

    check = report.check("Discovery document")
    assert check.status == FAIL
    assert f"127.0.0.1:{port} refused the connection" in check.message
    assert len(report.checks) == 1
    assert SSOEvent.objects.get(config=config).reason == "connection_test_failed"


def test_redirect_is_not_followed_and_explained(docserver, make_config):
    docserver.set(
        discovery_path("/old"),
        302,
        {"Location": docserver.url("/auth/.well-known/openid-configuration")},
    )
    oidc_provider(docserver)
    config = make_config(docserver.url("/old"))

    check = sso_connection_test(config=config).check("Discovery document")

    assert check.status == FAIL
    assert "redirect (HTTP 302)" in check.message
    assert f"The issuer is probably {docserver.url('/auth')}" in check.message
    assert docserver.requests_to("/auth/.well-known/openid-configuration") == []


def test_html_instead_of_json(docserver, make_config):
    docserver.set(discovery_path(), 200, {"Content-Type": "text/html"}, "<html>HaloPSA portal</html>")
    config = make_config(docserver.url("/auth"))

    check = sso_connection_test(config=config).check("Discovery document")

    assert check.status == FAIL
    assert "not with JSON (text/html)" in check.message


def test_server_error(docserver, make_config):
    docserver.set(discovery_path(), 503, {}, "down")
    check = sso_connection_test(config=make_config(docserver.url("/auth"))).check("Discovery document")
    assert "The provider failed (HTTP 503)" in check.message


def test_missing_jwks_uri(docserver, make_config):
    config = make_config(oidc_provider(docserver, jwks_uri=None))

    report = sso_connection_test(config=config)

    assert not report.passed
    assert report.check("JWKS endpoint").status == FAIL
    assert "no “jwks_uri”: ID tokens cannot be verified" in report.check("JWKS endpoint").message
    assert report.check("Signing keys").status == FAIL


def test_jwks_not_found(docserver, make_config):
    config = make_config(oidc_provider(docserver))
    del docserver.routes["/auth/.well-known/jwks"]

    check = sso_connection_test(config=config).check("Signing keys")

    assert check.status == FAIL
    assert "Not found (HTTP 404)" in check.message
    assert "its signing keys" in check.message


def test_jwks_without_a_usable_key(docserver, make_config):
    config = make_config(oidc_provider(docserver))
    docserver.set_json(
        "/auth/.well-known/jwks",
        {
            "keys": [
                {"kty": "oct", "k": "c2VjcmV0"},
                {**docserver.json_of("/auth/.well-known/jwks")["keys"][0], "use": "enc", "kid": "enc1"},
                {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
            ]
        },
    )

    check = sso_connection_test(config=config).check("Signing keys")

    assert check.status == FAIL
    assert "no usable signing key" in check.message
    assert "unknown type “oct”" in check.message
    assert "use “enc”" in check.message
    assert "RSA key broken (unreadable)" in check.message


def test_unknown_key_types_are_ignored_beside_a_good_key(docserver, make_config):
    config = make_config(oidc_provider(docserver))
    keys = docserver.json_of("/auth/.well-known/jwks")["keys"]
    docserver.set_json("/auth/.well-known/jwks", {"keys": [{"kty": "PQC", "x": "1"}, *keys]})

    report = sso_connection_test(config=config)

    assert report.passed
    assert "Ignored 1: a key of unknown type “PQC”" in report.check("Signing keys").message


def test_advertised_algorithm_without_a_fitting_key(docserver, make_config):
    config = make_config(oidc_provider(docserver, id_token_signing_alg_values_supported=["ES256"]))
    check = sso_connection_test(config=config).check("Signing algorithms")
    assert check.status == FAIL
    assert "signs ID tokens with ES256" in check.message


def test_hmac_only_provider_fails(docserver, make_config):
    config = make_config(oidc_provider(docserver, id_token_signing_alg_values_supported=["HS256"]))
    check = sso_connection_test(config=config).check("Signing algorithms")
    assert check.status == FAIL
    assert "never “none” or shared-secret HMAC" in check.message


def test_s256_not_supported(docserver, make_config):
    config = make_config(oidc_provider(docserver, code_challenge_methods_supported=["plain"]))

    report = sso_connection_test(config=config)

    check = report.check("PKCE (S256)")
    assert check.status == FAIL
    assert "without S256" in check.message
    assert not report.passed


def test_s256_not_advertised_is_a_warning(docserver, make_config):
    config = make_config(oidc_provider(docserver, code_challenge_methods_supported=None))
    report = sso_connection_test(config=config)
    assert report.check("PKCE (S256)").status == WARN
    assert report.passed


def test_public_client_needs_none_auth_method(docserver, make_config):
    config = make_config(
        oidc_provider(docserver, token_endpoint_auth_methods_supported=["client_secret_basic"])
    )
    check = sso_connection_test(config=config).check("Client authentication")
    assert check.status == WARN
    assert "No client secret is set" in check.message
    assert "lists only client_secret_basic" in check.message


def test_public_client_accepted(docserver, make_config):
    config = make_config(oidc_provider(docserver))
    check = sso_connection_test(config=config).check("Client authentication")
    assert check.status == OK


def test_no_end_session_endpoint_is_a_warning(docserver, make_config):
    config = make_config(
        oidc_provider(docserver, end_session_endpoint=None),
        logout_redirect_url="https://support.example.com/",
    )

    report = sso_connection_test(config=config)

    check = report.check("End-session endpoint")
    assert check.status == WARN
    assert "only end the portal session" in check.message
    assert "https://support.example.com/" in check.message
    assert report.passed
    assert "1 warning" in report.summary


def test_missing_endpoints_and_code_response_type(docserver, make_config):
    config = make_config(
        oidc_provider(
            docserver,
            authorization_endpoint=None,
            token_endpoint="ftp://x",
            response_types_supported=["token"],
        )
    )
    report = sso_connection_test(config=config)
    assert report.check("Authorization endpoint").status == FAIL
    assert "not an https URL" in report.check("Token endpoint").message
    assert report.check("Response type").status == FAIL


def test_unsupported_scope_is_a_warning(docserver, make_config):
    config = make_config(oidc_provider(docserver), scope="openid profile email all")
    check = sso_connection_test(config=config).check("Scopes")
    assert check.status == WARN
    assert "does not list all" in check.message


def test_read_timeout_is_bounded_and_explained(docserver, make_config, settings):
    import threading

    release = threading.Event()
    settings.SSO_HTTP_READ_TIMEOUT = 0.3

    # A route whose handler stalls: replace the server's route table entry lookup with a slow one.
    class SlowRoutes(dict):
        def get(self, key, default=None):
            release.wait(timeout=2)
            return super().get(key, default)

    docserver.routes = SlowRoutes(docserver.routes)
    config = make_config(docserver.url("/auth"))
    try:
        check = sso_connection_test(config=config).check("Discovery document")
    finally:
        release.set()
    assert check.status == FAIL
    assert "did not answer within 0.3 s" in check.message
