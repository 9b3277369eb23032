"""A tiny real HTTP server on loopback that serves canned documents, for provider-facing tests.

Tests talk to it over real sockets through the same code as production (no HTTP mocks). Routes
are a dict ``path -> (status, headers, body)`` that a test may change at any time; the query
string is ignored when matching, and every request is recorded in ``requests``.

Use it by importing the fixture into a test module::

    from tests.docserver import docserver_fixture  # noqa: F401

    def test_something(docserver):
        docserver.set_json("/auth/.well-known/openid-configuration", {...})
        ... docserver.url("/auth") ...

``oidc_provider(docserver, issuer_path="/auth")`` fills in a complete, valid discovery document
and JWKS (a fresh RSA key) that a test can then spoil one field at a time.
"""

from __future__ import annotations

import base64
import functools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

Route = tuple[int, dict[str, str], bytes]


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


@dataclass
class DocServer:
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = 0

    def url(self, path: str = "") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def set(self, path: str, status: int = 200, headers: dict | None = None, body: bytes | str = b"") -> None:
        if isinstance(body, str):
            body = body.encode()
        self.routes[path] = (status, dict(headers or {}), body)

    def set_json(self, path: str, document, status: int = 200, headers: dict | None = None) -> None:
        self.set(path, status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(document))

    def json_of(self, path: str):
        """The JSON document currently served at ``path`` (to tweak and ``set_json`` again)."""
        return json.loads(self.routes[path][2])

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]


def _handler_for(server: DocServer):
    class Handler(BaseHTTPRequestHandler):
        def _serve(self):
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(min(length, 1024 * 1024)) if length else b""
            server.requests.append(
                RecordedRequest(self.command, parts.path, parts.query, dict(self.headers.items()), body)
            )
            route = server.routes.get(parts.path, (404, {"Content-Type": "text/plain"}, b"not found"))
            status, headers, payload = route(parts.query) if callable(route) else route
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_HEAD = _serve

        def log_message(self, format, *args):  # keep test output quiet
            pass

    return Handler


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        """A client that gave up (e.g. a test of timeouts) is not an error worth printing."""


@pytest.fixture(name="docserver")
def docserver_fixture():
    """A running DocServer on 127.0.0.1 (a free port); stopped at teardown."""
    server = DocServer()
    httpd = _QuietServer(("127.0.0.1", 0), _handler_for(server))
    server.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@functools.cache
def _rsa_public_numbers():
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_numbers()


def rsa_public_jwk(kid: str = "test-key") -> dict:
    """An RSA public key as a JWK (signing use, RS256); one key per test process, made once."""
    numbers = _rsa_public_numbers()
    return {
        "kty": "RSA",
        "use": "sig",
        "alg": "RS256",
        "kid": kid,
        "n": _b64url_uint(numbers.n),
        "e": _b64url_uint(numbers.e),
    }


def discovery_path(issuer_path: str = "/auth") -> str:
    return f"{issuer_path.rstrip('/')}/.well-known/openid-configuration"


def oidc_provider(server: DocServer, issuer_path: str = "/auth", **overrides) -> str:
    """Serve a valid HaloPSA-like discovery document and JWKS; returns the issuer URL.

    ``overrides`` replace fields of the discovery document (a value of None removes the field).
    """
    issuer = server.url(issuer_path.rstrip("/"))
    jwks_path = f"{issuer_path.rstrip('/')}/.well-known/jwks"
    document = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": server.url(jwks_path),
        "end_session_endpoint": f"{issuer}/logout",
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "code_challenge_methods_supported": ["plain", "S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
    }
    for name, value in overrides.items():
        if value is None:
            document.pop(name, None)
        else:
            document[name] = value
    server.set_json(discovery_path(issuer_path), document)
    server.set_json(jwks_path, {"keys": [rsa_public_jwk()]})
    # A provider that knows every client: prompt=none goes back to the redirect URI with
    # login_required, and the connection test's fake code is refused as invalid_grant.
    server.routes[f"{issuer_path.rstrip('/')}/authorize"] = _login_required
    server.set_json(f"{issuer_path.rstrip('/')}/token", {"error": "invalid_grant"}, status=400)
    return issuer


def _login_required(query: str):
    params = parse_qs(query)
    target = (params.get("redirect_uri") or [""])[0]
    if not target:
        return 400, {"Content-Type": "text/plain"}, b"redirect_uri missing"
    state = (params.get("state") or [""])[0]
    sep = "&" if "?" in target else "?"
    location = f"{target}{sep}{urlencode({'error': 'login_required', 'state': state})}"
    return 302, {"Location": location}, b""
