"""Test connection's fetching: one GET through ``portal.outbound`` and, when it fails, why, in words.

Split from ``sso.connection_test`` (which runs the checks on what is fetched). Staff choose the URL,
so the words are made only from what is checked: the status, whether a redirect stays on the
issuer's host (its target is never shown), the OAuth ``error``/``error_description`` of a JSON
answer and the visible words of an HTML or text error page, sanitised and capped. Headers other
than a known content type, markup and arbitrary JSON never reach the report.
"""

import time
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings

from portal.outbound import safe_text, visible_text

from . import http
from .discovery import DISCOVERY_PATH, breaker_key
from .models import SSOConfig
from .validators import HALOPSA_ISSUER_EXAMPLE


def _host_port(url: str) -> str:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    port = port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"


def _exception_chain(exc: BaseException) -> list[BaseException]:
    chain, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    return chain


def _network_message(exc: http.ProviderHTTPError, url: str) -> str:
    """Why a request failed before any answer, in words an admin can act on."""
    host = urlsplit(url).hostname
    chain = _exception_chain(exc)
    text = " ".join(repr(item) for item in chain)
    if exc.reason in ("policy", "busy", "circuit_open"):
        return exc.message
    if exc.reason == "timeout":
        connect, read = settings.SSO_HTTP_CONNECT_TIMEOUT, settings.SSO_HTTP_READ_TIMEOUT
        if "total time allowed" in exc.message:
            total = settings.OUTBOUND_DEADLINE_SECONDS
            return (
                f"{host} did not finish answering within {total:g} s, the total time a provider call may "
                "take. The provider may be overloaded or down; try again later."
            )
        if any(isinstance(item, requests.ConnectTimeout) for item in chain):
            return (
                f"Timed out connecting to {_host_port(url)} (after {connect:g} s): the host does not "
                "answer. Check the issuer's host name, or whether a firewall blocks the portal."
            )
        return (
            f"{host} accepted the connection but did not answer within {read:g} s. The provider may "
            "be overloaded or down; try again later."
        )
    if exc.reason == "unreachable":
        if any(isinstance(item, requests.exceptions.SSLError) for item in chain):
            return (
                f"The secure (https) connection to {host} failed: its TLS certificate is not valid "
                "for that name, expired or self-signed. Check the issuer's host name."
            )
        if any(marker in text for marker in ("NameResolution", "Name or service not known", "getaddrinfo")):
            return f"The host name {host} could not be found (DNS). Check the issuer URL for typos."
        if "refused" in text.lower():
            return (
                f"{_host_port(url)} refused the connection: nothing is listening there. Check the host "
                "name and port of the issuer URL, and that the provider is running."
            )
        return f"Could not connect to {_host_port(url)}. Check the issuer URL and that the provider is up."
    if exc.reason == "response_too_large":
        cap = settings.OUTBOUND_MAX_BYTES // 1024
        return f"{url} answered with more than {cap} KB, far too large to be what we asked for; reading stopped there."
    return f"The request to {url} failed ({exc.message})."


def _redirect_hint(response: requests.Response, url: str, *, what: str) -> str:
    """What a redirect suggests, without showing where it points: its target is the answering
    host's, and staff may have aimed the test at a host that is not theirs."""
    location = response.headers.get("Location", "")
    target = urlsplit(urljoin(url, location)) if location else None
    here = urlsplit(url)
    if target is None or not target.hostname:
        return "Check the issuer URL."
    same_host = target.hostname == here.hostname and (target.port or 0) in (here.port or 0, 0, 443)
    if same_host and target.scheme == "https" and here.scheme == "http":
        return "The provider wants https: change the issuer URL to start with https://."
    if same_host and what == "discovery" and target.path.endswith(DISCOVERY_PATH):
        # Only a discovery URL on the issuer's own host is turned into a suggestion (a checked shape).
        suggested = f"{target.scheme}://{target.netloc}{target.path[: -len(DISCOVERY_PATH)]}"
        return f"The issuer is probably {safe_text(suggested, 200)}."
    if not same_host:
        return "It points at another host (not shown). Check the issuer URL."
    return "Check the issuer URL."


def _page_words(response: requests.Response) -> str:
    """The OAuth error of a JSON answer, or the visible words of an HTML/text error page."""
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type.endswith("json"):
        try:
            body = response.json()
        except ValueError:
            return ""
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            described = body.get("error_description")
            tail = f": {safe_text(described, 200)}" if isinstance(described, str) and described else ""
            return f" The provider says: {safe_text(body['error'], 60)}{tail}."
        return ""
    if content_type in ("text/html", "text/plain", "application/xhtml+xml"):
        words = visible_text(response.content, 160)
        return f" The page says: “{words}”." if words else ""
    return ""


def _status_message(response: requests.Response, url: str, *, config: SSOConfig, what: str) -> str:
    status = response.status_code
    if status in (301, 302, 303, 307, 308):
        return (
            f"{url} answered with a redirect (HTTP {status}); provider calls never follow redirects. "
            f"{_redirect_hint(response, url, what=what)}"
        )
    return _plain_status_message(response, url, config=config, what=what) + _page_words(response)


def _plain_status_message(response: requests.Response, url: str, *, config: SSOConfig, what: str) -> str:
    status = response.status_code
    if status == 404:
        if what == "discovery":
            hint = f"The issuer path is probably wrong: HaloPSA's issuer is {HALOPSA_ISSUER_EXAMPLE}"
            path = urlsplit(config.issuer).path.rstrip("/")
            if config.provider == SSOConfig.Provider.HALOPSA and not path.endswith("/auth"):
                hint += f" (try {config.issuer.rstrip('/')}/auth)"
            return (
                f"Not found (HTTP 404) at {url}. {hint}: HaloPSA > Configuration > Integrations > "
                "HaloPSA API > Authorisation Server."
            )
        return f"Not found (HTTP 404) at {url}, the address the discovery document gives for {what}."
    if status in (401, 403):
        return (
            f"{url} refused access (HTTP {status}), but this document is public at an OpenID provider. "
            "The URL probably points at something else; check the issuer URL."
        )
    if status >= 500:
        return f"The provider failed (HTTP {status}) at {url}. It may be down; try again later."
    return f"{url} answered HTTP {status} instead of the document."


def fetch_json(report, name: str, url: str, *, config: SSOConfig, what: str) -> tuple[dict | None, int]:
    """GET a JSON object, or add a failed check saying why not. Returns (document, milliseconds)."""
    started = time.monotonic()
    try:
        response = http.request(
            "GET",
            url,
            headers={"Accept": "application/json"},
            limit_key=breaker_key(issuer=config.issuer, portal_id=config.portal_id),
            what="The issuer" if what == "discovery" else "jwks_uri",
        )
    except http.ProviderHTTPError as exc:
        report.fail(name, _network_message(exc, url))
        return None, 0
    elapsed = int((time.monotonic() - started) * 1000)
    if response.status_code != 200:
        report.fail(name, _status_message(response, url, config=config, what=what))
        return None, elapsed
    try:
        data = response.json()
    except ValueError:
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        content_type = (
            content_type
            if content_type in _KNOWN_TYPES
            else ("another type" if content_type else "no content type")
        )
        report.fail(
            name,
            f"{url} answered, but not with JSON ({content_type}): this is not an OpenID Connect "
            f"{'discovery document' if what == 'discovery' else 'key set'}. Check the issuer URL's path.",
        )
        return None, elapsed
    if not isinstance(data, dict):
        report.fail(name, f"{url} answered JSON, but not a JSON object.")
        return None, elapsed
    return data, elapsed


_KNOWN_TYPES = {
    "text/html",
    "text/plain",
    "application/xml",
    "text/xml",
    "application/xhtml+xml",
    "application/json",
}
