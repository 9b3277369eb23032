"""The benchmark's minimal relying party: the floor for a returning login that does the same checks.

No framework: a WSGI callable under the same gunicorn set-up, with what any relying party must
keep between its two requests in Redis (as the portal does), because gunicorn runs several
workers. It makes one provider call per login, the token call, and checks what the portal checks:

- login start: a fresh state, nonce and PKCE verifier, kept in Redis for 10 minutes under the
  state and bound to a random browser cookie;
- callback: the state taken with one ``GETDEL`` (single use), the browser cookie compared in
  constant time, the code exchanged with the verifier, the ID token verified (RS256 against the
  provider's JWKS, fetched once per process; ``iss``, ``aud``, ``azp``, ``exp``, ``iat``, the nonce,
  a ``sub`` and an ``email``), then a new session id kept in Redis and set as a cookie.

It writes no database rows (no audit trail, no identity): that is the difference between it and a
relying party a business can run, and what the portal's extra milliseconds buy. Its figures are the
floor ``bench/run.py`` compares the portal with. In the benchmark only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import secrets
import time
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import redis

ISSUER = os.environ["OIDC_ISSUER"]
CLIENT_ID = os.environ.get("OIDC_CLIENT_ID", "portal-client")
REDIS = redis.Redis.from_url(os.environ.get("MINIMALRP_REDIS_URL", "redis://127.0.0.1:6379/14"))
PREFIX = f"minimalrp:{os.environ.get('MINIMALRP_PREFIX', 'bench')}:"
STATE_SECONDS = 600
SESSION_SECONDS = 8 * 3600
TIMEOUT = 10.0
_provider = urlsplit(ISSUER)
_keys: dict[str, jwt.PyJWK] = {}


def _provider_get(path: str) -> dict:
    connection = http.client.HTTPConnection(_provider.hostname, _provider.port, timeout=TIMEOUT)
    try:
        connection.request("GET", path, headers={"Accept": "application/json"})
        response = connection.getresponse()
        return json.loads(response.read())
    finally:
        connection.close()


def _key(kid: str) -> jwt.PyJWK:
    """The provider's signing key by ``kid``, from a JWKS fetched once per process (and again
    only for an unknown ``kid``: a key rotation)."""
    if kid not in _keys:
        for jwk in _provider_get(f"{_provider.path}/jwks").get("keys", []):
            if jwk.get("kty") == "RSA" and jwk.get("use", "sig") == "sig":
                _keys[jwk.get("kid", "")] = jwt.PyJWK(jwk, algorithm="RS256")
    return _keys[kid]


def _redirect(location: str, cookies: list[str] | None = None) -> tuple[str, list, list]:
    headers = [("Location", location), ("Content-Length", "0")]
    headers += [("Set-Cookie", cookie) for cookie in cookies or []]
    return "302 Found", headers, []


def _refuse(why: str) -> tuple[str, list, list]:
    body = why.encode()
    return "400 Bad Request", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))], [body]


def _cookie(name: str, value: str, seconds: int) -> str:
    return f"{name}={value}; Max-Age={seconds}; Path=/; HttpOnly; Secure; SameSite=Lax"


def _origin(environ) -> str:
    return f"https://{environ['HTTP_HOST']}"


def login_start(environ) -> tuple[str, list, list]:
    state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(48)
    browser = secrets.token_urlsafe(32)
    pending = {"nonce": nonce, "verifier": verifier, "browser": browser}
    REDIS.set(PREFIX + "state:" + state, json.dumps(pending), ex=STATE_SECONDS)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urlencode(
        {
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": _origin(environ) + "/callback",
            "scope": "openid email profile",
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    return _redirect(f"{ISSUER}/authorize?{query}", [_cookie("rp_browser", browser, STATE_SECONDS)])


def callback(environ) -> tuple[str, list, list]:
    query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    code, state = query.get("code", ""), query.get("state", "")
    if not code or not state:
        return _refuse("no code or state")
    raw = REDIS.getdel(PREFIX + "state:" + state)  # single use, even if what follows fails
    if raw is None:
        return _refuse("unknown state")
    pending = json.loads(raw)
    cookies = SimpleCookie(environ.get("HTTP_COOKIE", ""))
    browser = cookies["rp_browser"].value if "rp_browser" in cookies else ""
    if not hmac.compare_digest(browser, pending["browser"]):
        return _refuse("state from another browser")
    form = urlencode(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": _origin(environ) + "/callback",
            "code_verifier": pending["verifier"],
            "client_id": CLIENT_ID,
        }
    )
    connection = http.client.HTTPConnection(_provider.hostname, _provider.port, timeout=TIMEOUT)
    try:
        connection.request(
            "POST",
            f"{_provider.path}/token",
            body=form,
            headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
        )
        response = connection.getresponse()
        status, body = response.status, response.read()
    finally:
        connection.close()
    if status != 200:
        return _refuse(f"token endpoint answered {status}")
    id_token = json.loads(body).get("id_token", "")
    try:
        header = jwt.get_unverified_header(id_token)
        if header.get("alg") != "RS256":
            return _refuse("unexpected alg")
        claims = jwt.decode(
            id_token,
            key=_key(header.get("kid", "")).key,
            algorithms=["RS256"],
            audience=CLIENT_ID,
            issuer=ISSUER,
            leeway=60,
            options={"require": ["iss", "aud", "exp", "iat", "sub"]},
        )
    except (jwt.PyJWTError, KeyError) as exc:
        return _refuse(f"ID token refused: {exc.__class__.__name__}")
    if claims.get("azp", CLIENT_ID) != CLIENT_ID or claims["iat"] > time.time() + 60:
        return _refuse("azp or iat")
    if not hmac.compare_digest(str(claims.get("nonce", "")), pending["nonce"]):
        return _refuse("nonce mismatch")
    if not isinstance(claims.get("email"), str) or "@" not in claims["email"]:
        return _refuse("no email")
    session = secrets.token_urlsafe(32)
    who = {"sub": claims["sub"], "email": claims["email"], "iss": claims["iss"]}
    REDIS.set(PREFIX + "session:" + session, json.dumps(who), ex=SESSION_SECONDS)
    return _redirect(
        "/home/", [_cookie("rp_session", session, SESSION_SECONDS), _cookie("rp_browser", "", 0)]
    )


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/login/":
        status, headers, body = login_start(environ)
    elif path == "/callback":
        status, headers, body = callback(environ)
    elif path == "/ready":
        status, headers, body = "200 OK", [("Content-Length", "2")], [b"ok"]
    else:
        status, headers, body = "404 Not Found", [("Content-Length", "0")], []
    start_response(status, headers)
    return body
