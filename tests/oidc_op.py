"""A small, real OpenID provider on loopback for the SSO tests, with knobs to misbehave.

The happy paths are also tested against the django-oauth-toolkit stand-in (``halostub``); this
one exists for the negative tests: a provider whose ID tokens carry a wrong ``aud``, a forged
signature, ``alg: none``, an old ``exp``..., whose discovery lies about its issuer, or which is
slow. It speaks real HTTP on 127.0.0.1 and signs real RS256 tokens; nothing is mocked.
"""

import base64
import contextlib
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa


@lru_cache(maxsize=4)
def rsa_key(name: str):
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(private_key, kid: str) -> dict:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key()))
    return {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}


@dataclass
class Knobs:
    """What the provider does; tests change these between requests."""

    user: dict = field(
        default_factory=lambda: {"sub": "halo-user-1", "email": "alice@example.com", "name": "Alice"}
    )
    discovery_overrides: dict = field(default_factory=dict)  # value None removes the key
    discovery_status: int = 200
    discovery_raw: bytes | None = None
    jwks_override: dict | None = None
    claim_overrides: dict = field(default_factory=dict)  # value None removes the claim
    header_overrides: dict = field(default_factory=dict)
    sign_with: str = "default"  # default | other_key | none | hs256
    hs256_secret: str = ""
    token_error: tuple[int, dict] | None = None
    token_raw: bytes | None = None
    userinfo: dict | None = None
    append_iss: str | None = None  # RFC 9207: issuer appended to the callback
    delay: float = 0.0


class TinyOP:
    def __init__(self, *, client_id: str = "portal-client", client_secret: str = ""):
        self.client_id = client_id
        self.client_secret = client_secret
        self.knobs = Knobs()
        self.key = rsa_key("default")
        self.kid = "key-1"
        self.requests: list[dict] = []
        self.codes: dict[str, dict] = {}
        self.access_tokens: dict[str, dict] = {}
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.issuer = f"{self.base_url}/auth"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    # --- what tests read ----------------------------------------------------------------------
    def calls(self, path_suffix: str = "") -> list[dict]:
        with self._lock:
            return [r for r in self.requests if r["path"].endswith(path_suffix)]

    def reset_calls(self) -> None:
        with self._lock:
            self.requests.clear()

    # --- documents ------------------------------------------------------------------------------
    def discovery(self) -> dict:
        doc = {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks",
            "end_session_endpoint": f"{self.issuer}/logout",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "scopes_supported": ["openid", "profile", "email"],
        }
        for key, value in self.knobs.discovery_overrides.items():
            if value is None:
                doc.pop(key, None)
            else:
                doc[key] = value
        return doc

    def jwks(self) -> dict:
        if self.knobs.jwks_override is not None:
            return self.knobs.jwks_override
        return {"keys": [public_jwk(self.key, self.kid)]}

    def id_token(self, *, nonce: str | None, client_id: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": client_id,
            "iat": now,
            "exp": now + 300,
            "auth_time": now,
            **self.knobs.user,
        }
        if nonce is not None:
            claims["nonce"] = nonce
        for key, value in self.knobs.claim_overrides.items():
            if value is None:
                claims.pop(key, None)
            else:
                claims[key] = value
        headers = {"kid": self.kid, **self.knobs.header_overrides}
        headers = {k: v for k, v in headers.items() if v is not None}
        if self.knobs.sign_with == "none":
            return jwt.encode(claims, key=None, algorithm="none", headers=headers)
        if self.knobs.sign_with == "hs256":
            return jwt.encode(claims, key=self.knobs.hs256_secret, algorithm="HS256", headers=headers)
        key = rsa_key("other") if self.knobs.sign_with == "other_key" else self.key
        return jwt.encode(claims, key=key, algorithm="RS256", headers=headers)

    # --- HTTP -----------------------------------------------------------------------------------
    def _handler(self):
        op = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _record(self, form: dict) -> tuple[str, dict]:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                with op._lock:
                    op.requests.append(
                        {
                            "method": self.command,
                            "path": parts.path,
                            "query": query,
                            "form": form,
                            "authorization": self.headers.get("Authorization", ""),
                        }
                    )
                if op.knobs.delay:
                    time.sleep(op.knobs.delay)
                return parts.path, query

            def _send(self, status: int, body: bytes | dict, *, headers: dict | None = None):
                if isinstance(body, dict):
                    body = json.dumps(body).encode()
                    headers = {"Content-Type": "application/json", **(headers or {})}
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

            def do_GET(self):
                path, query = self._record({})
                prefix = urlsplit(op.issuer).path
                if path == f"{prefix}/.well-known/openid-configuration":
                    if op.knobs.discovery_raw is not None:
                        return self._send(op.knobs.discovery_status, op.knobs.discovery_raw)
                    return self._send(op.knobs.discovery_status, op.discovery())
                if path == f"{prefix}/jwks":
                    return self._send(200, op.jwks())
                if path == f"{prefix}/authorize":
                    return self._authorize(query)
                if path == f"{prefix}/userinfo":
                    token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                    if token not in op.access_tokens:
                        return self._send(401, {"error": "invalid_token"})
                    return self._send(200, op.knobs.userinfo or op.access_tokens[token])
                if path == f"{prefix}/logout":
                    target = query.get("post_logout_redirect_uri")
                    if target:
                        return self._send(302, b"", headers={"Location": target})
                    return self._send(200, b"signed out")
                return self._send(404, {"error": "not_found"})

            def _authorize(self, query: dict):
                if query.get("client_id") != op.client_id:
                    return self._send(400, b"unknown client")
                if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
                    return self._send(400, b"PKCE S256 required")
                code = secrets.token_urlsafe(24)
                op.codes[code] = {
                    "nonce": query.get("nonce"),
                    "challenge": query["code_challenge"],
                    "redirect_uri": query.get("redirect_uri"),
                    "client_id": query["client_id"],
                }
                params = {"code": code, "state": query.get("state", "")}
                if op.knobs.append_iss is not None:
                    params["iss"] = op.knobs.append_iss
                redirect_uri = query.get("redirect_uri", "")
                sep = "&" if "?" in redirect_uri else "?"
                return self._send(302, b"", headers={"Location": f"{redirect_uri}{sep}{urlencode(params)}"})

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                form = {k: v[0] for k, v in parse_qs(raw).items()}
                path, _query = self._record(form)
                if path != f"{urlsplit(op.issuer).path}/token":
                    return self._send(404, {"error": "not_found"})
                if op.knobs.token_error is not None:
                    status, body = op.knobs.token_error
                    return self._send(status, body)
                if op.knobs.token_raw is not None:
                    return self._send(200, op.knobs.token_raw)
                # Like real providers (oauthlib), authenticate the client before looking at the code.
                if op.client_secret:
                    expected = (
                        "Basic " + base64.b64encode(f"{op.client_id}:{op.client_secret}".encode()).decode()
                    )
                    basic_ok = self.headers.get("Authorization") == expected
                    post_ok = form.get("client_secret") == op.client_secret
                    if not (basic_ok or post_ok):
                        return self._send(401, {"error": "invalid_client"})
                grant = op.codes.pop(form.get("code", ""), None)
                if grant is None:
                    return self._send(400, {"error": "invalid_grant"})
                verifier = form.get("code_verifier", "")
                challenge = (
                    base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                )
                if challenge != grant["challenge"]:
                    return self._send(400, {"error": "invalid_grant", "error_description": "PKCE mismatch"})
                if form.get("redirect_uri") != grant["redirect_uri"]:
                    return self._send(
                        400, {"error": "invalid_grant", "error_description": "redirect_uri mismatch"}
                    )
                access_token = secrets.token_urlsafe(24)
                op.access_tokens[access_token] = dict(op.knobs.user)
                return self._send(
                    200,
                    {
                        "access_token": access_token,
                        "token_type": "Bearer",
                        "expires_in": 300,
                        "id_token": op.id_token(nonce=grant["nonce"], client_id=grant["client_id"]),
                    },
                )

        return Handler
