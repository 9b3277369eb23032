"""Issue 8 item 1: provider and HaloPSA calls cannot be aimed at the portal's own network.

Providers in these tests listen on 127.0.0.1, which tests/settings.py admits through
SSO_PROVIDER_ALLOWED_NETWORKS; the tests of the refusal empty that list, as production has it.
"""

import socket

import pytest

from portal import outbound
from sso.discovery import ProviderMetadata, provider_jwks, provider_metadata
from sso.errors import SSOFlowError
from sso.models import SSOEvent
from tests.docserver import docserver_fixture  # noqa: F401
from tests.factories import SSOConfigFactory
from tests.oidc_op import TinyOP


@pytest.fixture
def no_allowed_networks(settings):
    settings.SSO_PROVIDER_ALLOWED_NETWORKS = []


def test_a_loopback_provider_is_refused_before_any_byte_is_sent(docserver, no_allowed_networks):
    docserver.set_json("/doc", {"ok": True})

    with pytest.raises(outbound.OutboundError) as exc:
        outbound.request("GET", docserver.url("/doc"), what="jwks_uri")

    assert exc.value.reason == "policy"
    assert exc.value.message == (
        "jwks_uri points at a loopback address 127.0.0.1; allow it with SSO_PROVIDER_ALLOWED_NETWORKS "
        "if this is your on-premise HaloPSA."
    )
    assert docserver.requests == []


def test_the_allow_list_admits_a_named_network(docserver, settings):
    settings.SSO_PROVIDER_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    docserver.set_json("/doc", {"ok": True})

    assert outbound.get_json(docserver.url("/doc")) == {"ok": True}


@pytest.mark.parametrize(
    ("address", "category"),
    [
        ("127.0.0.1", "loopback"),
        ("10.0.0.5", "private"),
        ("172.16.3.4", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("100.64.0.1", "shared (CGNAT)"),
        ("224.0.0.251", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("240.0.0.1", "private"),
        ("255.255.255.255", "private"),
        ("[::1]", "loopback"),
        ("[::]", "unspecified"),
        ("[fe80::1]", "link-local"),
        ("[fd00::5]", "private"),
        ("[ff02::1]", "multicast"),
        ("[::ffff:127.0.0.1]", "loopback"),  # IPv4-mapped
        ("[::ffff:10.0.0.5]", "private"),
        ("[::127.0.0.1]", "loopback"),  # IPv4-compatible
        ("[64:ff9b::a00:5]", "private"),  # NAT64 of 10.0.0.5
        ("[2002:7f00:1::]", "loopback"),  # 6to4 of 127.0.0.1
    ],
)
def test_every_non_public_address_is_refused(address, category, no_allowed_networks):
    with pytest.raises(outbound.OutboundError) as exc:
        outbound.check_url(f"https://{address}/auth", what="The issuer")

    assert exc.value.reason == "policy"
    assert f"points at a {category} address" in exc.value.message


def test_a_mapped_address_is_judged_by_the_address_inside(settings):
    settings.SSO_PROVIDER_ALLOWED_NETWORKS = ["127.0.0.1/32"]

    outbound.check_url("https://[::ffff:127.0.0.1]/auth", what="The issuer")  # inside the allowed net
    with pytest.raises(outbound.OutboundError):
        outbound.check_url("https://[::ffff:127.0.0.2]/auth", what="The issuer")


def test_a_name_resolving_to_loopback_is_refused(no_allowed_networks):
    with pytest.raises(outbound.OutboundError) as exc:
        outbound.check_url("https://localhost/auth", what="token_endpoint")

    assert "token_endpoint points at a loopback address" in exc.value.message
    assert "(localhost resolves to it)" in exc.value.message


def test_public_addresses_pass():
    target = outbound.check_url("https://93.184.215.14/auth", what="The issuer")

    assert target.addresses == ("93.184.215.14",)


def test_plain_http_is_refused_without_the_insecure_setting(docserver, settings):
    settings.SSO_ALLOW_INSECURE_HTTP = False
    docserver.set_json("/doc", {"ok": True})

    with pytest.raises(outbound.OutboundError) as exc:
        outbound.get_json(docserver.url("/doc"), what="userinfo_endpoint")

    assert exc.value.reason == "policy"
    assert "userinfo_endpoint" in exc.value.message and "SSO_ALLOW_INSECURE_HTTP" in exc.value.message
    assert docserver.requests == []


def test_the_connection_goes_to_the_checked_address_without_a_second_lookup(docserver, monkeypatch):
    """DNS rebinding: the first answer is checked, a later one would point inside. The call must
    reach the first address, and keep the host name in the Host header."""
    real_getaddrinfo = socket.getaddrinfo
    answers = ["127.0.0.1", "10.0.0.5"]
    lookups = []

    def rebinding_dns(host, port, *args, **kwargs):
        if host == "provider.example":
            lookups.append(host)
            address = answers[min(len(lookups) - 1, 1)]
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_dns)
    docserver.set_json("/doc", {"ok": True})

    data = outbound.get_json(f"http://provider.example:{docserver.port}/doc")

    assert data == {"ok": True}
    assert lookups == ["provider.example"]
    assert docserver.requests[0].headers["Host"] == f"provider.example:{docserver.port}"


def test_redirects_are_never_followed(docserver):
    docserver.set("/doc", 302, {"Location": docserver.url("/inside")})
    docserver.set_json("/inside", {"secret": "internal"})

    response = outbound.request("GET", docserver.url("/doc"))

    assert response.status_code == 302
    assert [r.path for r in docserver.requests] == ["/doc"]


def test_the_guarded_session_applies_the_same_policy(docserver, no_allowed_networks):
    """Third-party SDKs (Stripe) get a session with the same rules."""
    session = outbound.guarded_session()

    with pytest.raises(outbound.OutboundError) as exc:
        session.get(docserver.url("/doc"))

    assert exc.value.reason == "policy"
    assert docserver.requests == []


def test_the_guarded_session_does_not_follow_redirects(docserver):
    docserver.set("/doc", 302, {"Location": docserver.url("/inside")})

    response = outbound.guarded_session().get(docserver.url("/doc"))

    assert response.status_code == 302
    assert [r.path for r in docserver.requests] == ["/doc"]


# --- endpoints taken from discovery ---------------------------------------------------------------

ISSUER = "https://93.184.215.14/auth"


def _document(**overrides) -> dict:
    doc = {
        "issuer": ISSUER,
        "authorization_endpoint": f"{ISSUER}/authorize",
        "token_endpoint": f"{ISSUER}/token",
        "jwks_uri": f"{ISSUER}/jwks",
    }
    return {**doc, **overrides}


@pytest.mark.parametrize(
    "field",
    ["authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint", "end_session_endpoint"],
)
def test_every_endpoint_from_discovery_is_held_to_the_policy(field, no_allowed_networks):
    with pytest.raises(SSOFlowError) as exc:
        ProviderMetadata.from_document(_document(**{field: "https://10.0.0.5/x"}), issuer=ISSUER)

    assert exc.value.reason == "discovery_endpoint_policy"
    assert f"{field} points at a private address 10.0.0.5; allow it with SSO_PROVIDER_ALLOWED_NETWORKS" in (
        exc.value.message
    )


def test_an_http_endpoint_is_refused_even_from_an_https_issuer(settings):
    settings.SSO_ALLOW_INSECURE_HTTP = False

    with pytest.raises(SSOFlowError) as exc:
        ProviderMetadata.from_document(_document(token_endpoint="http://93.184.215.14/token"), issuer=ISSUER)

    assert "token_endpoint" in exc.value.message and "plain http" in exc.value.message


def test_a_login_start_refuses_a_discovery_pointing_inside(client, portal, settings):
    """The anonymous attack of the issue: login makes the server fetch what discovery names."""
    op = TinyOP()
    try:
        op.knobs.discovery_overrides = {"jwks_uri": "http://10.0.0.5:6379/"}
        config = SSOConfigFactory(portal=portal, issuer=op.issuer, client_id=op.client_id)

        response = client.get(f"/sso/{config.key}/login/")

        assert response.status_code == 502
        event = SSOEvent.objects.get(config=config)
        assert event.reason == "discovery_endpoint_policy"
        assert "jwks_uri points at a private address 10.0.0.5" in event.message
        assert op.calls("/jwks") == []
    finally:
        op.stop()


def test_endpoints_of_a_cached_document_are_checked_again_when_called(settings, db):
    """A cached discovery document does not outlive a tightened allow-list."""
    op = TinyOP()
    try:
        metadata = provider_metadata(op.issuer)  # fetched and cached while loopback was allowed
        settings.SSO_PROVIDER_ALLOWED_NETWORKS = []

        assert provider_metadata(op.issuer).jwks_uri == metadata.jwks_uri  # from the cache
        with pytest.raises(SSOFlowError) as exc:
            provider_jwks(metadata)

        assert exc.value.reason == "jwks_policy"
        assert "jwks_uri points at a loopback address 127.0.0.1" in exc.value.message
        assert op.calls("/jwks") == []
    finally:
        op.stop()


# --- TLS to the pinned address keeps the host name for SNI and the certificate check -------------


def _certificate(tmp_path, name: str):
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path):
    """An https server on 127.0.0.1 with a certificate for provider.example; records the SNI."""
    import ssl
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    cert_path, key_path = _certificate(tmp_path, "provider.example")
    seen = {"sni": [], "host": []}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            seen["host"].append(self.headers.get("Host"))
            body = b'{"ok": true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    context.sni_callback = lambda sock, name, ctx: seen["sni"].append(name)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1], cert_path, seen
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def provider_dns(monkeypatch):
    """provider.example and impostor.example resolve to loopback (a stand-in for public DNS)."""
    real_getaddrinfo = socket.getaddrinfo

    def dns(host, port, *args, **kwargs):
        if host in ("provider.example", "impostor.example"):
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", dns)


def test_https_to_the_pinned_address_verifies_the_certificate_for_the_host_name(tls_server, provider_dns):
    port, ca, seen = tls_server

    data = outbound.get_json(f"https://provider.example:{port}/doc", verify=str(ca))

    assert data == {"ok": True}
    assert seen["sni"] == ["provider.example"]
    assert seen["host"] == [f"provider.example:{port}"]


def test_a_certificate_for_another_name_is_refused(tls_server, provider_dns):
    port, ca, seen = tls_server

    with pytest.raises(outbound.OutboundError) as exc:
        outbound.get_json(f"https://impostor.example:{port}/doc", verify=str(ca))

    assert exc.value.reason == "unreachable"
    assert seen["host"] == []
