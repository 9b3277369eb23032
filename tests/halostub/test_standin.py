"""The HaloPSA stand-in behaves as an OpenID provider, over real HTTP on loopback."""

import base64
import hashlib
import re
import secrets
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests

from tests.standin import HTTP_TIMEOUT, start_standin

CLIENT_ID = "portal-test"
REDIRECT_URI = "http://acme.localhost:8000/callback?iss=abc123-halopsa-def456"
SCOPE = "openid profile email"


@pytest.fixture(scope="module")
def stub(tmp_path_factory):
    server = start_standin(tmp_path_factory.mktemp("halostub"), tenant="demo")
    server.add_client(CLIENT_ID, redirect_uris=[REDIRECT_URI], post_logout_redirect_uris=[server.portal_url])
    server.add_user("alice@example.com", "alice-pw", "Alice Example")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def discovery(stub):
    return requests.get(stub.discovery_url, timeout=HTTP_TIMEOUT).json()


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize(session, discovery, *, challenge, tenant="demo", nonce="n-0S6_WzA2Mj", state="st-1", **extra):
    params = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": SCOPE,
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    if tenant is not None:
        params["tenant"] = tenant
    return session.get(
        discovery["authorization_endpoint"], params=params, allow_redirects=False, timeout=HTTP_TIMEOUT
    )


def code_from(response) -> str:
    assert response.status_code == 302, response.text[:300]
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == "http://acme.localhost:8000/callback"
    query = parse_qs(location.query)
    assert query["iss"] == ["abc123-halopsa-def456"]  # the registered query string is kept
    return query["code"][0]


def exchange(discovery, code, verifier, *, tenant_in="query", tenant="demo"):
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "client_id": CLIENT_ID,
        "code_verifier": verifier,
    }
    url = discovery["token_endpoint"]
    if tenant_in == "query":
        url += f"?tenant={tenant}"
    elif tenant_in == "body":
        data["tenant"] = tenant
    return requests.post(url, data=data, timeout=HTTP_TIMEOUT)


def id_token_claims(stub, discovery, id_token: str) -> dict:
    jwks = requests.get(discovery["jwks_uri"], timeout=HTTP_TIMEOUT).json()
    kid = jwt.get_unverified_header(id_token)["kid"]
    key = next(k for k in jwks["keys"] if k["kid"] == kid)
    return jwt.decode(
        id_token,
        jwt.PyJWK(key).key,
        algorithms=["RS256"],
        audience=CLIENT_ID,
        issuer=stub.issuer,
        options={"require": ["exp", "iat", "sub"]},
    )


def signed_in_flow(stub, discovery, **authorize_extra):
    session = stub.login_session("alice@example.com", "alice-pw")
    verifier, challenge = pkce_pair()
    code = code_from(authorize(session, discovery, challenge=challenge, **authorize_extra))
    return session, verifier, code


def test_discovery_has_haloPSA_shape(stub, discovery):
    assert stub.issuer == f"{stub.base_url}/auth"
    assert discovery["issuer"] == stub.issuer  # exactly: no trailing slash
    assert discovery["authorization_endpoint"] == f"{stub.issuer}/authorize/"
    assert discovery["token_endpoint"] == f"{stub.issuer}/token/"
    assert discovery["userinfo_endpoint"] == f"{stub.issuer}/userinfo/"
    assert discovery["jwks_uri"] == f"{stub.issuer}/.well-known/jwks.json"
    assert discovery["end_session_endpoint"] == f"{stub.issuer}/logout/"
    assert discovery["code_challenge_methods_supported"] == ["S256"]
    assert discovery["response_types_supported"] == ["code"]
    assert "RS256" in discovery["id_token_signing_alg_values_supported"]
    assert {"sub", "email", "name"} <= set(discovery["claims_supported"])


def test_jwks_has_an_rsa_signing_key(discovery):
    keys = requests.get(discovery["jwks_uri"], timeout=HTTP_TIMEOUT).json()["keys"]
    assert [(k["kty"], k["alg"], k["use"]) for k in keys] == [("RSA", "RS256", "sig")]
    assert keys[0]["kid"] and keys[0]["n"] and keys[0]["e"]
    assert "d" not in keys[0]  # public part only


def test_code_flow_with_pkce_and_tenant_yields_a_verified_id_token(stub, discovery):
    _session, verifier, code = signed_in_flow(stub, discovery, nonce="nonce-123")
    response = exchange(discovery, code, verifier)
    assert response.status_code == 200, response.text
    body = response.json()
    assert jwt.get_unverified_header(body["id_token"])["alg"] == "RS256"

    claims = id_token_claims(stub, discovery, body["id_token"])
    assert claims["aud"] == CLIENT_ID
    assert claims["iss"] == stub.issuer
    assert claims["nonce"] == "nonce-123"
    assert claims["email"] == "alice@example.com"
    assert claims["name"] == "Alice Example"
    assert claims["sub"]

    userinfo = requests.get(
        discovery["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {body['access_token']}"},
        timeout=HTTP_TIMEOUT,
    ).json()
    assert userinfo == {"sub": claims["sub"], "email": "alice@example.com", "name": "Alice Example"}


def test_tenant_may_come_in_the_token_request_body(stub, discovery):
    _session, verifier, code = signed_in_flow(stub, discovery)
    response = exchange(discovery, code, verifier, tenant_in="body")
    assert response.status_code == 200, response.text
    assert "id_token" in response.json()


def test_claims_follow_the_scopes(stub, discovery):
    session = stub.login_session("alice@example.com", "alice-pw")
    verifier, challenge = pkce_pair()
    response = authorize(session, discovery, challenge=challenge, scope="openid")
    claims = id_token_claims(
        stub, discovery, exchange(discovery, code_from(response), verifier).json()["id_token"]
    )
    assert "email" not in claims and "name" not in claims and claims["sub"]


def test_an_anonymous_authorize_goes_to_the_login_page_and_back(stub, discovery):
    session = requests.Session()
    verifier, challenge = pkce_pair()
    response = authorize(session, discovery, challenge=challenge)
    assert response.status_code == 302
    login_url = response.headers["Location"]
    assert urlsplit(login_url).path == "/login/"

    page = session.get(f"{stub.base_url}{login_url}", timeout=HTTP_TIMEOUT)
    assert "Sign in to HaloPSA" in page.text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    next_url = parse_qs(urlsplit(login_url).query)["next"][0]
    signed_in = session.post(
        f"{stub.base_url}/login/",
        data={
            "csrfmiddlewaretoken": token,
            "username": "Alice@Example.com",
            "password": "alice-pw",
            "next": next_url,
        },
        allow_redirects=False,
        timeout=HTTP_TIMEOUT,
    )
    assert signed_in.status_code == 302
    back = session.get(f"{stub.base_url}{signed_in.headers['Location']}", allow_redirects=False)
    assert exchange(discovery, code_from(back), verifier).status_code == 200


def test_wrong_password_stays_on_the_login_page(stub):
    session = requests.Session()
    page = session.get(f"{stub.base_url}/login/", timeout=HTTP_TIMEOUT)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = session.post(
        f"{stub.base_url}/login/",
        data={"csrfmiddlewaretoken": token, "username": "alice@example.com", "password": "nope"},
        allow_redirects=False,
        timeout=HTTP_TIMEOUT,
    )
    assert response.status_code == 200
    assert "incorrect" in response.text


@pytest.mark.parametrize("tenant", [None, "", "other"])
def test_authorize_refuses_a_missing_or_wrong_tenant(stub, discovery, tenant):
    session = stub.login_session("alice@example.com", "alice-pw")
    _verifier, challenge = pkce_pair()
    response = authorize(session, discovery, challenge=challenge, tenant=tenant)
    assert response.status_code == 400
    assert "Unknown tenant" in response.text


@pytest.mark.parametrize(("tenant_in", "tenant"), [("none", ""), ("query", "other"), ("body", "other")])
def test_token_refuses_a_missing_or_wrong_tenant(stub, discovery, tenant_in, tenant):
    _session, verifier, code = signed_in_flow(stub, discovery)
    response = exchange(discovery, code, verifier, tenant_in=tenant_in, tenant=tenant)
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request", "error_description": "unknown tenant"}
    # The code was not spent: the right tenant still works.
    assert exchange(discovery, code, verifier).status_code == 200


def test_token_refuses_a_wrong_code_verifier(stub, discovery):
    _session, _verifier, code = signed_in_flow(stub, discovery)
    other_verifier, _ = pkce_pair()
    response = exchange(discovery, code, other_verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_authorize_requires_pkce_s256(stub, discovery):
    session = stub.login_session("alice@example.com", "alice-pw")
    verifier, _ = pkce_pair()
    plain = authorize(session, discovery, challenge=verifier, code_challenge_method="plain")
    assert "code=" not in plain.headers.get("Location", "")
    assert parse_qs(urlsplit(plain.headers["Location"]).query)["error"] == ["invalid_request"]

    params = {
        "tenant": "demo",
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": SCOPE,
        "state": "s",
        "nonce": "n",
    }
    missing = session.get(
        discovery["authorization_endpoint"], params=params, allow_redirects=False, timeout=HTTP_TIMEOUT
    )
    assert parse_qs(urlsplit(missing.headers["Location"]).query)["error"] == ["invalid_request"]


def test_a_code_is_single_use(stub, discovery):
    _session, verifier, code = signed_in_flow(stub, discovery)
    assert exchange(discovery, code, verifier).status_code == 200
    assert exchange(discovery, code, verifier).status_code == 400


def test_end_session_redirects_to_the_post_logout_uri_and_ends_the_session(stub, discovery):
    session, verifier, code = signed_in_flow(stub, discovery)
    id_token = exchange(discovery, code, verifier).json()["id_token"]
    assert "signed-in-email" in session.get(stub.portal_url, timeout=HTTP_TIMEOUT).text

    response = session.get(
        discovery["end_session_endpoint"],
        params={
            "id_token_hint": id_token,
            "client_id": CLIENT_ID,
            "post_logout_redirect_uri": stub.portal_url,
            "tenant": "demo",
        },
        allow_redirects=False,
        timeout=HTTP_TIMEOUT,
    )
    assert response.status_code == 302
    assert response.headers["Location"] == stub.portal_url

    page = session.get(stub.portal_url, timeout=HTTP_TIMEOUT).text
    assert "You are not signed in" in page
    # Signing out again (another browser of the same person) still lands on the post-logout URL.
    again = requests.get(response.request.url, allow_redirects=False, timeout=HTTP_TIMEOUT)
    assert again.status_code == 302 and again.headers["Location"] == stub.portal_url
    # Signed out at the provider: authorize asks for a login again.
    _verifier, challenge = pkce_pair()
    reauthorize = authorize(session, discovery, challenge=challenge)
    assert urlsplit(reauthorize.headers["Location"]).path == "/login/"


def test_end_session_refuses_an_unregistered_post_logout_uri(stub, discovery):
    session, verifier, code = signed_in_flow(stub, discovery)
    id_token = exchange(discovery, code, verifier).json()["id_token"]
    response = session.get(
        discovery["end_session_endpoint"],
        params={
            "id_token_hint": id_token,
            "client_id": CLIENT_ID,
            "post_logout_redirect_uri": "http://evil.localhost/",
        },
        allow_redirects=False,
        timeout=HTTP_TIMEOUT,
    )
    assert response.status_code == 400


def test_stats_count_requests_per_path_with_their_tenant(stub, discovery):
    stub.reset_stats()
    assert stub.stats() == {"counts": {}, "tenants": {}}
    _session, verifier, code = signed_in_flow(stub, discovery)
    exchange(discovery, code, verifier, tenant_in="body")

    stats = stub.stats()
    assert stats["counts"]["/auth/authorize/"] == 1
    assert stats["counts"]["/auth/token/"] == 1
    assert stats["tenants"]["/auth/authorize/"] == ["demo"]
    assert stats["tenants"]["/auth/token/"] == ["demo"]
    assert stub.count("/auth/token/") == 1
    assert not any(path.startswith("/_control/") for path in stats["counts"])


def test_control_api_refuses_bad_input(stub):
    response = requests.post(f"{stub.base_url}/_control/clients", data=b"not json", timeout=HTTP_TIMEOUT)
    assert response.status_code == 400
    response = requests.post(
        f"{stub.base_url}/_control/clients",
        json={"client_id": "x", "redirect_uris": ["javascript:alert(1)"]},
        timeout=HTTP_TIMEOUT,
    )
    assert response.status_code == 400
    response = requests.post(
        f"{stub.base_url}/_control/users",
        json={"email": "not-an-email", "password": "x"},
        timeout=HTTP_TIMEOUT,
    )
    assert response.status_code == 400


def test_a_confidential_client_authenticates_with_its_secret(stub, discovery):
    stub.add_client("confidential-test", client_secret="s3cret-value", redirect_uris=[REDIRECT_URI])
    session = stub.login_session("alice@example.com", "alice-pw")
    verifier, challenge = pkce_pair()
    response = session.get(
        discovery["authorization_endpoint"],
        params={
            "tenant": "demo",
            "response_type": "code",
            "client_id": "confidential-test",
            "redirect_uri": REDIRECT_URI,
            "scope": SCOPE,
            "state": "s",
            "nonce": "n",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
        allow_redirects=False,
        timeout=HTTP_TIMEOUT,
    )
    data = {
        "grant_type": "authorization_code",
        "code": code_from(response),
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
    }
    url = discovery["token_endpoint"] + "?tenant=demo"
    bad = requests.post(url, data=data, auth=("confidential-test", "wrong"), timeout=HTTP_TIMEOUT)
    assert bad.status_code == 401
    good = requests.post(url, data=data, auth=("confidential-test", "s3cret-value"), timeout=HTTP_TIMEOUT)
    assert good.status_code == 200, good.text


def test_the_portal_page_shows_the_user_and_custom_links(stub):
    stub.add_link("Billing", "http://acme.localhost:8000/sso/abc123-halopsa-def456/login/")
    anonymous = requests.get(stub.portal_url, timeout=HTTP_TIMEOUT).text
    assert "You are not signed in" in anonymous and "Billing" not in anonymous
    page = stub.login_session("alice@example.com", "alice-pw").get(stub.portal_url, timeout=HTTP_TIMEOUT)
    assert "Alice Example" in page.text
    assert 'href="http://acme.localhost:8000/sso/abc123-halopsa-def456/login/">Billing</a>' in page.text


def test_without_a_tenant_configured_none_is_needed(tmp_path):
    """On-premise HaloPSA: no tenant parameter. Also RFC 9207: ``iss`` appended when switched on."""
    server = start_standin(tmp_path, tenant="", extra_env={"HALOSTUB_ISS_PARAMETER": "1"})
    try:
        server.add_client(CLIENT_ID, redirect_uris=[REDIRECT_URI])
        server.add_user("bob@example.com", "bob-pw", "Bob")
        discovery = requests.get(server.discovery_url, timeout=HTTP_TIMEOUT).json()
        assert discovery["authorization_response_iss_parameter_supported"] is True
        session = server.login_session("bob@example.com", "bob-pw")
        verifier, challenge = pkce_pair()
        response = authorize(session, discovery, challenge=challenge, tenant=None)
        # The registered key first, the provider's issuer appended after it.
        assert parse_qs(urlsplit(response.headers["Location"]).query)["iss"] == [
            "abc123-halopsa-def456",
            server.issuer,
        ]
        code = parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]
        response = exchange(discovery, code, verifier, tenant_in="none")
        assert response.status_code == 200, response.text
        assert id_token_claims(server, discovery, response.json()["id_token"])["email"] == "bob@example.com"
    finally:
        server.stop()


def test_the_control_api_exists_only_when_switched_on(tmp_path):
    server = start_standin(tmp_path, extra_env={"HALOSTUB_CONTROL": "0"})
    try:
        assert requests.get(f"{server.base_url}/_control/stats", timeout=HTTP_TIMEOUT).status_code == 404
        response = requests.post(
            f"{server.base_url}/_control/users",
            json={"email": "eve@example.com", "password": "x"},
            timeout=HTTP_TIMEOUT,
        )
        assert response.status_code in (403, 404)
    finally:
        server.stop()
