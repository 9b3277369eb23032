"""Issue 8 item 1: Test connection never shows staff what an internal service answered.

Staff choose the issuer, so Test connection may be aimed at anything the portal can reach. The
report keeps its precise diagnosis from the fields it checks, but never shows a redirect's
target, a page's markup or hidden text, arbitrary JSON or headers; and with the default empty
allow-list it cannot tell an open loopback port from a closed one.
"""

import socket

import pytest

from sso.connection_test import run_checks
from tests.docserver import docserver_fixture, oidc_provider  # noqa: F401
from tests.factories import SSOConfigFactory

pytestmark = pytest.mark.django_db

DISCOVERY = "/auth/.well-known/openid-configuration"


def _report_text(config) -> str:
    report = run_checks(config=config)
    assert not report.passed
    return " ".join(f"{check.name}: {check.message}" for check in report.checks)


@pytest.fixture
def config(portal, docserver):
    return SSOConfigFactory(portal=portal, issuer=docserver.url("/auth"))


def test_a_redirect_target_is_not_shown(docserver, config):
    docserver.set(DISCOVERY, 302, {"Location": "http://10.1.2.3:8500/v1/kv/secret-path?token=abc"})

    text = _report_text(config)

    assert "redirect (HTTP 302)" in text and "another host (not shown)" in text
    assert "10.1.2.3" not in text and "secret-path" not in text and "token=abc" not in text


def test_a_redirect_to_the_issuers_own_discovery_still_suggests_the_issuer(docserver, config):
    docserver.set(DISCOVERY, 301, {"Location": docserver.url("/auth/v2/.well-known/openid-configuration")})

    assert f"The issuer is probably {docserver.url('/auth/v2')}." in _report_text(config)


def test_an_error_page_shows_only_its_visible_words(docserver, config):
    page = (
        "<html><head><title>Internal</title><style>.x{}</style></head><body>"
        "<script>var apiKey='sk_live_SECRET';</script><!-- db=10.0.0.7 -->"
        "<h1>Service   Unavailable</h1><p>Try&nbsp;later</p></body></html>"
    )
    docserver.set(DISCOVERY, 503, {"Content-Type": "text/html", "X-Backend": "redis-10.0.0.7"}, page)

    text = _report_text(config)

    assert "The page says: “Service Unavailable Try later”." in text
    for leak in ("sk_live_SECRET", "10.0.0.7", "<h1>", "Internal", "redis-"):
        assert leak not in text


def test_a_json_error_shows_only_the_oauth_fields(docserver, config):
    docserver.set_json(
        DISCOVERY,
        {
            "error": "invalid_request",
            "error_description": "No such tenant",
            "debug": {"dsn": "postgres://u:pw@db"},
        },
        status=400,
    )

    text = _report_text(config)

    assert "The provider says: invalid_request: No such tenant." in text
    assert "postgres" not in text and "pw@db" not in text


def test_an_arbitrary_json_object_and_unknown_content_types_are_not_echoed(docserver, config):
    docserver.set(DISCOVERY, 200, {"Content-Type": "x-internal/secret-engine"}, b"+OK redis_version:7.2")

    text = _report_text(config)

    assert "not with JSON (another type)" in text
    assert "secret-engine" not in text and "redis_version" not in text


def test_key_ids_are_sanitised_and_capped(docserver, config):
    oidc_provider(docserver, issuer_path="/auth")
    jwks_path = "/auth/.well-known/jwks"
    keys = docserver.json_of(jwks_path)
    keys["keys"][0]["kid"] = "kid\u202e\x07" + "k" * 500
    docserver.set_json(jwks_path, keys)

    report = run_checks(config=config)
    message = report.check("Signing keys").message

    assert "\x07" not in message and "\u202e" not in message
    assert "k" * 41 not in message


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_with_no_allowed_networks_open_and_closed_loopback_ports_look_the_same(portal, docserver, settings):
    """Test connection is not a port scanner: both are refused by the policy before connecting."""
    settings.SSO_PROVIDER_ALLOWED_NETWORKS = []
    docserver.set(DISCOVERY, 200, {}, b"+OK")
    open_config = SSOConfigFactory(portal=portal, issuer=f"http://127.0.0.1:{docserver.port}/auth")
    closed_config = SSOConfigFactory(portal=portal, issuer=f"http://127.0.0.1:{_closed_port()}/auth")

    texts = [_report_text(open_config), _report_text(closed_config)]

    assert texts[0] == texts[1]
    assert texts[0].startswith("Discovery document: The issuer points at a loopback address 127.0.0.1; ")
    assert "SSO_PROVIDER_ALLOWED_NETWORKS" in texts[0]
    assert docserver.requests == []
