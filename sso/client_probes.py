"""Test connection's client-side probes: does the provider know this client, as configured?

The document checks (``sso.connection_test``) say whether the issuer is right; a wrong client ID,
an unregistered login redirect URL, a missing tenant or a wrong secret only showed up when a
person tried to sign in and was stranded on the provider's own error page. Two requests, with no
person involved, find those out:

- the authorization endpoint with the config's ``client_id``, ``redirect_uri``, ``tenant`` and
  ``scope``, a throw-away ``state`` and ``prompt=none``, redirects NOT followed. A provider that
  knows the client and the redirect URI redirects to that URI (``error=login_required``), or to
  its own login page when it ignores ``prompt``; one that does not shows an error page of its own.
- the token endpoint with a deliberately invalid code: ``invalid_client`` (or 401) means client
  authentication failed; ``invalid_grant`` means it passed and only the fake code was refused.

What the provider answers is untrusted: only the status, the OAuth error parameters and the
visible text of its page (tags stripped, capped, control characters removed) are shown, never raw
HTML; the secret is masked out of anything shown. All calls go through the guarded door.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from requests.auth import HTTPBasicAuth

from . import http
from .models import SSOConfig

#: How much of a provider's error page an admin sees (after stripping tags).
MAX_PAGE_TEXT = 300
#: OAuth error codes a provider sends back to a known redirect URI when nobody is signed in.
_NO_SESSION_ERRORS = {
    "login_required",
    "interaction_required",
    "consent_required",
    "account_selection_required",
}
#: The fake code sent to the token endpoint: recognisable in the provider's logs, never valid.
FAKE_CODE_PREFIX = "portal-connection-test-not-a-code-"

_TAG = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]+>", re.S | re.I)
_SPACE = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True)
class Finding:
    """One line of the report: ``status`` is ok / warn / fail, as in the connection test."""

    name: str
    status: str
    message: str


def sanitised(text: str, *, secret: str = "", limit: int = MAX_PAGE_TEXT) -> str:
    """A provider's text made safe to show: no tags, no control characters, capped, secret masked."""
    text = html.unescape(_TAG.sub(" ", text or ""))
    text = _SPACE.sub(" ", _CONTROL.sub(" ", text)).strip()
    if secret:
        text = text.replace(secret, "•••")
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _page_text(response, *, secret: str) -> str:
    """The visible text of an answer: the OAuth error fields of a JSON body, else the page's words."""
    body = response.text or ""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict) and ("error" in data or "error_description" in data):
        body = f"{data.get('error', '')}: {data.get('error_description', '')}"
    else:
        title = re.search(r"<title[^>]*>(.*?)</title>", body, re.S | re.I)
        body = re.sub(r"<title[^>]*>.*?</title>", " ", body, flags=re.S | re.I)
        if title:
            body = f"{title.group(1)}: {body}"
    return sanitised(body, secret=secret)


def _oauth_error(params: dict[str, list[str]], *, secret: str) -> tuple[str, str]:
    error = sanitised((params.get("error") or [""])[0], secret=secret, limit=60)
    description = sanitised((params.get("error_description") or [""])[0], secret=secret)
    return error, description


def _same_endpoint(url: str, target: str) -> bool:
    a, b = urlsplit(url), urlsplit(target)
    return (a.scheme, (a.hostname or "").lower(), a.port, a.path) == (
        b.scheme,
        (b.hostname or "").lower(),
        b.port,
        b.path,
    )


def _pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


# --- the authorization endpoint ------------------------------------------------------------------


def _mentions(text: str, *words: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in words)


def _authorize_page_findings(config: SSOConfig, status: int, text: str) -> list[Finding]:
    """The provider showed a page of its own instead of redirecting: which value did it refuse?"""
    shown = (
        f"It answered HTTP {status}: “{text}”" if text else f"It answered HTTP {status} with an empty page."
    )
    if config.tenant and _mentions(text, "tenant"):
        return [
            Finding(
                "Tenant",
                "fail",
                f"Tenant “{config.tenant}” is unknown to the provider: use the exact “Tenant” value from "
                f"HaloPSA > Configuration > Integrations > HaloPSA API. {shown}",
            )
        ]
    if not config.tenant and _mentions(text, "tenant"):
        return [
            Finding(
                "Tenant",
                "fail",
                "The provider wants a tenant and this config has none: copy the “Tenant” value from "
                f"HaloPSA > Configuration > Integrations > HaloPSA API into the config. {shown}",
            )
        ]
    if _mentions(text, "redirect", "callback") and not _mentions(
        text, "client_id", "client id", "invalid client"
    ):
        return [
            Finding(
                "Login redirect URL",
                "fail",
                f"The login redirect URL is not registered for client {config.client_id}: paste "
                f"{config.callback_url} into the application's “Login Redirect URLs” in HaloPSA "
                f"(Configuration > Integrations > HaloPSA API > View Applications). {shown}",
            )
        ]
    if _mentions(text, "client"):
        return [
            Finding(
                "Client ID",
                "fail",
                f"The provider does not know client ID “{config.client_id}”: copy the Client ID of the "
                f"application from HaloPSA > Configuration > Integrations > HaloPSA API > View Applications. "
                f"{shown}",
            )
        ]
    return [
        Finding(
            "Client ID and login redirect URL",
            "warn" if status < 400 else "fail",
            "The provider refused the sign-in request with a page of its own, and it does not say which value "
            f"it objects to. Check the client ID “{config.client_id}”, the login redirect URL "
            f"{config.callback_url}"
            + (f" and the tenant “{config.tenant}”" if config.tenant else "")
            + f". {shown}",
        )
    ]


def _redirect_findings(config: SSOConfig, location: str, *, secret: str) -> list[Finding]:
    if _same_endpoint(location, config.callback_url):
        error, description = _oauth_error(parse_qs(urlsplit(location).query), secret=secret)
        said = f" ({error}{': ' + description if description else ''})" if error else ""
        if not error or error in _NO_SESSION_ERRORS:
            findings = [
                Finding(
                    "Client ID and login redirect URL",
                    "ok",
                    f"The provider knows client ID “{config.client_id}” and sends people back to the login "
                    f"redirect URL {config.callback_url}{said}.",
                )
            ]
            if config.tenant:
                findings.append(Finding("Tenant", "ok", f"The provider accepted tenant “{config.tenant}”."))
            return findings
        if error == "invalid_scope":
            return [
                Finding(
                    "Scopes",
                    "fail",
                    f"The provider knows the client but refuses the scope “{config.scope}”{said}. "
                    "Use “openid profile email”, or allow these scopes for the application.",
                )
            ]
        if error in ("unauthorized_client", "unsupported_response_type"):
            return [
                Finding(
                    "Client ID and login redirect URL",
                    "fail",
                    f"The provider knows client “{config.client_id}” but does not let it use the "
                    f"authorization-code flow{said}. In HaloPSA, use the “Authorisation Code” method.",
                )
            ]
        if error == "access_denied":
            return [
                Finding(
                    "Client ID and login redirect URL",
                    "ok",
                    f"The provider knows client “{config.client_id}” and the login redirect URL{said}.",
                )
            ]
        return [
            Finding(
                "Client ID and login redirect URL",
                "warn",
                f"The provider sent the request back to the login redirect URL, but with an error{said}: "
                "the client and redirect URL are known; the error names what else it refuses.",
            )
        ]
    return [
        Finding(
            "Client ID and login redirect URL",
            "warn",
            "The provider redirected the unattended request (prompt=none) to another page instead of "
            "answering it, probably its login page. That is usual for providers that ignore prompt=none, "
            "but it means the client ID and login redirect URL could not be checked here: use Try sign-in.",
        )
    ]


def probe_authorization(*, config: SSOConfig, authorization_endpoint: str) -> list[Finding]:
    """GET the authorization endpoint as a sign-in would, with prompt=none; never follow it."""
    _verifier, challenge = _pkce_pair()
    params = {
        "response_type": "code",
        "client_id": config.client_id,
        "redirect_uri": config.callback_url,
        "scope": config.scope,
        "state": secrets.token_urlsafe(16),
        "nonce": secrets.token_urlsafe(16),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "prompt": "none",
    }
    if config.tenant:
        params["tenant"] = config.tenant
    url = http.append_query(authorization_endpoint, params)
    try:
        response = http.request(
            "GET", url, headers={"Accept": "text/html,application/json"}, what="authorization_endpoint"
        )
    except http.ProviderHTTPError as exc:
        return [
            Finding(
                "Client ID and login redirect URL",
                "fail",
                f"Not checked: the authorization endpoint could not be reached ({exc.message}).",
            )
        ]
    secret = config.client_secret
    if response.status_code in (301, 302, 303, 307, 308):
        location = response.headers.get("Location", "")
        if location:
            return _redirect_findings(config, location, secret=secret)
    return _authorize_page_findings(config, response.status_code, _page_text(response, secret=secret))


# --- the token endpoint --------------------------------------------------------------------------


def probe_token(*, config: SSOConfig, token_endpoint: str, auth_methods: list[str] | None) -> Finding:
    """POST a deliberately invalid code, authenticated as a sign-in would be; read the refusal."""
    methods = auth_methods or ["client_secret_basic"]
    verifier, _challenge = _pkce_pair()
    data = {
        "grant_type": "authorization_code",
        "code": FAKE_CODE_PREFIX + secrets.token_urlsafe(12),
        "redirect_uri": config.callback_url,
        "code_verifier": verifier,
    }
    auth = None
    if config.client_secret:
        if "client_secret_basic" in methods or "client_secret_post" not in methods:
            auth = HTTPBasicAuth(config.client_id, config.client_secret)
        else:
            data.update(client_id=config.client_id, client_secret=config.client_secret)
    else:
        data["client_id"] = config.client_id
    if config.tenant:
        data["tenant"] = config.tenant
    url = http.append_query(token_endpoint, {"tenant": config.tenant} if config.tenant else {})
    name = "Client secret" if config.client_secret else "Client authentication (public client)"
    try:
        response = http.request(
            "POST", url, data=data, auth=auth, headers={"Accept": "application/json"}, what="token_endpoint"
        )
    except http.ProviderHTTPError as exc:
        return Finding(name, "fail", f"Not checked: the token endpoint could not be reached ({exc.message}).")
    return _token_finding(config, response, name=name)


def _token_finding(config: SSOConfig, response, *, name: str) -> Finding:
    secret = config.client_secret
    try:
        body = response.json()
    except ValueError:
        body = None
    error = sanitised(str(body.get("error", "")), secret=secret, limit=60) if isinstance(body, dict) else ""
    description = (
        sanitised(str(body.get("error_description", "")), secret=secret) if isinstance(body, dict) else ""
    )
    said = f" (HTTP {response.status_code}, {error or 'no error code'}{': ' + description if description else ''})"
    if error == "invalid_client" or (response.status_code == 401 and error != "invalid_grant"):
        if config.client_secret:
            message = (
                f"The provider refused the client authentication{said}: the client secret is wrong for client "
                f"“{config.client_id}” (or the application is public and takes no secret). Copy the secret "
                "again from the HaloPSA application, or clear it for an “Authorisation Code (Native "
                "application)” client."
            )
        else:
            message = (
                f"The provider refused the client{said}: client “{config.client_id}” needs a client secret "
                "(its application is not public). Enter the application's secret, or use a HaloPSA "
                "application with the “Authorisation Code (Native application)” method."
            )
        return Finding(name, "fail", message)
    if error == "invalid_grant":
        passed = "the client secret is right" if config.client_secret else "a public client is accepted"
        return Finding(
            name,
            "ok",
            f"Client authentication passed ({passed}); the provider refused only the test's fake code.",
        )
    if _mentions(f"{error} {description}", "tenant"):
        refused = (
            f"refused tenant “{config.tenant}”"
            if config.tenant
            else "wants a tenant and this config has none"
        )
        return Finding(
            "Tenant",
            "fail",
            f"The token endpoint {refused}{said}: use the exact “Tenant” value from "
            "HaloPSA > Configuration > Integrations > HaloPSA API.",
        )
    if response.status_code == 200:
        return Finding(
            name, "fail", "The token endpoint accepted a made-up code: this is not a safe provider."
        )
    text = said if error else f" (HTTP {response.status_code}: “{_page_text(response, secret=secret)}”)"
    return Finding(
        name,
        "warn",
        f"The token endpoint answered something other than invalid_client or invalid_grant{text}, so whether "
        "the client authentication works is unclear.",
    )


def run_client_probes(*, config: SSOConfig, doc: dict) -> list[Finding]:
    """Both probes, given a discovery document whose endpoints were already checked as usable URLs."""
    findings = probe_authorization(config=config, authorization_endpoint=doc["authorization_endpoint"])
    methods = doc.get("token_endpoint_auth_methods_supported")
    findings.append(
        probe_token(
            config=config,
            token_endpoint=doc["token_endpoint"],
            auth_methods=[str(m) for m in methods] if isinstance(methods, list) else None,
        )
    )
    return findings
